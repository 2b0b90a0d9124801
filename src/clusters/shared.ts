/**
 * Cluster files shared by several servers (issue 18, item 6). With PostgreSQL the store's
 * `cluster_files` table is the source of truth; each server's clusters directory is a working
 * copy that follows it, and its git history records every change as it arrived (author: who made
 * it on whichever server).
 *
 * One {@link ClusterFileSync.syncOnce} pass compares three versions of each file by SHA-256: the
 * store's, the directory's, and the last one both agreed on (`agreed`):
 * - directory = store: agreed.
 * - directory unchanged since agreed, store changed: the store's version is written here
 *   (`ClusterRepository.mirror`: atomic, committed, not validated — an invalid file shows its
 *   diagnostics like a hand edit).
 * - directory changed since agreed (a save here, a hand edit): published with compare-and-set on
 *   the agreed version; when another server changed the file meanwhile the store wins, the local
 *   change is replaced (it stays in this server's git history) and a warning is logged.
 * A save through the console, API or CLI publishes at once (`afterWrite` →
 * {@link ClusterFileSync.published}), and a conflict there is the save's error
 * (ClusterFileConflictError: HTTP 409, "reload it and try again"). Other servers see a change at
 * their next pass (every `intervalMs`, default 2 s).
 *
 * The store side is a port ({@link SharedClusterFileStore}), implemented by src/store/cluster-files.ts.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { ClusterFileConflictError, type ClusterRepository } from './repository.js';

/** A file's head in the shared store. */
export interface SharedHead {
  name: string;
  /** '' when deleted. */
  sha256: string;
  deleted: boolean;
  updatedBy: string;
  origin: string;
}

/** What the sync needs from the shared store (src/store/cluster-files.ts `ClusterFileRepo`). */
export interface SharedClusterFileStore {
  heads(): Promise<SharedHead[]>;
  get(name: string): Promise<{ xml: string | null; sha256: string; updatedBy: string } | undefined>;
  put(
    w: { name: string; xml: string | null; sha256: string; updatedAt: number; updatedBy: string; origin: string },
    base: string | undefined,
  ): Promise<'ok' | 'conflict'>;
}

/** Hex SHA-256 of a file's text (UTF-8); '' for a deleted file. */
export function textSha256(xml: string | null): string {
  return xml === null ? '' : createHash('sha256').update(xml, 'utf8').digest('hex');
}

/** Counts of one pass, for logs and tests. */
export interface SyncResult {
  pulled: string[];
  pushed: string[];
  /** Local changes replaced by another server's (the store won). */
  overridden: string[];
}

/** Keeps one clusters directory in step with the shared store. */
export class ClusterFileSync {
  /** File name → SHA-256 both sides last agreed on ('' = deleted). */
  private readonly agreed = new Map<string, string>();
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param origin this server's name (recorded with what it publishes)
   */
  constructor(
    private readonly repo: ClusterRepository,
    private readonly store: SharedClusterFileStore,
    private readonly origin: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** One pass (serialised with {@link published}). @throws the store's error */
  syncOnce(): Promise<SyncResult> {
    return this.serial(() => this.pass());
  }

  /**
   * A local save of `name` by `author`: publishes it now.
   * @throws ClusterFileConflictError when another server changed the file since this one last
   *   agreed with the store (the store's version is then written here)
   */
  published(name: string, author: string | undefined): Promise<void> {
    return this.serial(async () => {
      const r = await this.push(name, author ?? 'statelesx');
      if (r === 'conflict') {
        await this.pull(name);
        throw new ClusterFileConflictError(join(this.repo.dir, `${name}.xml`));
      }
    });
  }

  /** Runs a pass now and then every `intervalMs`; errors are logged, the next pass retries. */
  async start(intervalMs = 2000): Promise<void> {
    await this.syncOnce();
    this.timer = setInterval(() => {
      this.syncOnce().catch((err: unknown) => this.log.warn({ err }, 'cluster file sync failed; retrying'));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the passes and waits for the one in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.chain.catch(() => undefined);
  }

  private async pass(): Promise<SyncResult> {
    const out: SyncResult = { pulled: [], pushed: [], overridden: [] };
    const heads = new Map((await this.store.heads()).map((h) => [h.name, h]));
    const names = new Set([...heads.keys(), ...this.repo.files().map((f) => f.name)]);
    for (const name of [...names].sort()) {
      const head = heads.get(name);
      const local = textSha256(await this.localText(name));
      const agreed = this.agreed.get(name);
      if (head && head.sha256 === local) {
        this.agreed.set(name, local);
        continue;
      }
      if (!head && local === '') continue;
      const localChanged = agreed === undefined ? local !== '' && !head : local !== agreed;
      if (head && !localChanged) {
        await this.pull(name);
        out.pulled.push(name);
        continue;
      }
      const r = await this.push(name, 'statelesx');
      if (r === 'ok') {
        out.pushed.push(name);
      } else {
        this.log.warn(
          { file: `${name}.xml`, server: head?.origin, by: head?.updatedBy },
          'cluster file changed here and on another server: the shared store version wins (the local change stays in git history)',
        );
        await this.pull(name);
        out.overridden.push(name);
      }
    }
    if (out.pulled.length + out.pushed.length + out.overridden.length > 0)
      this.log.info(out, 'cluster files synchronised with the shared store');
    return out;
  }

  /** Publishes the directory's version of `name` (compare-and-set on the agreed version). */
  private async push(name: string, by: string): Promise<'ok' | 'conflict'> {
    const xml = await this.localText(name);
    const sha256 = textSha256(xml);
    const r = await this.store.put(
      { name, xml, sha256, updatedAt: this.now(), updatedBy: by, origin: this.origin },
      this.agreed.get(name),
    );
    if (r === 'ok') this.agreed.set(name, sha256);
    return r;
  }

  /** Writes the store's version of `name` into the directory. */
  private async pull(name: string): Promise<void> {
    const s = await this.store.get(name);
    if (!s) return;
    await this.repo.mirror(name, s.xml, {
      author: { name: s.updatedBy },
      message: `${s.xml === null ? 'delete' : 'update'} ${name}.xml (from the shared store)`,
    });
    this.agreed.set(name, s.sha256);
  }

  private async localText(name: string): Promise<string | null> {
    return readFile(join(this.repo.dir, `${name}.xml`), 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
