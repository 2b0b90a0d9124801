/**
 * `statelesx host forget` and `host prune-unregistered` through their command functions on a real
 * store: what is removed, what is kept (pinned hosts are not "unregistered"), errors naming the
 * problem, audit entries as system:cli.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { forgetHost, pruneUnregistered } from '../../src/cli/host-forget.js';

const DAY = 86_400_000;
const OLD = '4c4c4544-0000-0000-0000-0000000000b1';
const NEW = '4c4c4544-0000-0000-0000-0000000000b2';
const PIN = '4c4c4544-0000-0000-0000-0000000000b3';

describe('host forget / prune-unregistered (CLI)', () => {
  let store: Store;
  const now = Date.parse('2026-12-07T12:00:00Z');
  beforeEach(async () => {
    store = await openStore(':memory:');
    await store.hosts.upsertSighting({ uuid: OLD, at: now - 45 * DAY, mac: '00:50:56:00:00:01' });
    await store.hosts.upsertSighting({ uuid: NEW, at: now - DAY, mac: '00:50:56:00:00:02' });
    await store.hosts.upsertSighting({ uuid: PIN, at: now - 45 * DAY, mac: '00:50:56:00:00:03' });
    await store.hosts.setImagePin(PIN, 'esxi-8', now);
  });
  afterEach(() => store.close());

  it('prunes stale unregistered hosts by age, never a pinned one', async () => {
    expect(await pruneUnregistered(store, { olderThanDays: '30' }, now)).toBe(
      'deleted 1 unregistered host(s) not seen for 30 days',
    );
    expect(await store.hosts.get(OLD)).toBeUndefined();
    expect(await store.hosts.get(NEW)).toBeDefined();
    expect(await store.hosts.get(PIN)).toBeDefined();
    expect((await store.audit.list(1))[0]).toMatchObject({ actor: 'system:cli', action: 'unregistered.delete' });
  });

  it('deletes one by UUID and refuses a pinned host, an unknown one and bad options', async () => {
    expect(await pruneUnregistered(store, { uuid: NEW }, now)).toBe(`deleted unregistered host ${NEW}`);
    await expect(pruneUnregistered(store, { uuid: PIN }, now)).rejects.toThrow(
      /assigned or pinned: use statelesx host forget/,
    );
    await expect(pruneUnregistered(store, { uuid: NEW }, now)).rejects.toThrow(`no unregistered host ${NEW}`);
    await expect(pruneUnregistered(store, {}, now)).rejects.toThrow('give one of --older-than-days N and --uuid UUID');
    await expect(pruneUnregistered(store, { olderThanDays: '0' }, now)).rejects.toThrow(/a whole number/);
  });

  it('forgets a pinned host with its sightings; refuses a malformed or unknown UUID', async () => {
    await store.hosts.addBootEvent({
      at: now,
      hostUuid: PIN,
      mac: null,
      address: null,
      protocol: 'tftp',
      file: 'x',
      image: null,
      firmware: null,
    });
    expect(await forgetHost(store, PIN.toUpperCase(), now)).toBe(`forgot host ${PIN} (1 sighting(s), 0 boot token(s))`);
    expect(await store.hosts.get(PIN)).toBeUndefined();
    expect((await store.audit.list(1))[0]).toMatchObject({ actor: 'system:cli', action: 'host.forget', target: PIN });
    await expect(forgetHost(store, PIN, now)).rejects.toThrow(`the store knows no host ${PIN}`);
    await expect(forgetHost(store, 'esx1', now)).rejects.toThrow(/not a hardware UUID/);
  });
});
