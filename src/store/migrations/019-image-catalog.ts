/**
 * 019: the image catalog (issue 18, "images on every server"): the manifest of every image a
 * server of the site has published, by name. Each server serves images from its own images
 * directory; the catalog in the shared store is how a server learns that an image exists
 * elsewhere, and that its own copy is the same (`manifest_sha256`, over the files' paths, sizes
 * and SHA-256s). One row per image name: image names are versions, a second manifest under a
 * name already published is a conflict, never an update.
 */
import type { Database } from 'better-sqlite3';

export const name = '019-image-catalog';

export function up(db: Database): void {
  db.exec(`
    CREATE TABLE image_catalog (
      name            TEXT PRIMARY KEY,
      kind            TEXT NOT NULL,
      manifest        TEXT NOT NULL,   -- image.json as published (JSON)
      manifest_sha256 TEXT NOT NULL,   -- over the file list (path, size, sha256), src/images/fingerprint
      total_bytes     INTEGER NOT NULL,
      published_at    INTEGER NOT NULL,
      published_by    TEXT NOT NULL    -- the server (host name) that published it
    );
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms and byte counts as BIGINT). */
export const postgres = `
    CREATE TABLE image_catalog (
      name TEXT PRIMARY KEY, kind TEXT NOT NULL, manifest TEXT NOT NULL, manifest_sha256 TEXT NOT NULL,
      total_bytes BIGINT NOT NULL, published_at BIGINT NOT NULL, published_by TEXT NOT NULL
    );
  `;
