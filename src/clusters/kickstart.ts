/**
 * Boot mode and kickstart template of a cluster file (`<boot mode="…" kickstartTemplate="…"/>`,
 * `host/@bootMode`): which members install ESXi to disk (stateful), and the Eta template their
 * `ks.cfg` is rendered from (VMware "Installation and Upgrade Script Commands").
 *
 * The template is read and checked when the cluster file is loaded, so a broken template makes
 * the cluster file invalid (with the template's file and line) instead of failing a host's boot:
 *
 *  1. the path is relative to the cluster file's directory (the clusters directory) and must stay
 *     inside it: absolute paths, `..` out of it and symbolic links out of it are refused;
 *  2. the text must compile (Eta tags, then the JavaScript inside them; errors carry the line);
 *  3. a trial render with sample data must succeed and must contain the statelesx `%firstboot`
 *     section (`<%= it.firstboot %>`), without which the installed host never phones home.
 *
 * The Eta engine here is the one `src/boot/render/kickstart.ts` renders with, so what loads
 * renders the same way.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { Script } from 'node:vm';
import { Eta } from 'eta';
import type { LoadedKickstartTemplate } from './types.js';

/** Largest kickstart template accepted, in bytes. */
export const KICKSTART_TEMPLATE_MAX_BYTES = 256 * 1024;

/**
 * The Eta engine for kickstart templates: no escaping (ks.cfg is not HTML), no trimming, no
 * caching (templates are reloaded with their cluster file), `it` as the data variable, and
 * `debug` so a runtime error names the template line.
 */
export const kickstartEta = new Eta({ autoEscape: false, autoTrim: false, cache: false, useWith: false, debug: true });

/** A template problem: a message and, when known, the 1-based line (and column) in the template. */
export interface TemplateProblem {
  line?: number;
  column?: number;
  message: string;
}

/**
 * Reads an Eta error (parse error, JavaScript syntax error, error thrown while rendering) as a
 * {@link TemplateProblem}; the line is taken from Eta's message when it carries one.
 */
export function describeEtaError(e: unknown): TemplateProblem {
  const raw = e instanceof Error ? e.message : String(e);
  const parse = /^([^\n]*?) at line (\d+) col (\d+)/.exec(raw);
  if (parse) return { line: Number(parse[2]), column: Number(parse[3]), message: parse[1]! };
  // Runtime (debug mode): "line N\n<context lines>\n\n<original message>" (or "<file>:N\n…").
  const runtime = /^(?:line |[^\n]*:)(\d+)\n[\s\S]*?\n\n([\s\S]*)$/.exec(raw);
  if (runtime) return { line: Number(runtime[1]), message: runtime[2]!.trim() };
  // "Bad template syntax\n\n<JavaScript message>\n====…": the JavaScript message only.
  const syntax = /^Bad template syntax\n\n([^\n]*)/.exec(raw);
  if (syntax) return { message: syntax[1]! };
  return { message: raw.split('\n')[0]! };
}

/**
 * Compile-checks an Eta template: tags first (Eta's parser), then the JavaScript the tags make
 * (compiled, not run), mapping a JavaScript syntax error back to the line of the tag it is in.
 * @returns the first problem, or undefined when the template compiles
 */
export function compileProblem(text: string): TemplateProblem | undefined {
  let body: string;
  try {
    body = kickstartEta.compileToString(text);
  } catch (e) {
    return describeEtaError(e);
  }
  const header = '(function (it, options) {';
  const source = `${header}\n${body}\n})`;
  try {
    new Script(source, { filename: 'kickstart-template' });
    return undefined;
  } catch (e) {
    const err = e as Error;
    const at = /^kickstart-template:(\d+)/.exec(err.stack ?? '');
    // Eta's debug mode marks each tag's template line with `__eta.line=N` before its code.
    let line: number | undefined;
    if (at) {
      const lines = source.split('\n').slice(0, Number(at[1]));
      for (let i = lines.length - 1; i >= 0 && line === undefined; i--) {
        const m = /^__eta\.line=(\d+)/.exec(lines[i]!);
        if (m) line = Number(m[1]);
      }
    }
    return { ...(line !== undefined ? { line } : {}), message: `JavaScript syntax error in a tag: ${err.message}` };
  }
}

