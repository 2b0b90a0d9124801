/**
 * Loads cluster files: size and safety guard (no DTD, no entities) → well-formedness →
 * XSD (`schemas/cluster.xsd`, libxml2) → {@link DesiredCluster} → per-file semantic checks and the
 * kickstart template (`boot/@kickstartTemplate`: read from the templates directory, confined to it,
 * parsed and checked, never rendered).
 * Every stage reports all its problems as {@link ClusterDiagnostic}s with file:line:column and
 * element path; a later stage runs only when the earlier ones found nothing. Cross-file checks
 * are the caller's ({@link checkAcrossFiles}), since they need every file.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { buildCluster } from './build.js';
import type { ClusterDiagnostic, SourceIndex } from './diagnostics.js';
import { defaultTemplatesDir, loadKickstartTemplate } from './kickstart.js';
import { checkCluster, type SemanticContext } from './semantics.js';
import type { DesiredCluster } from './types.js';
import { DEFAULT_XML_LIMITS, guardXml, type XmlLimits } from './xml-guard.js';
import { parseXmlTree, type XmlElement } from './xml-tree.js';
import { validateAgainstXsd } from './xsd.js';

/** Options for loading. */
export interface LoadOptions {
  limits?: XmlLimits;
  /** Names and checkers from the server configuration; omitted fields skip their checks. */
  context?: SemanticContext;
}

/** The outcome for one file. `cluster` is set only when `diagnostics` is empty. */
export interface LoadResult {
  /** Absolute path (or the name given for in-memory text). */
  file: string;
  cluster?: DesiredCluster;
  /**
   * The cluster as built once the file passed the XSD, even when semantic checks failed (for
   * tools that report every problem, e.g. cross-file checks in `cluster validate`).
   */
  candidate?: DesiredCluster;
  /** Positions of the file's elements (set once the file parsed and passed the XSD). */
  index?: SourceIndex;
  /** The positioned element tree (set once the file parsed). */
  root?: XmlElement;
  diagnostics: ClusterDiagnostic[];
}

/** One text to load: `file` is used in diagnostics and stored in {@link DesiredCluster.file}. */
export interface ClusterText {
  file: string;
  text: string;
}

/**
 * Loads several texts; the XSD stage runs once for all of them. Never throws for bad input;
 * throws only when the validator itself cannot run (missing schema, worker failure).
 */
export async function loadClusterTexts(items: readonly ClusterText[], opts: LoadOptions = {}): Promise<LoadResult[]> {
  const limits = opts.limits ?? DEFAULT_XML_LIMITS;
  const results: LoadResult[] = items.map((it) => ({ file: it.file, diagnostics: [] }));
  const forXsd: { i: number; text: string; root: XmlElement }[] = [];
  items.forEach((it, i) => {
    const r = results[i]!;
    const text = stripBom(it.text);
    r.diagnostics.push(...guardXml(text, it.file, limits));
    if (r.diagnostics.length) return;
    const parsed = parseXmlTree(text, it.file);
    if (!parsed.root) {
      r.diagnostics.push(...parsed.errors);
      return;
    }
    r.root = parsed.root;
    forXsd.push({ i, text, root: parsed.root });
  });
  const xsd = await validateAgainstXsd(forXsd.map((x) => ({ file: items[x.i]!.file, text: x.text, root: x.root })));
  for (const [k, x] of forXsd.entries()) {
    const r = results[x.i]!;
    r.diagnostics.push(...xsd[k]!);
    if (r.diagnostics.length) continue;
    const built = buildCluster(x.root, items[x.i]!.file);
    r.index = built.index;
    r.candidate = built.cluster;
    r.diagnostics.push(...built.diagnostics, ...checkCluster(built.cluster, built.index, opts.context));
    const boot = built.cluster.boot;
    if (boot?.kickstartTemplate !== undefined) {
      const t = await loadKickstartTemplate(
        boot.kickstartTemplate,
        opts.context?.templatesDir ?? defaultTemplatesDir(items[x.i]!.file),
      );
      if (t.template) boot.kickstart = t.template;
      else r.diagnostics.push(built.index.error('/cluster/boot/@kickstartTemplate', t.problem));
    }
    if (r.diagnostics.length === 0) r.cluster = built.cluster;
  }
  return results;
}

/** {@link loadClusterTexts} for one text. */
export async function loadClusterText(text: string, file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  return (await loadClusterTexts([{ file, text }], opts))[0]!;
}

/**
 * Reads and loads files (paths resolved to absolute). A file that cannot be read or is over the
 * size limit gets a diagnostic at 1:1; it is not read into memory when too large.
 */
export async function loadClusterFiles(paths: readonly string[], opts: LoadOptions = {}): Promise<LoadResult[]> {
  const limits = opts.limits ?? DEFAULT_XML_LIMITS;
  const texts: (ClusterText | LoadResult)[] = await Promise.all(
    paths.map(async (p): Promise<ClusterText | LoadResult> => {
      const file = resolve(p);
      const fail = (message: string): LoadResult => ({
        file,
        diagnostics: [{ file, line: 1, column: 1, path: '/', message }],
      });
      try {
        const st = await stat(file);
        if (!st.isFile()) return fail('not a regular file');
        if (st.size > limits.maxBytes)
          return fail(`file is ${st.size} bytes; cluster files are limited to ${limits.maxBytes} bytes`);
        return { file, text: await readFile(file, 'utf8') };
      } catch (e) {
        return fail(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }),
  );
  const toLoad = texts.filter((t): t is ClusterText => 'text' in t);
  const loaded = await loadClusterTexts(toLoad, opts);
  let k = 0;
  return texts.map((t) => ('text' in t ? loaded[k++]! : t));
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
