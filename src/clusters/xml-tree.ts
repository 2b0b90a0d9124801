/**
 * A positioned element tree of a (guarded, well-formed) cluster file, parsed with
 * fast-xml-parser (`preserveOrder` + `captureMetaData` give each element's start and end offset);
 * attribute offsets come from a scan of the start tag. Namespace prefixes are dropped
 * (the XSD already checked the namespace). Comments are skipped; text is entity-decoded.
 *
 * Call only after {@link guardXml} accepted the text: no DTD, no entity declarations.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { LineIndex, pathSegment, type ClusterDiagnostic } from './diagnostics.js';
import type { SourcePos } from './types.js';

/** An attribute with its decoded value and where its name starts. */
export interface XmlAttr {
  name: string;
  value: string;
  pos: SourcePos;
}

/** An element with its children, direct text and offsets into the source text. */
export interface XmlElement {
  /** Local name (prefix removed). */
  name: string;
  attrs: Map<string, XmlAttr>;
  children: XmlElement[];
  /** Concatenated direct text content, decoded, untrimmed. */
  text: string;
  /** Offset of `<`. */
  start: number;
  /** Offset just past the start tag's `>`. */
  startTagEnd: number;
  /** Offset just past the element (after the end tag, or the `/>` of an empty-element tag). */
  end: number;
  selfClosing: boolean;
  pos: SourcePos;
}

/** Result of {@link parseXmlTree}: the document element, or the well-formedness error. */
export type ParseResult = { root: XmlElement; errors: [] } | { root?: undefined; errors: ClusterDiagnostic[] };

const parser = new XMLParser({
  preserveOrder: true,
  captureMetaData: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  removeNSPrefix: true,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: false,
  ignorePiTags: true,
});
const META = XMLParser.getMetaDataSymbol() as unknown as symbol;

const REF = /&(lt|gt|amp|apos|quot|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});/g;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };

/** Decodes the five predefined entities and character references in one pass. */
export function decodeXmlText(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(REF, (_m, ref: string) => {
    if (ref[0] !== '#') return PREDEFINED[ref]!;
    const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : '\uFFFD';
  });
}

/** Escapes text for an attribute value or character data. */
export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

type FxpNode = Record<string | symbol, unknown>;

/**
 * Parses `text` into a positioned tree. Well-formedness errors come back as diagnostics with
 * line and column; never throws for bad input.
 * @param file used in positions and diagnostics
 */
export function parseXmlTree(text: string, file: string): ParseResult {
  const lines = new LineIndex(text);
  const wf = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (wf !== true) {
    return {
      errors: [
        { file, line: wf.err.line, column: wf.err.col, path: '/', message: `not well-formed XML: ${wf.err.msg}` },
      ],
    };
  }
  let nodes: FxpNode[];
  try {
    nodes = parser.parse(text) as FxpNode[];
  } catch (e) {
    return {
      errors: [{ file, line: 1, column: 1, path: '/', message: `not well-formed XML: ${(e as Error).message}` }],
    };
  }
  const posAt = (offset: number, path: string): SourcePos => ({ file, ...lines.at(offset), path });

  const build = (node: FxpNode, name: string, parentPath: string, index: number): XmlElement => {
    const meta = node[META] as { startIndex?: number; endIndex?: number } | undefined;
    const start = meta?.startIndex ?? 0;
    const end = meta?.endIndex ?? start;
    const path = `${parentPath}/${pathSegment(name, index)}`;
    const tag = scanStartTag(text, start);
    const rawAttrs = (node[':@'] ?? {}) as Record<string, string>;
    const attrs = new Map<string, XmlAttr>();
    for (const [k, v] of Object.entries(rawAttrs)) {
      const local = k.replace(/^.*:/, '');
      if (k === 'xmlns' || k.startsWith('xmlns:')) continue;
      const off = tag.attrOffsets.get(k) ?? tag.attrOffsets.get(local) ?? start;
      attrs.set(local, { name: local, value: decodeXmlText(String(v)), pos: posAt(off, `${path}/@${local}`) });
    }
    const el: XmlElement = {
      name,
      attrs,
      children: [],
      text: '',
      start,
      startTagEnd: tag.end,
      end,
      selfClosing: tag.selfClosing,
      pos: posAt(start, path),
    };
    const counts = new Map<string, number>();
    for (const child of (node[name] as FxpNode[] | undefined) ?? []) {
      const childName = Object.keys(child).find((k) => k !== ':@');
      if (childName === undefined) continue;
      if (childName === '#text') {
        el.text += decodeXmlText(String(child['#text']));
        continue;
      }
      if (childName.startsWith('?') || childName.startsWith('#')) continue;
      const i = (counts.get(childName) ?? 0) + 1;
      counts.set(childName, i);
      el.children.push(build(child, childName, path, i));
    }
    return el;
  };

  for (const node of nodes) {
    const name = Object.keys(node).find((k) => k !== ':@');
    if (name && !name.startsWith('?') && !name.startsWith('#')) return { root: build(node, name, '', 1), errors: [] };
  }
  return { errors: [{ file, line: 1, column: 1, path: '/', message: 'no document element' }] };
}

/** Attribute name offsets and the end of the start tag beginning at `start` (`<`). */
function scanStartTag(
  text: string,
  start: number,
): { end: number; selfClosing: boolean; attrOffsets: Map<string, number> } {
  const attrOffsets = new Map<string, number>();
  let j = start + 1;
  while (j < text.length && !/[\s/>]/.test(text[j]!)) j++;
  for (;;) {
    while (j < text.length && /\s/.test(text[j]!)) j++;
    const c = text[j];
    if (c === undefined) return { end: text.length, selfClosing: false, attrOffsets };
    if (c === '>') return { end: j + 1, selfClosing: false, attrOffsets };
    if (c === '/' && text[j + 1] === '>') return { end: j + 2, selfClosing: true, attrOffsets };
    const nameStart = j;
    while (j < text.length && !/[\s=/>]/.test(text[j]!)) j++;
    const attrName = text.slice(nameStart, j);
    if (attrName === '') {
      j++;
      continue;
    }
    attrOffsets.set(attrName, nameStart);
    while (j < text.length && /\s/.test(text[j]!)) j++;
    if (text[j] !== '=') continue;
    j++;
    while (j < text.length && /\s/.test(text[j]!)) j++;
    const q = text[j];
    if (q === '"' || q === "'") {
      const close = text.indexOf(q, j + 1);
      j = close < 0 ? text.length : close + 1;
    }
  }
}

/** Direct children named `name`. */
export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** The first direct child named `name`. */
export function childNamed(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

/** Depth-first walk over `el` and its descendants. */
export function* walkElements(el: XmlElement): Generator<XmlElement> {
  yield el;
  for (const c of el.children) yield* walkElements(c);
}
