/**
 * Boot mode and kickstart template of a cluster file (`<boot mode="…" kickstartTemplate="…"/>`,
 * `host/@bootMode`): which members install ESXi to disk (stateful), and the template their
 * `ks.cfg` is rendered from (VMware "Installation and Upgrade Script Commands").
 *
 * Templates are [Mustache](https://mustache.github.io/mustache.5.html), logic-less: a template
 * can only insert the fields of {@link KICKSTART_FIELDS} (`{{uuid}}`) and test them in sections
 * (`{{#mac}}…{{/mac}}`, `{{^mac}}…{{/mac}}`). Anything else — dotted names (`{{uuid.constructor}}`,
 * which mustache.js would resolve through the prototype chain), partials, unknown names — is
 * refused when the template is loaded and again before every render, so a template runs no code
 * and reaches nothing but those strings, whoever wrote it. Templates used to be Eta (JavaScript);
 * an Eta template is refused with a message that says how to convert it.
 *
 * The template is read and checked when the cluster file is loaded, so a broken template makes
 * the cluster file invalid (with the template's file and line) instead of failing a host's boot:
 *
 *  1. the path is relative to the templates directory (config `templates-dir`) and must stay
 *     inside it: absolute paths, `..` out of it and symbolic links out of it are refused, and so
 *     is any `*.xml` file (a cluster file is never a template);
 *  2. the text must parse as Mustache and use only the fields (errors carry the line and column);
 *  3. it must output `{{firstboot}}` outside any section, without which the installed host
 *     never phones home.
 *
 * Nothing is rendered at load time: the checks above are all a logic-less template needs.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import Mustache from 'mustache';
import type { LoadedKickstartTemplate } from './types.js';

/** Largest kickstart template accepted, in bytes. */
export const KICKSTART_TEMPLATE_MAX_BYTES = 256 * 1024;

/**
 * The names a kickstart template may use, the fields of `KickstartTemplateData`
 * (src/boot/render/kickstart.ts); `.` (the current value) is allowed inside a `{{#name}}` section.
 */
export const KICKSTART_FIELDS = [
  'uuid',
  'mac',
  'cluster',
  'image',
  'server',
  'token',
  'firstboot',
  'initiator',
  'rootpw',
  'firstdisk',
  'overwritevmfs',
] as const;

/** One of {@link KICKSTART_FIELDS}. */
export type KickstartField = (typeof KICKSTART_FIELDS)[number];

const FIELDS: ReadonlySet<string> = new Set(KICKSTART_FIELDS);

/** A template problem: a message and, when known, the 1-based line (and column) in the template. */
export interface TemplateProblem {
  line?: number;
  column?: number;
  message: string;
}

/** How an Eta template's tags map to Mustache, for the "convert it" message. */
const ETA_HINT =
  'kickstart templates are Mustache now, not Eta (Eta templates ran JavaScript): write {{firstboot}} for ' +
  '<%= it.firstboot %>, {{uuid}} for <%= it.uuid %> (fields: ' +
  KICKSTART_FIELDS.join(', ') +
  "), and a default such as <%= it.mac ?? 'vmnic0' %> as {{#mac}}{{mac}}{{/mac}}{{^mac}}vmnic0{{/mac}}; " +
  'other JavaScript has no equivalent';

/** Line and column (1-based) of character offset `at` in `text`. */
function position(text: string, at: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(at, text.length)));
  const nl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: at - nl };
}

/** A parsed template token as mustache.js returns it: [type, value, start, end, children?, …]. */
type Token = [string, string, number, number, Token[]?, ...unknown[]];

/**
 * Parses a kickstart template and checks every tag against {@link KICKSTART_FIELDS}.
 * @returns the tokens, or the first problem (with line and column)
 */
export function parseKickstartTemplate(
  text: string,
): { tokens: Token[]; problem?: undefined } | { problem: TemplateProblem } {
  // Eta's tags (`<%`, `<%=`, `<%~`, `%>`) in a template that did not switch Mustache's delimiters.
  const eta = /<%[-_]?[=~]?[\s\S]*?%>/.exec(text);
  if (eta && !text.includes('{{=')) {
    return {
      problem: {
        ...position(text, eta.index),
        message: `Eta syntax ${JSON.stringify(eta[0].slice(0, 40))}: ${ETA_HINT}`,
      },
    };
  }
  let tokens: Token[];
  try {
    tokens = Mustache.parse(text) as unknown as Token[];
  } catch (e) {
    const raw = e instanceof Error ? e.message : String(e);
    const at = / at (\d+)$/.exec(raw);
    const message = (at ? raw.slice(0, at.index) : raw)
      .replace(/^Unclosed/, 'unclosed')
      .replace(/^Unopened/, 'unopened');
    const offset = at ? (unclosedStart(text, message) ?? Number(at[1])) : undefined;
    return { problem: { ...(offset !== undefined ? position(text, offset) : {}), message } };
  }
  const problem = checkTokens(text, tokens, false);
  return problem ? { problem } : { tokens };
}

/**
 * mustache.js reports an unclosed tag or section at the end of the text; the opening is what the
 * author must find: the first `{{` never closed, or the last `{{#name}}`/`{{^name}}`.
 */
