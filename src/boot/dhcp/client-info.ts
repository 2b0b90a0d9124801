/**
 * What a DHCP request tells about its client: identity (chaddr, 61, 97), firmware (60, 93, 94,
 * 77, 175), and the request's intent (53, 50, 54, 55, 57, 82, giaddr, ciaddr, broadcast flag).
 * Pure: packet in, plain object out; never throws on odd option contents (bad ones are omitted).
 */
import { uuidFromClientGuidOption } from '../../hosts/identity.js';
import { type DhcpPacket, Opt, ipFromBuffer, macOf } from './packet.js';

/** RFC 4578 §2.1 client system architecture types (IANA "Processor Architecture Types"). */
export const ClientArch = {
  BIOS_X86: 0,
  EFI_IA32: 6,
  EFI_BC: 7,
  EFI_X86_64: 9,
  EFI_ARM32: 10,
  EFI_ARM64: 11,
  EFI_X86_64_HTTP: 16,
} as const;

/** Option 94 client network device interface (RFC 4578 §2.2): type 1 = UNDI, version major.minor. */
export interface ClientNdi {
  type: number;
  major: number;
  minor: number;
}

/** The facts of one request. Absent options are `undefined` (or empty lists). */
export interface ClientInfo {
  /** chaddr as `aa:bb:cc:dd:ee:ff` (lower case). */
  mac: string;
  xid: number;
  /** Option 53; undefined for a plain BOOTP request. */
  messageType: number | undefined;
  /** Option 60 as text, e.g. `PXEClient:Arch:00007:UNDI:003010` or `HTTPClient:Arch:00016`. */
  vendorClass: string | undefined;
  /** Vendor class starts with `PXEClient` (PXE 2.1 §2.2.1). */
  isPxeClient: boolean;
  /** Vendor class starts with `HTTPClient` (UEFI 2.5+ HTTP boot). */
  isHttpClient: boolean;
  /** First option 93 entry, else the `Arch:nnnnn` field of the vendor class. */
  arch: number | undefined;
  /** Option 94. */
  ndi: ClientNdi | undefined;
  /** Option 97 decoded to the SMBIOS-form UUID (see hosts/identity.ts); undefined if absent or nil. */
  uuid: string | undefined;
  /** Raw option 97 (to echo it back, PXE 2.1 §2.2.5). */
  guidOption: Buffer | undefined;
  /** Option 77 user classes (RFC 3004 list, or the raw string iPXE sends). */
  userClasses: string[];
  /** A user class equals `iPXE`: the client is iPXE, give it the script, not the loader. */
  isIpxe: boolean;
  /** Option 61 as hex (type byte first), e.g. `01525400123456`. */
  clientId: string | undefined;
  /** Option 175 iPXE encapsulated options by sub-code (features, version, bus id). */
  ipxeOptions: Map<number, Buffer> | undefined;
  /** Option 54. */
  serverId: string | undefined;
  /** Option 50. */
  requestedAddress: string | undefined;
  /** Option 55. */
  parameterRequestList: number[];
  /** Option 57 (bytes), undefined when absent or < 576. */
  maxMessageSize: number | undefined;
  /** Option 12. */
  hostname: string | undefined;
  /** Option 82 raw (echoed back to the relay, RFC 3046 §2.2). */
  relayAgentInfo: Buffer | undefined;
  giaddr: string;
  ciaddr: string;
  /** BROADCAST flag (RFC 2131 §2, flags bit 15). */
  broadcast: boolean;
}

