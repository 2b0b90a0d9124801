/**
 * XML for vim25: the request serializer (driven by the type table in schema.ts, so members go
 * out in WSDL order with `xsi:type` where the API needs it) and the response side (fast-xml-parser
 * tree + a schema-driven decoder that turns DataObjects into plain typed JS values).
 *
 * Values given to the serializer are plain objects. A data object's runtime type is its static
 * (declared) type unless it carries `_type` (e.g. `{ _type: 'TraversalSpec', ... }` where a
 * SelectionSpec is declared). Managed object references are `{ type, value }`; `anyType`
 * members take an {@link XsdValue}.
 */
import { XMLParser } from 'fast-xml-parser';
import { allMembers, DATA_TYPES, isSubtype, METHODS, PRIMITIVES, type MemberDef, type XsdValue } from './schema.js';

/** vim25 ManagedObjectReference: `<x type="HostSystem">host-12</x>`. */
export interface MoRef {
  type: string;
  value: string;
}

/** A request value that cannot be serialized (programming error in the caller); names the path. */
export class VsphereSerializeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VsphereSerializeError';
  }
}

/** Escapes XML text and attribute content: & < > " '. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function primitiveText(type: string, v: unknown, path: string): string {
  switch (type) {
    case 'string':
    case 'dateTime':
    case 'base64Binary':
      if (typeof v !== 'string')
        throw new VsphereSerializeError(`${path}: expected a string (${type}), got ${typeof v}`);
      return escapeXml(v);
    case 'int':
    case 'long':
    case 'short':
    case 'byte':
      if (typeof v !== 'number' || !Number.isInteger(v))
        throw new VsphereSerializeError(`${path}: expected an integer (xsd:${type}), got ${String(v)}`);
      return String(v);
    case 'double':
    case 'float':
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new VsphereSerializeError(`${path}: expected a number, got ${String(v)}`);
      return String(v);
    case 'boolean':
      if (typeof v !== 'boolean') throw new VsphereSerializeError(`${path}: expected a boolean, got ${String(v)}`);
      return v ? 'true' : 'false';
    default:
      throw new VsphereSerializeError(`${path}: unknown primitive ${type}`);
  }
}

/** Serializes one member value (already known to be present) as `<name ...>...</name>`. */
function serializeElement(m: MemberDef, v: unknown, path: string): string {
  const name = m.name;
  if (m.type === 'ManagedObjectReference') {
    const r = v as MoRef;
    if (!r || typeof r.type !== 'string' || typeof r.value !== 'string') {
      throw new VsphereSerializeError(`${path}: expected a ManagedObjectReference {type, value}`);
    }
    return `<${name} type="${escapeXml(r.type)}">${escapeXml(r.value)}</${name}>`;
  }
  if (m.type === 'anyType') {
    const x = v as XsdValue;
    if (!x || typeof x.xsdType !== 'string' || x.value === undefined) {
      throw new VsphereSerializeError(`${path}: expected {xsdType, value} for an anyType member`);
    }
    const prim = x.xsdType.startsWith('xsd:') ? x.xsdType.slice(4) : undefined;
    if (!prim) throw new VsphereSerializeError(`${path}: only xsd: types are supported in anyType (got ${x.xsdType})`);
    return `<${name} xsi:type="${escapeXml(x.xsdType)}">${primitiveText(prim, x.value, path)}</${name}>`;
  }
  if (PRIMITIVES.has(m.type)) return `<${name}>${primitiveText(m.type, v, path)}</${name}>`;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new VsphereSerializeError(`${path}: expected a ${m.type} object`);
  }
  const obj = v as Record<string, unknown>;
  const rt = typeof obj._type === 'string' ? obj._type : m.type;
  if (!DATA_TYPES.has(rt)) throw new VsphereSerializeError(`${path}: type ${rt} is not in the schema table`);
  if (!isSubtype(rt, m.type)) throw new VsphereSerializeError(`${path}: ${rt} is not a subtype of ${m.type}`);
  const attr = m.polymorphic || rt !== m.type ? ` xsi:type="${rt}"` : '';
  return `<${name}${attr}>${serializeMembers(rt, allMembers(rt), obj, path)}</${name}>`;
}

/**
 * Serializes the members of a data object (or a method's parameters) in declared order.
 * Throws {@link VsphereSerializeError} on unknown keys, missing required members or wrong types.
 */
