/**
 * The phone-home message: one line a freshly booted host sends to TCP 1974 (or the same fields
 * over HTTP). Pure functions, no I/O.
 *
 * Wire forms (one message per connection, ended by `\n`, `\r\n`, or the client closing):
 * - 1.0 (2008 scripts): `<uuid>`
 * - 1.1 (2008 scripts): `<hostname>:<uuid>`
 * - extension:          `<hostname>:<uuid> key=value key=value ...` (also accepted after a bare `<uuid>`)
 *   keys: `token`, `mac` (may repeat), `serial`, `vendor`, `model`, `version`, `thumbprint`
 *   (SHA-256 of the host's certificate /etc/vmware/ssl/rui.crt, 32 bytes colon hex),
 *   `thumbprint-sha1` (its SHA-1, 20 bytes colon hex, for vCenters that take only SHA-1),
 *   `stage` (only `installed`: sent by a stateful install's kickstart `%firstboot`, the install to
 *   disk is done — boot-once); any other key or `stage` value is an error. Values contain no spaces; anything else (spaces, `%`, `=`, non-ASCII) is percent-encoded
 *   (RFC 3986 §2.1). Fields are separated by spaces or tabs.
 *
 * The line is at most {@link MAX_MESSAGE_BYTES} bytes (terminator excluded) of strict UTF-8.
 * UUIDs are accepted in any spelling {@link normalizeUuid} understands (dashes optional, braces,
 * upper case) and returned in both byte orders (see src/hosts/identity.ts); nil UUIDs are refused.
 */
import { normalizeMac, normalizeUuid, isNilUuid, swapUuidByteOrder } from '../hosts/identity.js';

/** Longest accepted message line, in bytes, not counting the `\n` / `\r\n` terminator. */
export const MAX_MESSAGE_BYTES = 1024;

/** Most MAC addresses one message may carry. */
export const MAX_MACS = 16;

/** Which of the accepted forms the message used. */
export type PhoneHomeForm = '1.0' | '1.1' | 'extension' | 'http';

/** A valid phone-home, normalised. */
export interface PhoneHomeMessage {
  form: PhoneHomeForm;
  /** The UUID as claimed, in both byte orders: `smbios` is the text as sent, normalised; `wire` its swap. */
  uuid: { smbios: string; wire: string };
  /** Host name as sent (short name or FQDN), when present and non-empty. */
  hostname?: string;
  /** Per-boot token (`statelesx.token=` from the kernel command line), when sent. */
  token?: string;
  /** MAC addresses, `aa:bb:cc:dd:ee:ff`, in the order sent, without duplicates. */
  macs: string[];
  serial?: string;
  vendor?: string;
  model?: string;
  /** Initiator script name/version, e.g. `initiator.py/1.0`. */
  version?: string;
  /** SHA-256 thumbprint of the host's SSL certificate, upper-case colon hex (32 bytes). */
  thumbprint?: string;
  /** SHA-1 thumbprint of the same certificate, upper-case colon hex (20 bytes). */
  thumbprintSha1?: string;
  /**
   * `installed`: the host says its stateful install to disk is done (its kickstart's `%firstboot`
   * runs the initiator with `statelesx.stage=installed`). A claim: the registry acts on it only
   * for a verified phone-home of a stateful member.
   */
  stage?: PhoneHomeStage;
}

/** Values of the `stage` key: the only one is `installed` (see {@link PhoneHomeMessage.stage}). */
export const PHONE_HOME_STAGES = ['installed'] as const;
export type PhoneHomeStage = (typeof PHONE_HOME_STAGES)[number];

/**
 * Every reason a message is refused for before any lookup, the short codes sent back as
 * `ERR <reason>`. Tests check each refusal against this list.
 */
export const PARSE_ERROR_REASONS = [
  'empty',
  'oversized',
  'encoding',
  'syntax',
  'bad-uuid',
  'nil-uuid',
  'bad-hostname',
  'unknown-key',
  'duplicate-key',
  'bad-value',
  'bad-mac',
] as const;

/** Why a message was refused before any lookup: one of {@link PARSE_ERROR_REASONS}. */
export type ParseErrorReason = (typeof PARSE_ERROR_REASONS)[number];

/** A refused message: `reason` is the short code sent back (`ERR <reason>`), `detail` says what and where. */
export interface ParseError {
  ok: false;
  reason: ParseErrorReason;
  detail: string;
}

