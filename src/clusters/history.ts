/**
 * The history of the clusters directory in git (isomorphic-git, pure JavaScript; the git command
 * is not needed). The directory is a git work tree: statelesx's own repository, initialised on
 * first use, or the administrator's repository when the directory already is one (its own `.git`)
 * — then it is used as it is (branch, history, other files) and only `*.xml` files are staged.
 *
 * Every save is a commit by its author; files changed on disk by hand are committed by
 * {@link STATELESX_AUTHOR} with the message `on-disk change detected: <files>`. To find such
 * changes without loading git, the git blob id of each file as last committed is kept in
 * `<gitdir>/statelesx-clusters.json`; only when a file's id differs (or that file is missing) is
 * isomorphic-git loaded — an idle server never loads it. Diffs are made with jsdiff (`diff`).
 *
 * Not serialised here: the caller (ClusterRepository) runs one operation at a time.
 */
import * as fs from 'node:fs';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { silentLogger, type Logger } from '../log.js';

type Git = typeof import('isomorphic-git');

let gitModule: Promise<Git> | undefined;
/** isomorphic-git, imported on first use only. */
function loadGit(): Promise<Git> {
  gitModule ??= import('isomorphic-git').then((m) => (m as { default?: Git }).default ?? m);
  return gitModule;
}

/** Who made a change: the console user, `token:<name>` of an API token, or statelesx itself. */
export interface ChangeAuthor {
  name: string;
  /** Default: the name made safe, `@localhost`. */
  email?: string;
}

/** The author of commits statelesx makes on its own (hand edits found on disk). */
export const STATELESX_AUTHOR: Required<ChangeAuthor> = { name: 'statelesx', email: 'statelesx@localhost' };

/** One commit that touched a file. */
export interface ClusterVersion {
  /** The commit id (40 hex digits). */
  id: string;
  author: string;
  email: string;
  /** Author time, epoch ms. */
  time: number;
  /** The commit message (trailing newline removed). */
  message: string;
}

/** One hunk of a unified diff (jsdiff StructuredPatchHunk): lines start with ' ', '-' or '+'. */
export interface DiffHunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  lines: string[];
}

/** The difference between two versions of a file. `from`/`to` are full commit ids or `working`. */
export interface ClusterDiff {
  file: string;
  from: string;
  to: string;
  /** Unified diff text (`---`/`+++` headers naming the versions); only headers when equal. */
  unified: string;
  hunks: DiffHunk[];
  /** Texts of both versions ('' where the file did not exist). */
  fromText: string;
  toText: string;
}

/** Why a history request cannot be answered: no such commit, or the file is not in it. */
export class ClusterHistoryError extends Error {
  constructor(
    message: string,
    readonly code: 'unknown-commit' | 'not-in-commit',
  ) {
    super(message);
    this.name = 'ClusterHistoryError';
  }
}

/** The version name for the file on disk in {@link ClusterHistory.diff}. */
export const WORKING = 'working';

interface Root {
  /** The work tree's root (the clusters directory). */
  dir: string;
  gitdir: string;
  /** The clusters directory relative to `dir`, '/'-separated: '' (kept for paths inside the tree). */
  prefix: string;
}

const STATE_FILE = 'statelesx-clusters.json';
const COMMIT_RE = /^[0-9a-f]{4,40}$/i;

/** git's blob id of `bytes` (SHA-1 of `blob <length>\0<bytes>`). */
function blobId(bytes: Buffer): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

function authorOf(a: ChangeAuthor, now: Date): { name: string; email: string; timestamp: number } {
  const email = a.email ?? `${a.name.replace(/[^A-Za-z0-9._-]/g, '-') || 'unknown'}@localhost`;
  return { name: a.name, email, timestamp: Math.floor(now.getTime() / 1000) };
}

/**
 * The git history of one clusters directory.
 * @param isClusterFile which names of the directory are cluster files (e.g. `lab.xml`)
 */
export class ClusterHistory {
  readonly dir: string;
  private readonly log: Logger;
  private root: Root | undefined;

  constructor(
    dir: string,
    private readonly isClusterFile: (name: string) => boolean,
    logger: Logger = silentLogger,
  ) {
    this.dir = resolve(dir);
    this.log = logger.child({ subsystem: 'clusters-history' });
  }

  /**
   * The repository of the directory: only the directory's own `.git`. A repository further up
   * (etckeeper's `/etc`, a source checkout holding example files) is never written to: the
   * directory gets a repository of its own instead.
   */
  private locate(): Root | undefined {
    if (this.root) return this.root;
    if (!existsSync(join(this.dir, '.git'))) return undefined;
    this.root = { dir: this.dir, gitdir: join(this.dir, '.git'), prefix: '' };
    return this.root;
  }