export function serializeMembers(
  typeName: string,
  members: MemberDef[],
  obj: Record<string, unknown>,
  path: string,
): string {
  const known = new Set(members.map((m) => m.name));
  for (const k of Object.keys(obj)) {
    if (k !== '_type' && !known.has(k) && obj[k] !== undefined) {
      throw new VsphereSerializeError(
        `${path}.${k}: ${typeName} has no member "${k}" (members: ${[...known].join(', ')})`,
      );
    }
  }
  let out = '';
  for (const m of members) {
    const v = obj[m.name];
    const p = `${path}.${m.name}`;
    if (v === undefined || v === null) {
      if (m.required) throw new VsphereSerializeError(`${p}: required member of ${typeName} is missing`);
      continue;
    }
    if (m.array) {
      if (!Array.isArray(v)) throw new VsphereSerializeError(`${p}: expected an array`);
      v.forEach((item, i) => {
        out += serializeElement(m, item, `${p}[${i}]`);
      });
    } else {
      if (Array.isArray(v)) throw new VsphereSerializeError(`${p}: expected a single value, got an array`);
      out += serializeElement(m, v, p);
    }
  }
  return out;
}

/** Serializes a data object as element `elementName` of static type `type`. */
export function serializeDataObject(
  elementName: string,
  type: string,
  value: Record<string, unknown>,
  polymorphic = false,
): string {
  return serializeElement({ name: elementName, type, required: true, array: false, polymorphic }, value, elementName);
}

/**
 * The SOAP body element of a vim25 method call: `<Method xmlns="urn:vim25"><_this ...>...</Method>`.
 * `params` are checked against {@link METHODS} (order, required, types).
 */
export function serializeCall(method: string, thisRef: MoRef, params: Record<string, unknown> = {}): string {
  const sig = METHODS.get(method);
  if (!sig) throw new VsphereSerializeError(`method ${method} is not in the schema table (src/vsphere/schema.ts)`);
  const self = `<_this type="${escapeXml(thisRef.type)}">${escapeXml(thisRef.value)}</_this>`;
  return `<${method} xmlns="urn:vim25">${self}${serializeMembers(method, sig, params, method)}</${method}>`;
}

/** A full SOAP 1.1 envelope around a body element. */
export function envelope(body: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' +
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
    `<soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`
  );
}

// ---------------------------------------------------------------------------------------------
// Response side
// ---------------------------------------------------------------------------------------------

/** A parsed XML element: text, or an object of attributes (`@_name`), `#text` and children. */
export type XmlNode = string | { [key: string]: XmlNode | XmlNode[] };

const XML_NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * XML's own entity decoding, in one pass: the five predefined entities and character references
 * (`&#39;`, `&#x41;` — Go's encoder, i.e. the simulator, writes `'` as `&#39;` in fault strings).
 * Nothing else: no HTML names (`&nbsp;` is not XML) and never an entity a DOCTYPE declares.
 */
const xmlEntities = {
  decode: (text: string): string =>
    text.replace(
      /&(?:#(\d+)|#x([0-9a-fA-F]+)|(amp|lt|gt|quot|apos));/g,
      (m, dec?: string, hex?: string, name?: string) => {
        if (name) return XML_NAMED[name]!;
        const cp = dec !== undefined ? Number(dec) : parseInt(hex!, 16);
        return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
      },
    ),
  setExternalEntities: () => undefined,
  addInputEntities: () => undefined,
  reset: () => undefined,
  setXmlVersion: () => undefined,
};

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  processEntities: true,
  entityDecoder: xmlEntities,
});

/** Parses an XML document (namespace prefixes kept: `xsi:type` and `type` stay apart). */
export function parseXml(text: string): XmlNode {
  return parser.parse(text) as XmlNode;
}

/** An array for a possibly-repeated element (undefined → []). */
export function list(x: XmlNode | XmlNode[] | undefined): XmlNode[] {
  if (x === undefined) return [];
  return Array.isArray(x) ? x : [x];
}

/** The child named `name`, ignoring a namespace prefix (`soapenv:Body` matches `Body`). */
export function child(node: XmlNode | undefined, name: string): XmlNode | XmlNode[] | undefined {
  if (node === undefined || typeof node === 'string') return undefined;
  if (name in node) return node[name];
  for (const k of Object.keys(node)) if (k.endsWith(`:${name}`)) return node[k];
  return undefined;
}

