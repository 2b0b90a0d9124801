/**
 * Refuses dangerous or oversized XML before any XML parser sees it.
 *
 * A cluster file needs no DTD, so it may have none: `<!DOCTYPE`, `<!ENTITY` and every other
 * markup declaration are refused, as are entity references other than the five predefined ones
 * (`&lt; &gt; &amp; &apos; &quot;`, XML 1.0 §4.6) and character references. That rules out
 * external entities (XXE) and entity expansion (billion laughs) whatever the parser does.
 * Size, nesting depth, attribute length and element count are bounded too, so a hostile file
 * costs one linear scan. Comments, CDATA sections and processing instructions are skipped
 * (their content is not markup).
 */
import { LineIndex, pathSegment, type ClusterDiagnostic } from './diagnostics.js';

/** Limits applied to a cluster file. */
export interface XmlLimits {
  /** Maximum size in bytes (UTF-8). Default 1 MiB. */
  maxBytes: number;
  /** Maximum element nesting depth (the document element is depth 1). Default 16. */
  maxDepth: number;
  /** Maximum length of one attribute value or text run between tags, in characters. Default 4096. */
  maxValueLength: number;
  /** Maximum number of elements. Default 20 000. */
  maxElements: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = {
  maxBytes: 1024 * 1024,
  maxDepth: 16,
  maxValueLength: 4096,
  maxElements: 20_000,
};

const ALLOWED_REF = /^&(?:lt|gt|amp|apos|quot|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});/;

/**
 * Scans `text` and returns the first problem found (an empty list means the text may be
 * handed to a parser). Never throws; linear in the text length.
 * @param file name used in the diagnostic
 */
export function guardXml(text: string, file: string, limits: XmlLimits = DEFAULT_XML_LIMITS): ClusterDiagnostic[] {
  const lines = new LineIndex(text);
  const stack: { name: string; counts: Map<string, number>; path: string }[] = [];
  const top = { counts: new Map<string, number>(), path: '' };
  const here = () => (stack.length ? stack[stack.length - 1]!.path : '/');
  const fail = (offset: number, message: string, path = here()): ClusterDiagnostic[] => {
    const { line, column } = lines.at(offset);
    return [{ file, line, column, path, message }];
  };

  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) {
    return fail(0, `file is ${bytes} bytes; cluster files are limited to ${limits.maxBytes} bytes`, '/');
  }

  let elements = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const lt = text.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    // Character data between tags: only predefined entity and character references.
    if (textEnd - i > limits.maxValueLength && text.slice(i, textEnd).trim().length > limits.maxValueLength) {
      return fail(i, `text longer than ${limits.maxValueLength} characters`);
    }
    for (let amp = text.indexOf('&', i); amp >= 0 && amp < textEnd; amp = text.indexOf('&', amp + 1)) {
      const bad = checkReference(text, amp);
      if (bad) return fail(amp, bad);
    }
    if (lt < 0) break;

    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt + 4);
      if (end < 0) return fail(lt, 'comment is not closed (missing -->)');
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', lt)) {
      const end = text.indexOf(']]>', lt + 9);
      if (end < 0) return fail(lt, 'CDATA section is not closed (missing ]]>)');
      i = end + 3;
    } else if (text.startsWith('<?', lt)) {
      const end = text.indexOf('?>', lt + 2);
      if (end < 0) return fail(lt, 'processing instruction is not closed (missing ?>)');
      i = end + 2;
    } else if (text.startsWith('<!', lt)) {
      const decl = /^<!([A-Za-z]+)/.exec(text.slice(lt, lt + 20))?.[1] ?? '';
      return fail(
        lt,
        decl.toUpperCase() === 'DOCTYPE'
          ? 'DOCTYPE declarations are not allowed in cluster files (no DTDs, no entities)'
          : `markup declaration <!${decl}> is not allowed in cluster files (no DTDs, no entities)`,
      );
    } else if (text.startsWith('</', lt)) {
      const end = text.indexOf('>', lt + 2);
      if (end < 0) return fail(lt, 'end tag is not closed (missing >)');
      stack.pop();
      i = end + 1;
    } else {
      // Start tag: walk to its '>' outside quotes, checking attribute values.
      const nameMatch = /^<([^\s/>]+)/.exec(text.slice(lt, lt + 256));
      const name = (nameMatch?.[1] ?? '').replace(/^.*:/, '');
      const j = endOfStartTag(text, lt, limits.maxValueLength);
      if (typeof j !== 'number') return fail(j.offset, j.message);
      if (++elements > limits.maxElements) {
        return fail(lt, `more than ${limits.maxElements} elements`);
      }
      const parent = stack.length ? stack[stack.length - 1]! : top;
      const index = (parent.counts.get(name) ?? 0) + 1;
      parent.counts.set(name, index);
      const path = `${parent.path}/${pathSegment(name, index)}`;
      const selfClosing = text[j - 1] === '/';
      if (!selfClosing) {
        stack.push({ name, counts: new Map(), path });
        if (stack.length > limits.maxDepth) {
          return fail(lt, `elements nested deeper than ${limits.maxDepth} levels`, path);
        }
      }
      i = j + 1;
    }
  }
  return [];
}

/**
 * The offset of the `>` that ends the start tag at `lt` (outside quoted attribute values), or the
 * first problem: an attribute value longer than `maxValueLength`, a disallowed reference or a `<`
 * in a value, or no `>` at all.
 */
function endOfStartTag(text: string, lt: number, maxValueLength: number): number | { offset: number; message: string } {
  const n = text.length;
  let j = lt + 1;
  let quote = '';
  let valueStart = 0;
  for (; j < n; j++) {
    const c = text[j]!;
    if (quote) {
      if (c === quote) {
        if (j - valueStart > maxValueLength) {
          return { offset: valueStart, message: `attribute value longer than ${maxValueLength} characters` };
        }
        quote = '';
      } else if (c === '&') {
        const bad = checkReference(text, j);
        if (bad) return { offset: j, message: bad };
      } else if (c === '<') {
        return { offset: j, message: "'<' is not allowed in an attribute value (write &lt;)" };
      }
    } else if (c === '"' || c === "'") {
      quote = c;
      valueStart = j + 1;
    } else if (c === '>') {
      break;
    }
  }
  if (j >= n) return { offset: lt, message: 'start tag is not closed (missing >)' };
  return j;
}

/** Null when the reference at `amp` is allowed, otherwise the reason. */
function checkReference(text: string, amp: number): string | null {
  const slice = text.slice(amp, amp + 16);
  if (ALLOWED_REF.test(slice)) return null;
  const named =
    /^&([A-Za-z_:][-A-Za-z0-9._:]*);/.exec(slice) ?? /^&([A-Za-z_:][-A-Za-z0-9._:]*);/.exec(text.slice(amp, amp + 256));
  if (named) {
    return `entity reference &${named[1]}; is not allowed (only &lt; &gt; &amp; &apos; &quot; and character references)`;
  }
  return "'&' must be written as &amp;";
}
