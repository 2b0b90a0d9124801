/**
 * The cluster files of the clusters directory (`clusters-dir`): loads every `*.xml` (hidden files
 * and other names are ignored), keeps the valid clusters and the diagnostics of the invalid
 * files (an invalid file never takes down the others; a cross-file conflict — the same host UUID,
 * FQDN or cluster name in two files — makes both files invalid, since the server cannot tell
 * which is meant), finds a host's cluster by UUID in either byte order, and reads/writes file
 * text for the console's editor: a write is validated against the schema, the semantics and the
 * other files first, then goes to a temporary file that is renamed over the target, so readers
 * never see a half-written or invalid file.
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { silentLogger, type Logger } from '../log.js';
import { ClusterValidationError, formatDiagnostic, type ClusterDiagnostic } from './diagnostics.js';
import { addMemberHost, type NewMemberHost } from './edit.js';
import { ClusterHistory, type ChangeAuthor } from './history.js';
import { loadClusterFiles, loadClusterText, type LoadResult } from './load.js';
import { checkAcrossFiles, type CheckedFile, type SemanticContext } from './semantics.js';
import type { DesiredCluster } from './types.js';
import { findMember, indexMembers, type ClusterFiles, type ClusterMember, type MemberIndex } from './members.js';
import type { XmlLimits } from './xml-guard.js';

/** Options of a {@link ClusterRepository}. */
export interface ClusterRepositoryOptions {
  /** The clusters directory (created on the first write when missing). */
  dir: string;
  /** vCenter/credentials names and image checker from the configuration. */
  context?: SemanticContext;
  limits?: XmlLimits;
  logger?: Logger;
  /**
   * Keep the directory's history in git (./history.ts): every write is a commit, hand edits are
   * committed at load. Off by default (tools that only read the files).
   */
  history?: boolean;
  /** Called after hand edits found on disk were committed (for the audit log). */
  onDiskChange?: (change: { commit: string; files: string[] }) => void | Promise<void>;
  /**
   * Called after each {@link ClusterRepository.putText} / {@link ClusterRepository.remove} with the
   * file name (without `.xml`) and the change's author name, outside the write lock; its rejection is the write's (several
   * servers: publishing to the shared store, src/clusters/shared.ts, may answer a conflict).
   */
  afterWrite?: (name: string, author: string | undefined) => Promise<void>;
}

/** Who makes a write and why: the commit's author and message (used when history is on). */
export interface ClusterChange {
  author: ChangeAuthor;
  /** The commit message; default `update <file>` / `create <file>` / `delete <file>`. */
  message?: string;
}

/** A file of the directory and its state. `name` is the file name without `.xml`. */
export interface ClusterFileState {
  name: string;
  file: string;
  /** Set when the file is valid. */
  cluster?: DesiredCluster;
  diagnostics: ClusterDiagnostic[];
}