  /** True when the directory is a git repository already (nothing is loaded or created). */
  exists(): boolean {
    return this.locate() !== undefined;
  }

  /**
   * Makes sure the repository exists (initialised with branch `main` when the directory is in
   * none) and that hand edits are committed, so a following change is a commit of its own.
   * @returns the commit of hand edits found, if any
   */
  async prepare(): Promise<{ commit: string; files: string[] } | undefined> {
    if (!this.locate()) {
      const git = await loadGit();
      fs.mkdirSync(this.dir, { recursive: true });
      await git.init({ fs, dir: this.dir, defaultBranch: 'main' });
      this.log.info({ dir: this.dir }, 'clusters directory is now a git repository');
    }
    return this.recordOnDisk();
  }

  /**
   * Commits files changed on disk since the last commit statelesx knows of (author
   * {@link STATELESX_AUTHOR}, message `on-disk change detected: <files>`). Does nothing, and does
   * not load git, when the directory is in no repository or no file changed.
   * @returns the commit and the files (names in the directory), or undefined when nothing changed
   */
  async recordOnDisk(): Promise<{ commit: string; files: string[] } | undefined> {
    const root = this.locate();
    if (!root) return undefined;
    const current = await this.blobIds();
    const known = await this.readState(root);
    const same =
      known !== undefined &&
      current.size === Object.keys(known).length &&
      [...current].every(([f, id]) => known[f] === id);
    if (same) return undefined;
    const changed = await this.changedFiles(root);
    let commit: string | undefined;
    if (changed.length) {
      commit = await this.commitPaths(
        root,
        changed,
        STATELESX_AUTHOR,
        `on-disk change detected: ${changed.join(', ')}`,
      );
      this.log.info({ files: changed, commit }, 'on-disk change of cluster files committed');
    }
    await this.writeState(root, current);
    return commit ? { commit, files: changed } : undefined;
  }

  /**
   * Commits the current content of `files` (names in the directory; a missing file is a deletion).
   * @returns the new commit id, or undefined when the files equal the last commit
   */
  async commit(files: string[], author: ChangeAuthor, message: string): Promise<string | undefined> {
    const root = this.locate();
    if (!root) throw new Error(`${this.dir} is not a git repository (call prepare first)`);
    const changed = await this.changedFiles(root, files);
    const commit = changed.length ? await this.commitPaths(root, changed, author, message) : undefined;
    await this.writeState(root, await this.blobIds());
    return commit;
  }

  /**
   * The commits that touched `file` (a name in the directory), newest first; [] when the
   * directory is in no repository or the file was never committed.
   */
  async versions(file: string): Promise<ClusterVersion[]> {
    const root = this.locate();
    if (!root) return [];
    const git = await loadGit();
    let list: Awaited<ReturnType<Git['log']>>;
    try {
      list = await git.log({ fs, dir: root.dir, gitdir: root.gitdir, filepath: this.pathOf(root, file), force: true });
    } catch (e) {
      if ((e as { code?: string }).code === 'NotFoundError') return [];
      throw e;
    }
    return list.map((c) => ({
      id: c.oid,
      author: c.commit.author.name,
      email: c.commit.author.email,
      time: c.commit.author.timestamp * 1000,
      message: c.commit.message.replace(/\n+$/, ''),
    }));
  }

  /**
   * The full id of a commit given by a unique prefix (4–40 hex digits).
   * @throws ClusterHistoryError `unknown-commit`
   */
  async resolveCommit(commit: string): Promise<string> {
    const root = this.locate();
    if (!root || !COMMIT_RE.test(commit))
      throw new ClusterHistoryError(`"${commit}" is not a commit of the cluster history`, 'unknown-commit');
    const git = await loadGit();
    try {
      const oid = await git.expandOid({ fs, dir: root.dir, gitdir: root.gitdir, oid: commit.toLowerCase() });
      await git.readCommit({ fs, dir: root.dir, gitdir: root.gitdir, oid });
      return oid;
    } catch {
      throw new ClusterHistoryError(`"${commit}" is not a commit of the cluster history`, 'unknown-commit');
    }
  }

  /**
   * The text of `file` at `commit`.
   * @throws ClusterHistoryError `unknown-commit`, or `not-in-commit` when the file did not exist then
   */
  async readAt(file: string, commit: string): Promise<string> {
    const oid = await this.resolveCommit(commit);
    const root = this.locate()!;
    const git = await loadGit();
    try {
      const { blob } = await git.readBlob({
        fs,
        dir: root.dir,
        gitdir: root.gitdir,
        oid,
        filepath: this.pathOf(root, file),
      });
      return Buffer.from(blob).toString('utf8');
    } catch {
      throw new ClusterHistoryError(`${file} does not exist in commit ${oid.slice(0, 12)}`, 'not-in-commit');
    }
  }