export type ParseResult = { ok: true; message: PhoneHomeMessage } | ParseError;

/** Fields of a phone-home as the HTTP API receives them (JSON body or query string). */
export interface PhoneHomeFields {
  uuid: string;
  hostname?: string | undefined;
  token?: string | undefined;
  mac?: string | string[] | undefined;
  serial?: string | undefined;
  vendor?: string | undefined;
  model?: string | undefined;
  version?: string | undefined;
  /** SHA-256 thumbprint, colon hex (the line's `thumbprint=`). */
  thumbprint?: string | undefined;
  /** SHA-1 thumbprint, colon hex (the line's `thumbprint-sha1=`). */
  'thumbprint-sha1'?: string | undefined;
  /** `installed` (the line's `stage=`): the stateful install is done. */
  stage?: string | undefined;
}

const KEYS = [
  'token',
  'mac',
  'serial',
  'vendor',
  'model',
  'version',
  'thumbprint',
  'thumbprint-sha1',
  'stage',
] as const;

/** Exactly `bytes` bytes as two hex digits each, colon separated (no other spelling is accepted). */
function thumbprintRe(bytes: number): RegExp {
  return new RegExp(`^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){${bytes - 1}}$`);
}
const SHA256_RE = thumbprintRe(32);
const SHA1_RE = thumbprintRe(20);
type Key = (typeof KEYS)[number];

/** RFC 1123 host name (labels of letters, digits, `-`; `_` tolerated), optionally with a trailing dot. */
const HOSTNAME_RE =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
/** Tokens are base64url (what BootTokens issues); accept a little more, never separators or controls. */
const TOKEN_RE = /^[A-Za-z0-9._~+/=-]{1,256}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function fail(reason: ParseErrorReason, detail: string): ParseError {
  return { ok: false, reason, detail };
}

