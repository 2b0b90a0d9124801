/**
 * The image catalog (table `image_catalog`, migration 019): every image published by a server of
 * the site, with its manifest, on either store (./sql.ts). Shared through PostgreSQL, it tells each
 * server which images exist and what their files must be (issue 18: a server that lacks an image
 * a host is pinned to says so rather than serving something else). Times are epoch ms.
 */
import type { Sql } from './sql.js';
import type { ImageCatalog } from './ports.js';
import { isUniqueViolation } from './sql.js';

/** One published image. */
export interface CatalogEntry {
  name: string;
  /** `esxi` | `linux` (the manifest's `kind`). */
  kind: string;
  /** `image.json` as published (JSON text). */
  manifest: string;
  /** Hex SHA-256 over the file list (src/images/fingerprint.ts): equal means the same files. */
  manifestSha256: string;
  /** Sum of the files' sizes, bytes. */
  totalBytes: number;
  publishedAt: number;
  /** Host name of the server that published it. */
  publishedBy: string;
}

/** What {@link ImageCatalogRepo.publish} found: new row, the same image already there, or another manifest under the name. */
export type PublishResult = 'added' | 'same' | 'conflict';

interface Row {
  name: string;
  kind: string;
  manifest: string;
  manifest_sha256: string;
  total_bytes: number;
  published_at: number;
  published_by: string;
}

const toEntry = (r: Row): CatalogEntry => ({
  name: r.name,
  kind: r.kind,
  manifest: r.manifest,
  manifestSha256: r.manifest_sha256,
  totalBytes: Number(r.total_bytes),
  publishedAt: Number(r.published_at),
  publishedBy: r.published_by,
});

/** Repository for `image_catalog`. */
export class ImageCatalogRepo implements ImageCatalog {
  constructor(private readonly sql: Sql) {}

  /**
   * Publishes an image unless its name is taken (first writer wins; two servers publishing at once
   * are arbitrated by the primary key). @returns `same` when the name holds the same file list,
   * `conflict` when it holds another one (nothing is changed)
   */
  async publish(e: CatalogEntry): Promise<PublishResult> {
    try {
      const n = await this.sql.run(
        `INSERT INTO image_catalog (name, kind, manifest, manifest_sha256, total_bytes, published_at, published_by)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
        [e.name, e.kind, e.manifest, e.manifestSha256, e.totalBytes, e.publishedAt, e.publishedBy],
      );
      if (n === 1) return 'added';
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    const have = await this.get(e.name);
    return have?.manifestSha256 === e.manifestSha256 ? 'same' : 'conflict';
  }

  /** The entry of `name`, or undefined. */
  async get(name: string): Promise<CatalogEntry | undefined> {
    const r = await this.sql.get<Row>('SELECT * FROM image_catalog WHERE name = ?', [name]);
    return r ? toEntry(r) : undefined;
  }

  /** Every entry, by name. */
  async list(): Promise<CatalogEntry[]> {
    return (await this.sql.all<Row>('SELECT * FROM image_catalog ORDER BY name')).map(toEntry);
  }

  /** Removes `name` from the catalog (the image was removed on purpose); whether it was there. */
  async delete(name: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM image_catalog WHERE name = ?', [name])) === 1;
  }
}