/** The first child named `name` (see {@link child}). */
export function first(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return list(child(node, name))[0];
}

/** Text content of an element ('' when empty). */
export function text(node: XmlNode | undefined): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node;
  const t = node['#text'];
  return typeof t === 'string' ? t : '';
}

/** The element's `xsi:type` (any prefix bound to the instance namespace; we see `xsi:`). */
export function xsiType(node: XmlNode | undefined): string | undefined {
  if (node === undefined || typeof node === 'string') return undefined;
  for (const k of Object.keys(node)) {
    if (k.startsWith('@_') && k.endsWith(':type')) return node[k] as string;
  }
  return undefined;
}

/** A ManagedObjectReference element → `{type, value}`. */
export function moref(node: XmlNode | undefined): MoRef {
  if (node === undefined || typeof node === 'string') return { type: '', value: text(node) };
  return { type: (node['@_type'] as string | undefined) ?? '', value: text(node) };
}

/** Child element names (attributes and text excluded). */
function childNames(node: XmlNode): string[] {
  if (typeof node === 'string') return [];
  return Object.keys(node).filter((k) => !k.startsWith('@_') && k !== '#text');
}

function decodePrimitive(type: string, s: string): unknown {
  switch (type) {
    case 'int':
    case 'long':
    case 'short':
    case 'byte':
    case 'double':
    case 'float':
      return Number(s);
    case 'boolean':
      return s === 'true' || s === '1';
    default:
      return s;
  }
}

/**
 * Decodes an element into a plain JS value guided by the schema: data objects → objects whose
 * repeated members are arrays (also with one element), ints → numbers, booleans → booleans,
 * references → {@link MoRef}. A type the table does not know is decoded generically (strings,
 * nested objects, arrays where elements repeat). `xsi:type` on the element wins over `type`;
 * the runtime type is kept in `_type` when it is not the static type.
 */
export function decode(node: XmlNode | undefined, type: string): unknown {
  if (node === undefined) return undefined;
  const xt = xsiType(node);
  if (xt?.startsWith('xsd:')) return decodePrimitive(xt.slice(4), text(node));
  if (xt === 'ManagedObjectReference') return moref(node);
  if (xt?.startsWith('ArrayOf')) {
    const inner = xt.slice(7);
    const itemType = inner === 'ManagedObjectReference' ? inner : inner.charAt(0).toLowerCase() + inner.slice(1);
    const elName = childNames(node)[0];
    if (elName === undefined) return [];
    const t = PRIMITIVES.has(itemType) ? itemType : inner;
    return list((node as Record<string, XmlNode | XmlNode[]>)[elName]).map((c) => decode(c, t));
  }
  if (type === 'ManagedObjectReference') return moref(node);
  if (PRIMITIVES.has(type) && type !== 'anyType') return decodePrimitive(type, text(node));
  const rt = xt && DATA_TYPES.has(xt) ? xt : type;
  if (!DATA_TYPES.has(rt)) return decodeGeneric(node);
  if (typeof node === 'string') return {};
  const members = new Map(allMembers(rt).map((m) => [m.name, m]));
  const out: Record<string, unknown> = {};
  if (xt && xt !== type) out._type = xt;
  for (const k of childNames(node)) {
    const m = members.get(k);
    const v = node[k];
    if (!m) {
      out[k] = Array.isArray(v) ? v.map(decodeGeneric) : decodeGeneric(v);
      continue;
    }
    const items = list(v).map((c) => decode(c, m.type));
    out[k] = m.array ? items : items[0];
  }
  return out;
}

/** Generic decoding for types outside the table: text, or an object of children (repeated → arrays). */
export function decodeGeneric(node: XmlNode | XmlNode[] | undefined): unknown {
  if (node === undefined) return undefined;
  if (Array.isArray(node)) return node.map(decodeGeneric);
  if (typeof node === 'string') return node;
  const names = childNames(node);
  if (names.length === 0) {
    if (typeof node['@_type'] === 'string' && !xsiType(node)) return moref(node);
    return text(node);
  }
  const out: Record<string, unknown> = {};
  const xt = xsiType(node);
  if (xt) out._type = xt;
  for (const k of names) out[k] = decodeGeneric(node[k]);
  return out;
}
