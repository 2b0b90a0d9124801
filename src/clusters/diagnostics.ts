/**
 * Diagnostics for cluster files: every problem carries the file, a 1-based line and column, the
 * element path (`/cluster/network/vswitch[2]/uplink[1]`, attributes as `/@mtu`) and a message.
 * Printed as `file:line:column: path: message` (the GNU convention editors and CI understand).
 */
import type { SourcePos } from './types.js';

/** One problem in a cluster file. */
export interface ClusterDiagnostic extends SourcePos {
  message: string;
}

/** `file:line:column: path: message`. */
export function formatDiagnostic(d: ClusterDiagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.path}: ${d.message}`;
}

/** Sorts diagnostics by file, then position (stable for equal positions). */
export function sortDiagnostics(list: ClusterDiagnostic[]): ClusterDiagnostic[] {
  return [...list].sort((a, b) =>
    a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column,
  );
}

/** Thrown by functions that must return a valid document (editing, `putText`); carries all problems. */
export class ClusterValidationError extends Error {
  constructor(readonly diagnostics: ClusterDiagnostic[]) {
    super(diagnostics.length === 0 ? 'cluster file is invalid' : diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'ClusterValidationError';
  }
}

/**
 * Maps character offsets of a text to 1-based line and column (columns count UTF-16 code
 * units; a CR LF pair ends one line).
 */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.starts.push(i + 1);
      else if (c === 13 && text.charCodeAt(i + 1) !== 10) this.starts.push(i + 1);
    }
  }

  /** Line and column of `offset` (clamped to the text). */
  at(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: Math.max(0, offset - this.starts[lo]!) + 1 };
  }

  /** Offset of the first character of 1-based `line` (clamped). */
  lineStart(line: number): number {
    return this.starts[Math.min(Math.max(line, 1), this.starts.length) - 1]!;
  }
}

/**
 * Elements that may repeat: their path segment always carries a 1-based index among siblings
 * of the same name (`uplink[1]`), so a path stays the same when a sibling is added after it.
 */
export const REPEATABLE_ELEMENTS: ReadonlySet<string> = new Set([
  'vswitch',
  'uplink',
  'activeNic',
  'standbyNic',
  'portgroup',
  'vmknic',
  'service',
  'addressPool',
  'server',
  'searchDomain',
  'setting',
  'host',
  'address',
]);

/** One path segment: `vswitch[2]` for repeatable elements, `network` otherwise. */
export function pathSegment(name: string, index: number): string {
  return REPEATABLE_ELEMENTS.has(name) ? `${name}[${index}]` : name;
}

/**
 * Positions of every element and attribute of one file by path. Lookups of a path that has no
 * entry fall back to its nearest ancestor, so a diagnostic always has a position.
 */
export class SourceIndex {
  constructor(
    readonly file: string,
    private readonly byPath: ReadonlyMap<string, SourcePos>,
  ) {}

  /** Position of `path` or of its nearest recorded ancestor (line 1 column 1 at worst). */
  at(path: string): SourcePos {
    let p = path;
    for (;;) {
      const hit = this.byPath.get(p);
      if (hit) return { ...hit, path };
      const cut = p.lastIndexOf('/');
      if (cut <= 0) return { file: this.file, line: 1, column: 1, path };
      p = p.slice(0, cut);
    }
  }

  /** A diagnostic at `path`. */
  error(path: string, message: string): ClusterDiagnostic {
    return { ...this.at(path), message };
  }
}