/** Decodes RFC 3004 user class data; falls back to the raw text (iPXE sends `iPXE` unframed). */
export function parseUserClass(data: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < data.length) {
    const len = data[i]!;
    if (len === 0 || i + 1 + len > data.length) {
      out.length = 0;
      break;
    }
    out.push(data.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  if (out.length > 0 && i === data.length) return out;
  return data.length > 0 ? [data.toString('latin1')] : [];
}

/** Parses code/length/value sub-options (option 43, 175); stops quietly at a truncated entry. */
export function parseSubOptions(data: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  let i = 0;
  while (i < data.length) {
    const code = data[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255 || i + 1 >= data.length) break;
    const len = data[i + 1]!;
    if (i + 2 + len > data.length) break;
    m.set(code, data.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return m;
}

function archFromVendorClass(vc: string | undefined): number | undefined {
  const m = vc && /:Arch:(\d{5})/.exec(vc);
  return m ? Number(m[1]) : undefined;
}

/** Extracts {@link ClientInfo} from a decoded request. */
export function clientInfoOf(p: DhcpPacket): ClientInfo {
  const o = p.options;
  const vc = o.get(Opt.VENDOR_CLASS_ID)?.toString('latin1');
  const archOpt = o.get(Opt.CLIENT_ARCH);
  const ndiOpt = o.get(Opt.CLIENT_NDI);
  const guid = o.get(Opt.CLIENT_GUID);
  const uc = o.get(Opt.USER_CLASS);
  const userClasses = uc ? parseUserClass(uc) : [];
  const cid = o.get(Opt.CLIENT_ID);
  const ipxe = o.get(Opt.IPXE_ENCAP);
  const sid = o.get(Opt.SERVER_ID);
  const req = o.get(Opt.REQUESTED_ADDRESS);
  const prl = o.get(Opt.PARAMETER_REQUEST_LIST);
  const mms = o.get(Opt.MAX_MESSAGE_SIZE);
  const mmsValue = mms && mms.length === 2 ? mms.readUInt16BE(0) : undefined;
  const hn = o.get(Opt.HOST_NAME);
  const mt = o.get(Opt.MESSAGE_TYPE);
  return {
    mac: macOf(p),
    xid: p.xid,
    messageType: mt && mt.length === 1 ? mt[0] : undefined,
    vendorClass: vc,
    isPxeClient: vc?.startsWith('PXEClient') ?? false,
    isHttpClient: vc?.startsWith('HTTPClient') ?? false,
    arch: archOpt && archOpt.length >= 2 ? archOpt.readUInt16BE(0) : archFromVendorClass(vc),
    ndi: ndiOpt && ndiOpt.length === 3 ? { type: ndiOpt[0]!, major: ndiOpt[1]!, minor: ndiOpt[2]! } : undefined,
    uuid: guid ? (uuidFromClientGuidOption(guid) ?? undefined) : undefined,
    guidOption: guid,
    userClasses,
    isIpxe: userClasses.includes('iPXE'),
    clientId: cid && cid.length > 0 ? cid.toString('hex') : undefined,
    ipxeOptions: ipxe ? parseSubOptions(ipxe) : undefined,
    serverId: sid && sid.length === 4 ? ipFromBuffer(sid, 0) : undefined,
    requestedAddress: req && req.length === 4 ? ipFromBuffer(req, 0) : undefined,
    parameterRequestList: prl ? [...prl] : [],
    maxMessageSize: mmsValue !== undefined && mmsValue >= 576 ? mmsValue : undefined,
    hostname: hn && hn.length > 0 ? hn.toString('latin1') : undefined,
    relayAgentInfo: o.get(Opt.RELAY_AGENT_INFO),
    giaddr: p.giaddr,
    ciaddr: p.ciaddr,
    broadcast: (p.flags & 0x8000) !== 0,
  };
}

/**
 * Most characters of one client claim (60, 77, 61 as hex, 12) that are stored (boot events, host
 * evidence, leases). Matching always uses the whole value in memory (`PXEClient` prefix, `iPXE`
 * user class, `Arch:` field); only what is written to the database is cut (issue 16, finding 8:
 * a claim of 65 KB was stored whole, ~340 KB of JSON per datagram).
 */
export const MAX_STORED_CLAIM = 256;
// eslint-disable-next-line no-control-regex -- the point: C0 controls and DEL
const CONTROL_CHARS = /[\x00-\x1f\x7f]/g;

/** Most user classes (RFC 3004 list entries) stored. */
export const MAX_STORED_USER_CLASSES = 8;

/**
 * A claim as stored: its first {@link MAX_STORED_CLAIM} characters, a visible `…(+N)` marker when
 * cut (so no reader takes a cut value for the client's whole one), and control characters as `?`
 * (JSON would store each as a 6-byte `\u00XX`). undefined stays undefined.
 */
export function storedClaim(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const cut =
    value.length <= MAX_STORED_CLAIM
      ? value
      : `${value.slice(0, MAX_STORED_CLAIM)}…(+${value.length - MAX_STORED_CLAIM})`;
  return cut.replace(CONTROL_CHARS, '?');
}

/**
 * User classes as stored: at most {@link MAX_STORED_USER_CLASSES}, each a {@link storedClaim},
 * and no more than {@link MAX_STORED_CLAIM} characters of them in all (the last one kept is cut).
 */
export function storedUserClasses(list: readonly string[]): string[] {
  const out: string[] = [];
  let room = MAX_STORED_CLAIM;
  for (const u of list.slice(0, MAX_STORED_USER_CLASSES)) {
    if (room <= 0) break;
    const kept = u.length <= room ? u : `${u.slice(0, room)}…(+${u.length - room})`;
    out.push(kept.replace(CONTROL_CHARS, '?'));
    room -= u.length;
  }
  return out;
}

/** A short firmware label for logs, metrics and boot events: `bios`, `uefi` (x86-64), `uefi-ia32`, `uefi-arm32`, `uefi-arm64`, `uefi-http`, `ipxe`, `none` (no arch), `other`. */
export function firmwareLabel(c: Pick<ClientInfo, 'arch' | 'isIpxe'>): string {
  if (c.isIpxe) return 'ipxe';
  switch (c.arch) {
    case ClientArch.BIOS_X86:
      return 'bios';
    case ClientArch.EFI_IA32:
      return 'uefi-ia32';
    case ClientArch.EFI_BC:
    case ClientArch.EFI_X86_64:
      return 'uefi';
    case ClientArch.EFI_ARM32:
      return 'uefi-arm32';
    case ClientArch.EFI_ARM64:
      return 'uefi-arm64';
    case ClientArch.EFI_X86_64_HTTP:
      return 'uefi-http';
    default:
      return c.arch === undefined ? 'none' : 'other';
  }
}