/** Trims ASCII spaces and tabs. */
function trimWs(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

function parseUuid(text: string, where: string): { smbios: string; wire: string } | ParseError {
  const u = normalizeUuid(text);
  if (!u) return fail('bad-uuid', `${where}: "${printable(text)}" is not a UUID (32 hex digits, dashes optional)`);
  if (isNilUuid(u)) return fail('nil-uuid', `${where}: ${u} is a nil UUID (firmware placeholder), not a host identity`);
  return { smbios: u, wire: swapUuidByteOrder(u) };
}

/** At most 64 characters of `s` with controls shown as `?`, for error details. */
function printable(s: string): string {
  const cut = s.length > 64 ? s.slice(0, 64) + '…' : s;
  return cut.replace(new RegExp(CONTROL_RE.source, 'g'), '?');
}

/**
 * Checks one optional text field (serial, vendor, model, version): 1–256 characters, no control
 * characters (they would forge log lines or console rows).
 */
function checkText(key: string, value: string): string | ParseError {
  if (value.length === 0 || value.length > 256) return fail('bad-value', `${key}: must be 1–256 characters`);
  if (CONTROL_RE.test(value)) return fail('bad-value', `${key}: contains a control character`);
  return value;
}

/**
 * Builds a message from already-split fields (the HTTP forms, and the line parser after
 * splitting). Same rules as the line: UUID required and not nil, hostname RFC 1123, MACs valid,
 * text fields without control characters.
 */
export function phoneHomeFromFields(fields: PhoneHomeFields, form: PhoneHomeForm = 'http'): ParseResult {
  const uuid = parseUuid(fields.uuid, 'uuid');
  if ('ok' in uuid) return uuid;
  const message: PhoneHomeMessage = { form, uuid, macs: [] };
  if (fields.hostname !== undefined && fields.hostname !== '') {
    if (!HOSTNAME_RE.test(fields.hostname)) {
      return fail('bad-hostname', `hostname: "${printable(fields.hostname)}" is not an RFC 1123 host name`);
    }
    message.hostname = fields.hostname.replace(/\.$/, '').toLowerCase();
  }
  if (fields.token !== undefined) {
    if (!TOKEN_RE.test(fields.token))
      return fail('bad-value', 'token: not a token (base64url, at most 256 characters)');
    message.token = fields.token;
  }
  const macs = fields.mac === undefined ? [] : Array.isArray(fields.mac) ? fields.mac : [fields.mac];
  if (macs.length > MAX_MACS) return fail('bad-mac', `mac: at most ${MAX_MACS} MAC addresses`);
  for (const m of macs) {
    const n = normalizeMac(m);
    if (!n) return fail('bad-mac', `mac: "${printable(m)}" is not a MAC address (aa:bb:cc:dd:ee:ff)`);
    if (!message.macs.includes(n)) message.macs.push(n);
  }
  for (const [key, re, field, what] of [
    ['thumbprint', SHA256_RE, 'thumbprint', 'SHA-256 (32 bytes)'],
    ['thumbprint-sha1', SHA1_RE, 'thumbprintSha1', 'SHA-1 (20 bytes)'],
  ] as const) {
    const v = fields[key];
    if (v === undefined) continue;
    if (!re.test(v)) return fail('bad-value', `${key}: not a ${what} thumbprint in colon hex (AA:BB:…)`);
    message[field] = v.toUpperCase();
  }
  if (fields.stage !== undefined) {
    const stage = PHONE_HOME_STAGES.find((v) => v === fields.stage);
    if (!stage) return fail('bad-value', `stage: "${printable(fields.stage)}" is not ${PHONE_HOME_STAGES.join(', ')}`);
    message.stage = stage;
  }
  for (const key of ['serial', 'vendor', 'model', 'version'] as const) {
    const v = fields[key];
    if (v === undefined) continue;
    const checked = checkText(key, v);
    if (typeof checked !== 'string') return checked;
    message[key] = checked;
  }
  return { ok: true, message };
}

/**
 * Parses one phone-home line.
 * @param bytes the bytes received, with or without the `\n` / `\r\n` terminator (at most one line)
 * @returns the normalised message, or a {@link ParseError} with the reason code and a detail
 *   naming the field (`uuid`, `hostname`, `key 3`, …) and what is wrong with it.
 */
export function parsePhoneHomeLine(bytes: Uint8Array): ParseResult {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  if (end > MAX_MESSAGE_BYTES)
    return fail('oversized', `message is ${end} bytes; at most ${MAX_MESSAGE_BYTES} are accepted`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes.subarray(0, end));
  } catch {
    return fail('encoding', 'message is not valid UTF-8');
  }
  if (text.includes('\n') || text.includes('\r')) return fail('syntax', 'more than one line (a message is one line)');
  if (CONTROL_RE.test(text.replace(/\t/g, ' '))) return fail('syntax', 'message contains a control character');
  text = trimWs(text);
  if (text === '') return fail('empty', 'empty message');

  const parts = text.split(/[ \t]+/);
  const head = parts[0]!;
  const colon = head.indexOf(':');
  let hostname: string | undefined;
  let uuidText: string;
  if (colon < 0) {
    uuidText = head;
  } else {
    if (head.indexOf(':', colon + 1) >= 0) {
      return fail('syntax', `first field "${printable(head)}": expected <uuid> or <hostname>:<uuid> (one colon)`);
    }
    hostname = head.slice(0, colon);
    uuidText = head.slice(colon + 1);
  }

  const fields: PhoneHomeFields = { uuid: uuidText, hostname };
  const macs: string[] = [];
  const seen = new Set<Key>();
  for (let i = 1; i < parts.length; i++) {
    const kv = parts[i]!;
    const eq = kv.indexOf('=');
    if (eq <= 0) return fail('syntax', `field ${i + 1} "${printable(kv)}": expected key=value`);
    const key = kv.slice(0, eq);
    if (!(KEYS as readonly string[]).includes(key)) {
      return fail('unknown-key', `field ${i + 1}: unknown key "${printable(key)}" (known: ${KEYS.join(', ')})`);
    }
    let value: string;
    try {
      value = decodeURIComponent(kv.slice(eq + 1));
    } catch {
      return fail('bad-value', `field ${i + 1} (${key}): bad percent-encoding`);
    }
    if (key === 'mac') {
      macs.push(value);
      continue;
    }
    if (seen.has(key as Key)) return fail('duplicate-key', `field ${i + 1}: key "${key}" given twice`);
    seen.add(key as Key);
    fields[key as Exclude<Key, 'mac'>] = value;
  }
  if (macs.length > 0) fields.mac = macs;
  const form: PhoneHomeForm = parts.length > 1 ? 'extension' : hostname !== undefined ? '1.1' : '1.0';
  return phoneHomeFromFields(fields, form);
}

/** The reply line for a parse error, `ERR <reason>` (no detail: it may echo attacker text). */
export function errorReply(reason: string): string {
  return `ERR ${reason}\n`;
}