/** Thrown by {@link ClusterRepository.putText} when the file changed since the caller read it. */
export class ClusterFileConflictError extends Error {
  constructor(readonly fileName: string) {
    super(`cluster file ${fileName} was changed by someone else; reload it and try again`);
    this.name = 'ClusterFileConflictError';
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * Cluster files of one directory. Call {@link reload} once before use.
 */
export class ClusterRepository implements ClusterFiles {
  readonly dir: string;
  private readonly log: Logger;
  private state: ClusterFileState[] = [];
  private byUuid: MemberIndex = new Map();
  private chain: Promise<unknown> = Promise.resolve();
  /** The git history of the directory, when {@link ClusterRepositoryOptions.history} is on. */
  readonly history: ClusterHistory | undefined;

  constructor(private readonly opts: ClusterRepositoryOptions) {
    this.dir = resolve(opts.dir);
    this.log = (opts.logger ?? silentLogger).child({ subsystem: 'clusters' });
    if (opts.history) {
      this.history = new ClusterHistory(
        this.dir,
        (n) => n.endsWith('.xml') && NAME_RE.test(n.slice(0, -4)),
        opts.logger,
      );
    }
  }

  /** Runs `fn` serialised with the writes and reloads (for history reads that must not interleave). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(fn);
  }

  /** Re-reads every `*.xml` of the directory (serialised with writes). A missing directory is empty. */
  reload(): Promise<void> {
    return this.serial(() => this.doReload());
  }

  /** Valid clusters, by file name order. */
  clusters(): DesiredCluster[] {
    return this.state.flatMap((s) => (s.cluster ? [s.cluster] : []));
  }

  /** The valid cluster named `name` (the cluster's name, not the file's). */
  get(name: string): DesiredCluster | undefined {
    return this.clusters().find((c) => c.name === name);
  }

  /** Every file with its state (valid or not). */
  files(): ClusterFileState[] {
    return [...this.state];
  }

  /** The invalid files and their diagnostics. */
  invalid(): ClusterFileState[] {
    return this.state.filter((s) => !s.cluster);
  }

  /**
   * The cluster and member entry of the host with this SMBIOS UUID, given in either byte order
   * (SMBIOS form or the PXE/option-97 wire form); undefined when no valid cluster lists it.
   */
  findHostByUuid(uuid: string): ClusterMember | undefined {
    return findMember(this.byUuid, uuid);
  }

  /**
   * The text of `<name>.xml`.
   * @throws Error for a name that is not a plain file name; ENOENT when the file does not exist
   */
  async getText(name: string): Promise<string> {
    return readFile(this.pathOf(name), 'utf8');
  }

  /**
   * Checks `xml` as the new content of `<name>.xml` (schema, semantics, and against the other
   * files) without writing. An empty list means `putText` would accept it.
   */
  async check(name: string, xml: string): Promise<{ result: LoadResult; diagnostics: ClusterDiagnostic[] }> {
    const file = this.pathOf(name);
    const result = await loadClusterText(xml, file, this.loadOpts());
    const diagnostics = [...result.diagnostics];
    if (result.cluster && result.index) {
      const others: CheckedFile[] = [];
      for (const s of this.state) {
        if (s.file !== file && s.cluster) others.push({ cluster: s.cluster, index: this.indexes.get(s.file)! });
      }
      const mine = { cluster: result.cluster, index: result.index };
      diagnostics.push(...checkAcrossFiles([mine, ...others]).filter((d) => d.file === file));
    }
    return { result, diagnostics };
  }

  /**
   * Validates and atomically writes `<name>.xml` (temp file + fsync + rename), then reloads.
   * @param opts.ifUnchanged when given, the write happens only if the file's current text equals
   *   it (the text the editor started from); a missing file matches ''
   * @param opts.change with history on: the commit's author and message (default author statelesx);
   *   hand edits found first are committed before it
   * @returns the new cluster
   * @throws ClusterValidationError with every diagnostic when the text is invalid (nothing is written)
   * @throws ClusterFileConflictError when `ifUnchanged` does not match
   */
  async putText(
    name: string,
    xml: string,
    opts: { ifUnchanged?: string; change?: ClusterChange } = {},
  ): Promise<DesiredCluster> {
    const cluster = await this.serial(async () => {
      const file = this.pathOf(name);
      await this.prepareHistory();
      const existed = await readFile(file).then(
        () => true,
        () => false,
      );
      if (opts.ifUnchanged !== undefined) {
        const current = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT') return '';
          throw e;
        });
        if (current !== opts.ifUnchanged) throw new ClusterFileConflictError(file);
      }
      const { result, diagnostics } = await this.check(name, xml);
      if (diagnostics.length || !result.cluster) throw new ClusterValidationError(diagnostics);
      await this.writeAtomic(file, xml);
      this.log.info({ file, cluster: result.cluster.name, hosts: result.cluster.hosts.length }, 'cluster file written');
      await this.commitChange(basename(file), opts.change, existed ? 'update' : 'create');
      await this.doReload();
      return result.cluster;
    });
    await this.opts.afterWrite?.(basename(this.pathOf(name), '.xml'), opts.change?.author.name);
    return cluster;
  }

