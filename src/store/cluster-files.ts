/**
 * Cluster files in the shared store (table `cluster_files`, migration 020), on either store
 * (./sql.ts): the source of truth for cluster files when several servers share PostgreSQL
 * (src/clusters/shared.ts keeps each server's clusters directory in step). Writes are
 * compare-and-set on the version the writer started from, so two servers saving one file at once
 * cannot both win. Times are epoch ms.
 */
import type { Sql } from './sql.js';
import { isUniqueViolation } from './sql.js';

/** A file's current version, without its text. */
export interface SharedClusterFileHead {
  /** File name without `.xml`. */
  name: string;
  /** Hex SHA-256 of the text; '' when the file was deleted. */
  sha256: string;
  deleted: boolean;
  updatedAt: number;
  updatedBy: string;
  /** The server it came from. */
  origin: string;
}

/** A write: new text (null: delete), who, from where, when. */
export interface SharedClusterFileWrite {
  name: string;
  xml: string | null;
  /** SHA-256 of `xml`; '' for a delete. */
  sha256: string;
  updatedAt: number;
  updatedBy: string;
  origin: string;
}

interface Row {
  name: string;
  sha256: string;
  deleted: number | boolean;
  updated_at: number;
  updated_by: string;
  origin: string;
}

const toHead = (r: Row): SharedClusterFileHead => ({
  name: r.name,
  sha256: r.sha256,
  deleted: Boolean(r.deleted),
  updatedAt: Number(r.updated_at),
  updatedBy: r.updated_by,
  origin: r.origin,
});

/** Repository for `cluster_files`. */
export class ClusterFileRepo {
  constructor(private readonly sql: Sql) {}

  /** Every file's head (deleted ones included), by name; one query, no texts. */
  async heads(): Promise<SharedClusterFileHead[]> {
    const rows = await this.sql.all<Row>(
      `SELECT name, sha256, CASE WHEN xml IS NULL THEN 1 ELSE 0 END AS deleted, updated_at, updated_by, origin
      FROM cluster_files ORDER BY name`,
    );
    return rows.map(toHead);
  }

  /** The text of `name` and its SHA-256; undefined when unknown, `xml` null when deleted. */
  async get(name: string): Promise<{ xml: string | null; sha256: string; updatedBy: string } | undefined> {
    const r = await this.sql.get<{ xml: string | null; sha256: string; updated_by: string }>(
      'SELECT xml, sha256, updated_by FROM cluster_files WHERE name = ?',
      [name],
    );
    return r ? { xml: r.xml, sha256: r.sha256, updatedBy: r.updated_by } : undefined;
  }

  /**
   * Writes `w` if the stored version is still `base` (the SHA-256 the writer started from; ''
   * for a deleted file; undefined: the writer never saw the file, so it must be absent).
   * @returns `ok` (written, or the store already holds exactly this), `conflict` (someone else's
   *   version is there; nothing changed)
   */
  async put(w: SharedClusterFileWrite, base: string | undefined): Promise<'ok' | 'conflict'> {
    let n: number;
    if (base === undefined) {
      try {
        n = await this.sql.run(
          `INSERT INTO cluster_files (name, xml, sha256, updated_at, updated_by, origin) VALUES (?, ?, ?, ?, ?, ?)
          ON CONFLICT (name) DO NOTHING`,
          [w.name, w.xml, w.sha256, w.updatedAt, w.updatedBy, w.origin],
        );
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        n = 0;
      }
    } else {
      n = await this.sql.run(
        `UPDATE cluster_files SET xml = ?, sha256 = ?, updated_at = ?, updated_by = ?, origin = ?
        WHERE name = ? AND sha256 = ?`,
        [w.xml, w.sha256, w.updatedAt, w.updatedBy, w.origin, w.name, base],
      );
    }
    if (n === 1) return 'ok';
    const now = await this.get(w.name);
    return now?.sha256 === w.sha256 ? 'ok' : 'conflict';
  }
}