/** The `it.firstboot` of the trial render: {@link checkKickstartTemplate} looks for it in the output. */
const SAMPLE_FIRSTBOOT = '%firstboot --interpreter=busybox\n# statelesx trial render\n';

/**
 * Sample data for the trial render at load time: the fields `src/boot/render/kickstart.ts`
 * passes (KickstartTemplateData), with every optional value set (a template may use `it.mac`
 * without a null check when all its hosts declare one).
 */
export function kickstartSampleData(cluster: string, image: string): Record<string, unknown> {
  return {
    uuid: '00000000-0000-4000-8000-000000000001',
    mac: '00:00:5e:00:53:01',
    cluster,
    image,
    server: '192.0.2.1:1974',
    token: 'sample-token',
    initiator: '# initiator.py\n',
    firstboot: SAMPLE_FIRSTBOOT,
  };
}

/**
 * Checks a kickstart template: it compiles, a trial render with {@link kickstartSampleData}
 * succeeds, and its output contains `it.firstboot` (the section that phones home).
 * @returns the first problem, or undefined
 */
export function checkKickstartTemplate(
  text: string,
  cluster = 'cluster',
  image = 'image',
): TemplateProblem | undefined {
  const compile = compileProblem(text);
  if (compile) return compile;
  let out: string;
  try {
    out = kickstartEta.renderString(text, kickstartSampleData(cluster, image));
  } catch (e) {
    return describeEtaError(e);
  }
  if (!out.includes(SAMPLE_FIRSTBOOT)) {
    return {
      message:
        'the template does not output <%= it.firstboot %>, the statelesx %firstboot section: an installed host would never phone home',
    };
  }
  return undefined;
}

/**
 * Resolves, reads and checks the kickstart template `ref` of the cluster file `clusterFile`.
 * `ref` is relative to the cluster file's directory and must stay inside it (after following
 * symbolic links). Never throws for bad input.
 * @returns the loaded template, or `problem`: a message naming the path (and, for template
 *   errors, `template file:line[:column]`)
 */
export async function loadKickstartTemplate(
  ref: string,
  clusterFile: string,
  names: { cluster: string; image?: string | undefined },
): Promise<{ template: LoadedKickstartTemplate; problem?: undefined } | { template?: undefined; problem: string }> {
  const root = resolve(dirname(clusterFile));
  const fail = (problem: string) => ({ problem });
  if (ref.includes('\\') || isAbsolute(ref) || /^[A-Za-z]:/.test(ref)) {
    return fail(
      `kickstartTemplate "${ref}" must be a path relative to the cluster file's directory ${root}, with / separators`,
    );
  }
  const target = resolve(root, ref);
  if (!inside(root, target))
    return fail(
      `kickstartTemplate "${ref}" resolves to ${target}, outside the clusters directory ${root}: templates must be inside it`,
    );
  let real: string;
  try {
    const realRoot = await realpath(root);
    real = await realpath(target);
    if (!inside(realRoot, real))
      return fail(
        `kickstartTemplate "${ref}" is a symbolic link to ${real}, outside the clusters directory ${realRoot}: templates must be inside it`,
      );
    const st = await stat(real);
    if (!st.isFile()) return fail(`kickstartTemplate "${ref}": ${target} is not a regular file`);
    if (st.size > KICKSTART_TEMPLATE_MAX_BYTES)
      return fail(
        `kickstartTemplate "${ref}": ${target} is ${st.size} bytes; templates are limited to ${KICKSTART_TEMPLATE_MAX_BYTES} bytes`,
      );
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(
      `kickstartTemplate "${ref}": cannot read ${target}: ${code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message)}`,
    );
  }
  let text = await readFile(real, 'utf8').catch((e: NodeJS.ErrnoException) => e);
  if (typeof text !== 'string')
    return fail(`kickstartTemplate "${ref}": cannot read ${target}: ${text.code ?? text.message}`);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const p = checkKickstartTemplate(text, names.cluster, names.image ?? 'image');
  if (p) {
    const where = p.line === undefined ? target : `${target}:${p.line}${p.column === undefined ? '' : `:${p.column}`}`;
    return fail(`kickstart template ${where}: ${p.message}`);
  }
  return { template: { file: target, text } };
}

/** True when `path` is below `root` (not `root` itself). */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel);
}