  /**
   * Makes `<name>.xml` hold `xml` (null: deleted) as another server wrote it (src/clusters/shared.ts):
   * written atomically and committed like {@link putText}, but not validated here — an invalid
   * file shows its diagnostics like a hand edit would — and not passed to `afterWrite`.
   * @returns whether the directory changed
   */
  mirror(name: string, xml: string | null, change: ClusterChange): Promise<boolean> {
    return this.serial(async () => {
      const file = this.pathOf(name);
      await this.prepareHistory();
      const current = await readFile(file, 'utf8').catch(() => null);
      if (current === xml) return false;
      if (xml === null) await rm(file, { force: true });
      else await this.writeAtomic(file, xml);
      this.log.info(
        { file, deleted: xml === null, by: change.author.name },
        'cluster file taken from the shared store',
      );
      await this.commitChange(basename(file), change, xml === null ? 'delete' : current === null ? 'create' : 'update');
      await this.doReload();
      return true;
    });
  }

  /** Writes `file` through a temporary file, fsync and rename (readers never see half a file). */
  private async writeAtomic(file: string, xml: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(xml, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /**
   * Deletes `<name>.xml` (with history on: a commit by `change.author`), then reloads.
   * @returns false when there was no such file
   * @throws Error for a name that is not a plain file name
   */
  async remove(name: string, change?: ClusterChange): Promise<boolean> {
    const removed = await this.serial(async () => {
      const file = this.pathOf(name);
      await this.prepareHistory();
      try {
        await rm(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw e;
      }
      this.log.info({ file }, 'cluster file deleted');
      await this.commitChange(basename(file), change, 'delete');
      await this.doReload();
      return true;
    });
    if (removed) await this.opts.afterWrite?.(basename(this.pathOf(name), '.xml'), change?.author.name);
    return removed;
  }

  /**
   * Adds a member host to the file that declares cluster `clusterName` (console one-click join):
   * text-level insertion ({@link addMemberHost}), validated and written like {@link putText}.
   * @throws Error when no valid cluster has that name
   * @throws MemberEditError for a duplicate UUID/FQDN; ClusterValidationError when the result is
   *   invalid (e.g. static VMkernel NICs without `host.addresses`)
   */
  async addHost(clusterName: string, host: NewMemberHost, change?: ClusterChange): Promise<DesiredCluster> {
    const state = this.state.find((s) => s.cluster?.name === clusterName);
    if (!state) throw new Error(`no valid cluster named "${clusterName}"`);
    const before = await this.getText(state.name);
    const after = await addMemberHost(before, host, { file: state.file, ...this.loadOpts() });
    const message = `add member ${host.fqdn} (${host.uuid}) to ${state.name}.xml`;
    return this.putText(state.name, after, {
      ifUnchanged: before,
      ...(change ? { change: { message, ...change } } : {}),
    });
  }

  /**
   * Watches the directory and reloads (debounced by `debounceMs`) when files change.
   * @returns a function that stops watching
   */
  watch(debounceMs = 250): () => void {
    let timer: NodeJS.Timeout | undefined;
    let watcher: FSWatcher | undefined;
    try {
      watcher = fsWatch(this.dir, { persistent: false }, (_event, filename) => {
        if (filename && !String(filename).endsWith('.xml')) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          this.reload().catch((err: unknown) => this.log.error({ err }, 'cluster reload failed'));
        }, debounceMs);
      });
      watcher.on('error', (err) => this.log.warn({ err }, 'cluster directory watch failed'));
    } catch (err) {
      this.log.warn({ err, dir: this.dir }, 'cannot watch the clusters directory; use reload');
    }
    return () => {
      clearTimeout(timer);
      watcher?.close();
    };
  }

  // ---------------------------------------------------------------------------------------------

  private indexes = new Map<string, NonNullable<LoadResult['index']>>();

  private loadOpts(): { context?: SemanticContext; limits?: XmlLimits } {
    return {
      ...(this.opts.context ? { context: this.opts.context } : {}),
      ...(this.opts.limits ? { limits: this.opts.limits } : {}),
    };
  }

  private pathOf(name: string): string {
    const base = name.endsWith('.xml') ? name.slice(0, -4) : name;
    if (!NAME_RE.test(base)) throw new Error(`"${name}" is not a cluster file name (letters, digits, . _ -)`);
    return join(this.dir, `${base}.xml`);
  }

  /**
   * With history on: creates the git repository on first use and commits hand edits (reported to
   * `onDiskChange`). Call inside {@link exclusive}; nothing happens with history off.
   */
  async prepareHistory(): Promise<void> {
    if (!this.history) return;
    const found = await this.history.prepare();
    if (found) await this.reportDiskChange(found);
  }

  /** Hands committed hand edits to `onDiskChange`; its failure is logged, never fails the load or save. */
  private async reportDiskChange(found: { commit: string; files: string[] }): Promise<void> {
    try {
      await this.opts.onDiskChange?.(found);
    } catch (err) {
      this.log.error({ err, ...found }, 'cannot record the on-disk change of cluster files');
    }
  }

  private async commitChange(file: string, change: ClusterChange | undefined, action: string): Promise<void> {
    if (!this.history) return;
    const commit = await this.history.commit(
      [file],
      change?.author ?? { name: 'statelesx', email: 'statelesx@localhost' },
      change?.message ?? `${action} ${file}`,
    );
    if (commit) this.log.info({ file, commit, author: change?.author.name }, 'cluster file change committed');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async doReload(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.xml') && NAME_RE.test(n.slice(0, -4))).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.log.warn({ dir: this.dir }, 'clusters directory does not exist');
      names = [];
    }
    const results = await loadClusterFiles(
      names.map((n) => join(this.dir, n)),
      this.loadOpts(),
    );
    const checked: CheckedFile[] = [];
    for (const r of results) if (r.cluster && r.index) checked.push({ cluster: r.cluster, index: r.index });
    const cross = checkAcrossFiles(checked);
    const indexes = new Map<string, NonNullable<LoadResult['index']>>();
    const state: ClusterFileState[] = results.map((r, i) => {
      const diagnostics = [...r.diagnostics, ...cross.filter((d) => d.file === r.file)];
      const s: ClusterFileState = { name: names[i]!.slice(0, -4), file: r.file, diagnostics };
      if (r.cluster && diagnostics.length === 0) s.cluster = r.cluster;
      if (r.index) indexes.set(r.file, r.index);
      return s;
    });
    if (this.history) {
      // A broken repository must not keep the clusters from loading: the files are the truth.
      const found = await this.history.recordOnDisk().catch((err: unknown) => {
        this.log.error({ err, dir: this.dir }, 'cannot record on-disk changes of the cluster files in git');
        return undefined;
      });
      if (found) await this.reportDiskChange(found);
    }
    const byUuid = indexMembers(state.flatMap((s) => (s.cluster ? [s.cluster] : [])));
    this.state = state;
    this.indexes = indexes;
    this.byUuid = byUuid;
    for (const s of state) {
      if (!s.cluster) {
        this.log.warn(
          { file: s.file, errors: s.diagnostics.length, first: s.diagnostics.slice(0, 3).map(formatDiagnostic) },
          'cluster file is invalid and ignored',
        );
      }
    }
    const valid = state.filter((s) => s.cluster).length;
    this.log.info({ dir: this.dir, valid, invalid: state.length - valid }, 'cluster files loaded');
  }
}