  /**
   * The unified diff and hunks of `file` from one version to another (`working` = the file on
   * disk); a side where the file does not exist is empty text.
   * @throws ClusterHistoryError `unknown-commit`
   */
  async diff(file: string, from: string, to: string = WORKING): Promise<ClusterDiff> {
    const side = async (v: string): Promise<{ id: string; text: string }> => {
      if (v === WORKING) {
        const text = await readFile(join(this.dir, file), 'utf8').catch(() => '');
        return { id: WORKING, text };
      }
      const id = await this.resolveCommit(v);
      const text = await this.readAt(file, id).catch((e: unknown) => {
        if (e instanceof ClusterHistoryError && e.code === 'not-in-commit') return '';
        throw e;
      });
      return { id, text };
    };
    const [a, b] = [await side(from), await side(to)];
    const { structuredPatch, formatPatch } = await import('diff');
    const patch = structuredPatch(`a/${file}`, `b/${file}`, a.text, b.text, a.id, b.id, { context: 3 });
    return {
      file,
      from: a.id,
      to: b.id,
      unified: formatPatch(patch).replace(/^=+\n/, ''),
      hunks: patch.hunks.map((h) => ({
        oldStart: h.oldStart,
        oldLines: h.oldLines,
        newStart: h.newStart,
        newLines: h.newLines,
        lines: h.lines,
      })),
      fromText: a.text,
      toText: b.text,
    };
  }

  // ---------------------------------------------------------------------------------------------

  private pathOf(root: Root, file: string): string {
    return root.prefix ? `${root.prefix}/${file}` : file;
  }

  /** Blob ids of the directory's cluster files (name → id). */
  private async blobIds(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    let names: string[] = [];
    try {
      names = (await readdir(this.dir)).filter(this.isClusterFile).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const n of names) {
      try {
        out.set(n, blobId(await readFile(join(this.dir, n))));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return out;
  }

  private async readState(root: Root): Promise<Record<string, string> | undefined> {
    try {
      const s = JSON.parse(await readFile(join(root.gitdir, STATE_FILE), 'utf8')) as {
        dirs?: Record<string, Record<string, string>>;
      };
      return s.dirs?.[root.prefix];
    } catch {
      return undefined;
    }
  }

  private async writeState(root: Root, ids: Map<string, string>): Promise<void> {
    const path = join(root.gitdir, STATE_FILE);
    let dirs: Record<string, Record<string, string>> = {};
    try {
      dirs = (JSON.parse(await readFile(path, 'utf8')) as { dirs?: typeof dirs }).dirs ?? {};
    } catch {
      // first write, or unreadable: rewritten below
    }
    dirs[root.prefix] = Object.fromEntries(ids);
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify({ dirs }) + '\n', 'utf8');
    await rename(tmp, path);
  }

  /**
   * Cluster files (names in the directory) whose content on disk differs from HEAD, limited to
   * `only` when given.
   */
  private async changedFiles(root: Root, only?: string[]): Promise<string[]> {
    const git = await loadGit();
    const filepaths = only ? only.map((f) => this.pathOf(root, f)) : [root.prefix || '.'];
    const rows = await git.statusMatrix({ fs, dir: root.dir, gitdir: root.gitdir, filepaths });
    const out: string[] = [];
    for (const [path, head, workdir] of rows) {
      const name = root.prefix ? path.slice(root.prefix.length + 1) : path;
      if (root.prefix && !path.startsWith(`${root.prefix}/`)) continue;
      if (name.includes('/') || !this.isClusterFile(name)) continue;
      if ((head === 1 && workdir === 1) || (head === 0 && workdir === 0)) continue;
      out.push(name);
    }
    // A file deleted on disk and never staged is absent from statusMatrix's listing of the
    // directory only when HEAD lacks it too; deletions of committed files show as workdir 0.
    return out.sort();
  }

  private async commitPaths(root: Root, files: string[], author: ChangeAuthor, message: string): Promise<string> {
    const git = await loadGit();
    for (const f of files) {
      const filepath = this.pathOf(root, f);
      if (existsSync(join(this.dir, f))) await git.add({ fs, dir: root.dir, gitdir: root.gitdir, filepath });
      else await git.remove({ fs, dir: root.dir, gitdir: root.gitdir, filepath });
    }
    const now = new Date();
    return git.commit({
      fs,
      dir: root.dir,
      gitdir: root.gitdir,
      message: message + '\n',
      author: authorOf(author, now),
      committer: authorOf(STATELESX_AUTHOR, now),
    });
  }
}