function unclosedStart(text: string, message: string): number | undefined {
  if (message === 'unclosed tag') {
    for (let i = text.indexOf('{{'); i >= 0; i = text.indexOf('{{', i + 2)) if (text.indexOf('}}', i + 2) < 0) return i;
    return undefined;
  }
  const section = /^unclosed section "(.*)"$/.exec(message)?.[1];
  if (section === undefined) return undefined;
  const name = section.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  let last: number | undefined;
  for (const m of text.matchAll(new RegExp(`\\{\\{\\s*[#^]\\s*${name}\\s*\\}\\}`, 'g'))) last = m.index;
  return last;
}

/** The first tag of `tokens` (recursively) that names something other than a field. */
function checkTokens(text: string, tokens: Token[], inSection: boolean): TemplateProblem | undefined {
  for (const t of tokens) {
    const [type, name, start] = t;
    if (type === '>')
      return { ...position(text, start), message: `partials ({{> ${name}}}) are not supported in kickstart templates` };
    if (type === 'name' || type === '&' || type === '#' || type === '^') {
      const ok = FIELDS.has(name) || (name === '.' && inSection && type !== '#' && type !== '^');
      if (!ok)
        return {
          ...position(text, start),
          message:
            name === '.'
              ? '{{.}} is only allowed inside a {{#field}} section (it is that field)'
              : `unknown field "${name}": kickstart templates may use ${KICKSTART_FIELDS.join(', ')}`,
        };
    }
    if ((type === '#' || type === '^') && t[4]) {
      const inner = checkTokens(text, t[4], type === '#');
      if (inner) return inner;
    }
  }
  return undefined;
}

/**
 * Renders a checked kickstart template. The view has no prototype and holds only `data`'s
 * strings (and nulls); output is not escaped (a ks.cfg is not HTML).
 * @throws Error with a {@link TemplateProblem} message when the template does not pass
 *   {@link parseKickstartTemplate} (line and column in `cause`)
 */
export function renderKickstartTemplate(text: string, data: Record<KickstartField, string | null>): string {
  const parsed = parseKickstartTemplate(text);
  if (parsed.problem) throw new Error(parsed.problem.message, { cause: parsed.problem });
  const view = Object.create(null) as Record<string, string | null>;
  for (const f of KICKSTART_FIELDS) view[f] = typeof data[f] === 'string' ? data[f] : null;
  return new Mustache.Writer().render(text, view, {}, { escape: (s: string) => s });
}

/**
 * Checks a kickstart template without rendering it: it parses, uses only
 * {@link KICKSTART_FIELDS}, and outputs `{{firstboot}}` (the section that phones home) outside
 * any section.
 * @returns the first problem, or undefined
 */
export function checkKickstartTemplate(text: string): TemplateProblem | undefined {
  const parsed = parseKickstartTemplate(text);
  if (parsed.problem) return parsed.problem;
  if (!parsed.tokens.some(([type, name]) => (type === 'name' || type === '&') && name === 'firstboot')) {
    return {
      message:
        'the template does not output {{firstboot}} (outside any section), the statelesx %firstboot section: an installed host would never phone home',
    };
  }
  return undefined;
}

/**
 * The templates directory used when no configuration names one: `templates` beside the cluster
 * file's directory (the layout of the default configuration, `./clusters` and `./templates`).
 */
export function defaultTemplatesDir(clusterFile: string): string {
  return resolve(dirname(resolve(clusterFile)), '..', 'templates');
}

/**
 * Resolves, reads and checks the kickstart template `ref` of a cluster file. `ref` is relative
 * to `templatesDir` and must stay inside it (after following symbolic links); `*.xml` files are
 * refused. Never throws for bad input.
 * @param templatesDir config `templates-dir` (absolute), see {@link defaultTemplatesDir}
 * @returns the loaded template, or `problem`: a message naming the path (and, for template
 *   errors, `template file:line[:column]`)
 */
export async function loadKickstartTemplate(
  ref: string,
  templatesDir: string,
): Promise<{ template: LoadedKickstartTemplate; problem?: undefined } | { template?: undefined; problem: string }> {
  const root = resolve(templatesDir);
  const fail = (problem: string) => ({ problem });
  if (ref.includes('\\') || isAbsolute(ref) || /^[A-Za-z]:/.test(ref)) {
    return fail(
      `kickstartTemplate "${ref}" must be a path relative to the templates directory ${root} (templates-dir), with / separators`,
    );
  }
  const target = resolve(root, ref);
  if (!inside(root, target))
    return fail(
      `kickstartTemplate "${ref}" resolves to ${target}, outside the templates directory ${root} (templates-dir): templates must be inside it`,
    );
  if (/\.xml$/i.test(target))
    return fail(`kickstartTemplate "${ref}" is an .xml file: cluster files are never templates`);
  let real: string;
  try {
    const realRoot = await realpath(root);
    real = await realpath(target);
    if (!inside(realRoot, real))
      return fail(
        `kickstartTemplate "${ref}" is a symbolic link to ${real}, outside the templates directory ${realRoot}: templates must be inside it`,
      );
    if (/\.xml$/i.test(real))
      return fail(`kickstartTemplate "${ref}" leads to the .xml file ${real}: cluster files are never templates`);
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
  const p = checkKickstartTemplate(text);
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
