/**
 * Image imports running in this process, with their progress (for the console's progress bar and
 * `GET /api/v1/images/imports/{id}`). In memory: an import interrupted by a restart leaves no
 * half image (src/images imports atomically), so there is nothing to resume.
 */
import { randomUUID } from 'node:crypto';
import type { ImageInfo, ImageService } from './deps.js';

/** One import as reported to clients. */
export interface ImportStatus {
  id: string;
  source: string;
  name: string | null;
  state: 'running' | 'succeeded' | 'failed';
  done: number;
  total: number;
  file: string | null;
  error: string | null;
  image: ImageInfo | null;
  startedAt: number;
  finishedAt: number | null;
}

/** Tracks imports; keeps the last 50 finished ones. */
export class ImportTracker {
  private readonly imports = new Map<string, ImportStatus>();

  /** Starts an import in the background; returns its status (state `running`). */
  start(
    images: ImageService,
    source: string,
    name: string | undefined,
    now: () => number,
    onEnd?: (s: ImportStatus) => void | Promise<void>, // must not reject: its failures are its own to report
  ): ImportStatus {
    const s: ImportStatus = {
      id: randomUUID(),
      source,
      name: name ?? null,
      state: 'running',
      done: 0,
      total: 0,
      file: null,
      error: null,
      image: null,
      startedAt: now(),
      finishedAt: null,
    };
    this.imports.set(s.id, s);
    images
      .import(source, {
        ...(name ? { name } : {}),
        onProgress: (p) => {
          s.done = p.done;
          s.total = p.total;
          s.file = p.file ?? null;
        },
      })
      .then(
        (img) => {
          s.state = 'succeeded';
          s.image = img;
          s.done = s.total;
        },
        (e: unknown) => {
          s.state = 'failed';
          s.error = (e as Error).message;
        },
      )
      .finally(async () => {
        s.finishedAt = now();
        this.prune();
        await onEnd?.(s);
      })
      // `onEnd` reports its own failures (src/web/services.ts logs them); the import's outcome is in `s`.
      .catch(() => undefined);
    return s;
  }

  get(id: string): ImportStatus | undefined {
    return this.imports.get(id);
  }

  /** Newest first. */
  list(): ImportStatus[] {
    return [...this.imports.values()].sort((a, b) => b.startedAt - a.startedAt);
  }

  private prune(): void {
    const finished = this.list().filter((s) => s.state !== 'running');
    for (const s of finished.slice(50)) this.imports.delete(s.id);
  }
}
