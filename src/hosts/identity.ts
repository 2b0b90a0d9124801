/**
 * Host identity: SMBIOS UUIDs in both byte orders, and MAC addresses.
 *
 * The PXE client GUID (DHCP option 97, RFC 4578 §2.3) and pxelinux's `pxelinux.cfg/<uuid>`
 * request carry the UUID with its first three fields little-endian (byte-swapped) relative to the
 * SMBIOS form that dmidecode, iPXE `${uuid}` and vCenter `hardware.systemInfo.uuid` show
 * (SMBIOS 2.6+ §7.2.1). We store the SMBIOS form and match either.
 */

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Lower-case dashed UUID, or null when the text is not a UUID (32 hex digits, dashes optional). */
export function normalizeUuid(text: string): string | null {
  const hex = text
    .trim()
    .toLowerCase()
    .replace(/^\{|\}$/g, '')
    .replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** True for the placeholder UUIDs firmware reports when it has none (all 0 or all F). */
export function isNilUuid(uuid: string): boolean {
  const hex = uuid.replace(/-/g, '').toLowerCase();
  return /^0{32}$/.test(hex) || /^f{32}$/.test(hex);
}

/**
 * Swaps the byte order of the first three fields (4, 2, 2 bytes). The operation is its own
 * inverse: SMBIOS form ⇄ wire (option 97 / pxelinux) form.
 * @param uuid a normalized UUID (see {@link normalizeUuid})
 */
export function swapUuidByteOrder(uuid: string): string {
  const h = uuid.replace(/-/g, '');
  const rev = (s: string) => s.match(/../g)!.reverse().join('');
  return `${rev(h.slice(0, 8))}-${rev(h.slice(8, 12))}-${rev(h.slice(12, 16))}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Both spellings of a UUID, SMBIOS form first. Null for malformed or nil UUIDs. */
export function uuidForms(text: string): { smbios: string; wire: string } | null {
  const u = normalizeUuid(text);
  if (!u || isNilUuid(u) || !UUID_RE.test(u)) return null;
  return { smbios: u, wire: swapUuidByteOrder(u) };
}

/**
 * Decodes the 16 UUID bytes of DHCP option 97 (type 0 + 16 bytes, RFC 4578 §2.3) into the
 * SMBIOS form. Returns null for a wrong length, a non-zero type or a nil UUID.
 */
export function uuidFromClientGuidOption(data: Uint8Array): string | null {
  if (data.length !== 17 || data[0] !== 0) return null;
  const hex = Buffer.from(data.subarray(1)).toString('hex');
  const wire = normalizeUuid(hex)!;
  if (isNilUuid(wire)) return null;
  return swapUuidByteOrder(wire);
}

/** `aa:bb:cc:dd:ee:ff` from any of `AA-BB-..`, `aabb.ccdd.eeff`, `aabbccddeeff`, or null. */
export function normalizeMac(text: string): string | null {
  const hex = text
    .trim()
    .toLowerCase()
    .replace(/[^0-9a-f]/g, '');
  if (hex.length !== 12 || !/^[0-9a-f:.\-\s]+$/i.test(text.trim())) return null;
  return hex.match(/../g)!.join(':');
}

/** pxelinux's per-MAC config name: `01-aa-bb-cc-dd-ee-ff` (ARP type 1 = Ethernet). */
export function pxelinuxMacName(mac: string): string {
  return '01-' + mac.replace(/:/g, '-');
}
