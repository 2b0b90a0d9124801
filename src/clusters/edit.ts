/**
 * Text-level edits of cluster files for the console (one-click join): the file's formatting,
 * comments and indentation stay byte-for-byte as they were outside the inserted element; the
 * result is validated (XSD + per-file semantics) before it is returned.
 */
import { isNilUuid, normalizeMac, normalizeUuid, swapUuidByteOrder } from '../hosts/identity.js';
import { ClusterValidationError } from './diagnostics.js';
import { loadClusterText } from './load.js';
import type { SemanticContext } from './semantics.js';
import type { MemberHost } from './types.js';
import { guardXml } from './xml-guard.js';
import { childNamed, childrenNamed, escapeXml, parseXmlTree, type XmlElement } from './xml-tree.js';

/** The host to add: a {@link MemberHost} without position; `addresses` optional. */
export type NewMemberHost = Omit<MemberHost, 'pos' | 'addresses'> & { addresses?: Record<string, string> };

/** Why an edit was refused before validation (the host is already there, or the input is malformed). */
export class MemberEditError extends Error {
  constructor(
    message: string,
    readonly code: 'duplicate-uuid' | 'duplicate-fqdn' | 'bad-input' | 'bad-file',
  ) {
    super(message);
    this.name = 'MemberEditError';
  }
}

/**
 * Returns `xmlText` with a `<host>` element for `host` appended to `<members>`, indented like its
 * siblings and using the file's line ending.
 * @param opts.file name used in diagnostics (default `cluster.xml`)
 * @param opts.context configuration names for the semantic checks of the result
 * @throws MemberEditError when the UUID (either byte order) or FQDN is already a member, the host
 *   fields are malformed, or the file cannot be parsed
 * @throws ClusterValidationError when the result does not validate (e.g. the cluster has static
 *   VMkernel NICs and `host.addresses` lacks one), with all diagnostics
 */
export async function addMemberHost(
  xmlText: string,
  host: NewMemberHost,
  opts: { file?: string; context?: SemanticContext } = {},
): Promise<string> {
  const file = opts.file ?? 'cluster.xml';
  const bom = xmlText.charCodeAt(0) === 0xfeff ? '\uFEFF' : '';
  const text = bom ? xmlText.slice(1) : xmlText;

  const uuid = normalizeUuid(host.uuid);
  if (!uuid || isNilUuid(uuid)) throw new MemberEditError(`"${host.uuid}" is not a usable SMBIOS UUID`, 'bad-input');
  const fqdn = host.fqdn.trim().replace(/\.$/, '').toLowerCase();
  let mac: string | undefined;
  if (host.mac !== undefined) {
    mac = normalizeMac(host.mac) ?? undefined;
    if (!mac) throw new MemberEditError(`"${host.mac}" is not a MAC address`, 'bad-input');
  }

  const guard = guardXml(text, file);
  if (guard.length) throw new ClusterValidationError(guard);
  const parsed = parseXmlTree(text, file);
  if (!parsed.root) throw new ClusterValidationError(parsed.errors);
  const root = parsed.root;
  const members = childNamed(root, 'members');
  if (!members) throw new MemberEditError(`${file}: the cluster has no <members> element`, 'bad-file');

  for (const h of childrenNamed(members, 'host')) {
    const other = normalizeUuid(h.attrs.get('uuid')?.value ?? '');
    const otherFqdn = (h.attrs.get('fqdn')?.value ?? '').trim().replace(/\.$/, '').toLowerCase();
    if (other && (other === uuid || other === swapUuidByteOrder(uuid))) {
      throw new MemberEditError(
        `UUID ${uuid} is already a member (${otherFqdn}, line ${h.pos.line})`,
        'duplicate-uuid',
      );
    }
    if (otherFqdn === fqdn)
      throw new MemberEditError(`${fqdn} is already a member (line ${h.pos.line})`, 'duplicate-fqdn');
  }

  const nl = text.includes('\r\n') ? '\r\n' : '\n';
  const membersIndent = indentOf(text, members);
  const unit = indentUnit(text, root, members);
  const hosts = childrenNamed(members, 'host');
  const hostIndent = hosts.length ? indentOf(text, hosts[hosts.length - 1]!) : membersIndent + unit;
  const element = renderHost({ ...host, fqdn, uuid, ...(mac ? { mac } : {}) }, hostIndent, unit, nl);

  let out: string;
  if (members.selfClosing) {
    const openTag = text.slice(members.start, members.startTagEnd - 2).trimEnd() + '>';
    const closeName = openTag.slice(1).split(/[\s>]/)[0]!;
    out =
      text.slice(0, members.start) +
      `${openTag}${nl}${hostIndent}${element}${nl}${membersIndent}</${closeName}>` +
      text.slice(members.end);
  } else {
    const closeStart = text.lastIndexOf('</', members.end - 1);
    let at = closeStart;
    while (at > members.startTagEnd && /\s/.test(text[at - 1]!)) at--;
    const between = text.slice(at, closeStart);
    const tail = between.includes('\n') ? '' : `${nl}${membersIndent}`;
    out = text.slice(0, at) + `${nl}${hostIndent}${element}${tail}` + text.slice(at);
  }

  const check = await loadClusterText(out, file, opts.context ? { context: opts.context } : {});
  if (check.diagnostics.length) throw new ClusterValidationError(check.diagnostics);
  return bom + out;
}

/** The `<host>` element (its first line unindented; following lines indented). */
function renderHost(h: NewMemberHost, indent: string, unit: string, nl: string): string {
  const attrs: [string, string | undefined][] = [
    ['fqdn', h.fqdn],
    ['uuid', h.uuid],
    ['mac', h.mac],
    ['image', h.image],
    ['thumbprint', h.thumbprint],
  ];
  const open =
    '<host' +
    attrs
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => ` ${k}="${escapeXml(v!)}"`)
      .join('');
  const addresses = Object.entries(h.addresses ?? {});
  if (addresses.length === 0) return open + '/>';
  const lines = addresses.map(
    ([vmk, ip]) => `${indent}${unit}<address vmk="${escapeXml(vmk)}">${escapeXml(ip)}</address>`,
  );
  return `${open}>${nl}${lines.join(nl)}${nl}${indent}</host>`;
}

/** The whitespace between the start of `el`'s line and `<` (empty when other text precedes it). */
function indentOf(text: string, el: XmlElement): string {
  const lineStart = Math.max(text.lastIndexOf('\n', el.start - 1) + 1, 0);
  const lead = text.slice(lineStart, el.start);
  return /^[ \t]*$/.test(lead) ? lead : '';
}

/** One indentation step: `members` relative to the document element, else two spaces. */
function indentUnit(text: string, root: XmlElement, members: XmlElement): string {
  const outer = indentOf(text, root);
  const inner = indentOf(text, members);
  if (inner.length > outer.length && inner.startsWith(outer)) return inner.slice(outer.length);
  return inner.includes('\t') ? '\t' : '  ';
}
