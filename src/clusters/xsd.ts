/**
 * XSD validation of cluster files with libxml2 (xmllint-wasm, run in a worker thread) against
 * `schemas/cluster.xsd`. libxml2 reports a line and the element; this module turns that into a
 * line, column and element path using the positioned tree of the same text.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateXML } from 'xmllint-wasm';
import type { ClusterDiagnostic } from './diagnostics.js';
import { walkElements, type XmlElement } from './xml-tree.js';

/** Target namespace of cluster files. */
export const CLUSTER_NAMESPACE = 'urn:statelesx:cluster:1';

let schemaText: string | undefined;

/**
 * Absolute path of `schemas/cluster.xsd`, found by walking up from this module (works from
 * `src/clusters/` under tsx and from `dist/src/clusters/` after the build).
 * @throws Error when the schema file cannot be found
 */
export function clusterSchemaPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 6; up++) {
    const candidate = join(dir, 'schemas', 'cluster.xsd');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('schemas/cluster.xsd not found above ' + dirname(fileURLToPath(import.meta.url)));
}

/** The schema text (read once). */
export function clusterSchema(): string {
  schemaText ??= readFileSync(clusterSchemaPath(), 'utf8');
  return schemaText;
}

/** One document to validate: its display name, text and (when well-formed) positioned tree. */
export interface XsdInput {
  file: string;
  text: string;
  root?: XmlElement;
}

/**
 * Validates documents against the cluster schema in one xmllint run.
 * @returns diagnostics per input (same order); an empty list means valid
 * @throws Error only when xmllint itself fails (schema broken, worker crashed)
 */
export async function validateAgainstXsd(inputs: XsdInput[]): Promise<ClusterDiagnostic[][]> {
  if (inputs.length === 0) return [];
  // xmllint sees neutral names (doc0.xml …): file names may contain characters it would misread.
  const result = await validateXML({
    xml: inputs.map((inp, i) => ({ fileName: `doc${i}.xml`, contents: inp.text })),
    schema: [{ fileName: 'cluster.xsd', contents: clusterSchema() }],
  });
  const out: ClusterDiagnostic[][] = inputs.map(() => []);
  if (result.valid) return out;
  let last = -1;
  for (const err of result.errors) {
    const m = err.loc ? /^doc(\d+)\.xml$/.exec(err.loc.fileName) : null;
    if (!m || !err.loc) {
      // Continuation lines of a parser error (source excerpt, caret): ignore.
      continue;
    }
    const idx = Number(m[1]);
    const inp = inputs[idx];
    if (!inp) continue;
    last = idx;
    out[idx]!.push(locate(inp, err.loc.lineNumber, err.message));
  }
  if (last < 0) {
    // Invalid without a parsable location: report it against every input that had no error.
    const msg = result.rawOutput.split('\n').find((l) => l.trim()) ?? 'schema validation failed';
    inputs.forEach(
      (inp, i) => out[i]!.length === 0 && out[i]!.push({ file: inp.file, line: 1, column: 1, path: '/', message: msg }),
    );
  }
  return out;
}

/** Rewrites libxml2's message and finds the element (and attribute) it names near `line`. */
function locate(inp: XsdInput, line: number, rawMessage: string): ClusterDiagnostic {
  const message = rawMessage
    .replace(/^Schemas validity error : /, '')
    .replace(/^parser error : /, 'not well-formed XML: ')
    .replace(/\{urn:statelesx:cluster:1\}/g, '')
    .trim();
  const m = /^Element '(?:\{[^}]*\})?([^']+)'(?:, attribute '([^']+)')?/.exec(
    rawMessage.replace(/^Schemas validity error : /, ''),
  );
  if (inp.root && m) {
    const name = m[1]!.replace(/^.*:/, '');
    const attr = m[2];
    let best: XmlElement | undefined;
    for (const el of walkElements(inp.root)) {
      if (el.name !== name) continue;
      const first = el.pos.line;
      // libxml2 records an element's line where its start tag ends; accept the whole start tag.
      if (first <= line && line <= lineOf(inp.text, el.startTagEnd - 1, first, el.start)) {
        best = el;
        break;
      }
    }
    if (best) {
      const a = attr ? best.attrs.get(attr.replace(/^.*:/, '')) : undefined;
      const pos = a ? a.pos : best.pos;
      return { ...pos, message };
    }
  }
  return { file: inp.file, line, column: 1, path: '/', message };
}

/** Line number of `offset`, counting from `fromLine` at `fromOffset`. */
function lineOf(text: string, offset: number, fromLine: number, fromOffset: number): number {
  let line = fromLine;
  for (let i = fromOffset; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
