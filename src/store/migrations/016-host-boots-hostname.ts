/**
 * 016: the host name a member sent in its last accepted phone-home (issue 19: the initiators send
 * the fully qualified name, `esxcli system hostname get`). Kept with the boot it belongs to, beside
 * that phone-home's thumbprints, and replaced at each phone-home (NULL when it sent none): the plan
 * warns when it differs from the FQDN the cluster file declares. `hosts.hostname` is not that: it
 * keeps the last name any phone-home (unregistered ones included) claimed, never cleared.
 */
import type { Database } from 'better-sqlite3';

export const name = '016-host-boots-hostname';

export function up(db: Database): void {
  db.exec(`ALTER TABLE host_boots ADD COLUMN hostname TEXT; -- lower case, no trailing dot; as the host sent it`);
}

/** The same change in PostgreSQL's dialect. */
export const postgres = `ALTER TABLE host_boots ADD COLUMN hostname TEXT;`;
