/**
 * The boot answer for a PXE/HTTP-boot client: which loader or script it gets and from where.
 * Pure (client facts + config → answer), shared by proxy and full mode.
 *
 * Rules (RFC 4578 §2.1 architecture types; UEFI 2.5+ §24.7 HTTP boot; iPXE chainloading):
 * - user class 77 `iPXE` → the iPXE script over HTTP `http://<advertise>:<boot-http port>/boot/<ipxe>`
 *   (iPXE would otherwise load the iPXE loader again, forever);
 * - arch 16 (x64 UEFI HTTP) or vendor class `HTTPClient` → `http://…/boot/<uefi>`, vendor class
 *   `HTTPClient` in the reply (UEFI HTTP boot ignores offers without it);
 * - arch 0 → `bios`; 7, 9 (x86-64 UEFI) → `uefi`; 11 (ARM 64-bit UEFI) → `uefi-arm64`;
 *   6 (EFI IA32) → `uefi-ia32`; 10 (ARM 32-bit UEFI) → `uefi-arm32`; the last three only when
 *   configured, else no answer (a loader for another CPU cannot run: {@link noBootFileReason} says
 *   why); a PXE client without option 93 → the `Arch:` field of its vendor class, else BIOS.
 * - boot-once (issue 17): UEFI firmware's own PXE or HTTP boot client (any arch but BIOS, not iPXE)
 *   of a host that boots from its local disk ({@link BootAnswerContext.bootsLocally}: a stateful
 *   member whose install is on record) gets no loader: no answer in proxy mode, an address
 *   without a boot file in full mode. The firmware's network boot option then fails at once
 *   ("no boot filename") and the UEFI boot manager tries the next boot option, the installed
 *   disk. BIOS clients and iPXE keep their loader and script: pxelinux `LOCALBOOT 0` / iPXE `exit`
 *   hand back to the firmware, which boots the next device.
 */
import { ClientArch, type ClientInfo } from './client-info.js';

/** Boot file per client architecture: the config file's `dhcp.boot-files` (src/config/schema.ts). */
export interface BootFiles {
  bios: string;
  uefi: string;
  'uefi-arm64'?: string | undefined;
  /** Option 93 = 6 (EFI IA32). */
  'uefi-ia32'?: string | undefined;
  /** Option 93 = 10 (ARM 32-bit UEFI). */
  'uefi-arm32'?: string | undefined;
  ipxe: string;
}

/** What the reply carries for booting. */
export interface BootAnswer {
  /** Label for logs/metrics/boot events: bios | uefi | uefi-ia32 | uefi-arm32 | uefi-arm64 | uefi-http | ipxe. */
  firmware: 'bios' | 'uefi' | 'uefi-ia32' | 'uefi-arm32' | 'uefi-arm64' | 'uefi-http' | 'ipxe';
  /** Option 67 / BOOTP `file`: a TFTP path or an http URL. */
  bootFile: string;
  /** siaddr (next-server) and option 66 (TFTP server name). */
  nextServer: string;
  /** Option 60 in the reply: `PXEClient` or `HTTPClient`. */
  vendorClass: 'PXEClient' | 'HTTPClient';
  /** True when bootFile is an http URL. */
  http: boolean;
}

/** Inputs besides the client. */
export interface BootAnswerContext {
  bootFiles: BootFiles;
  /** Address clients reach our TFTP/HTTP at. */
  advertiseAddress: string;
  /** Port of the boot HTTP listener (`boot-http.port`), left out of URLs when 80. */
  httpPort: number;
  /**
   * Boot-once: whether the host behind a request (option 97 UUID in SMBIOS form, else undefined;
   * chaddr MAC) boots from its local disk; absent = never. Must be side-effect free and
   * synchronous: the DHCP service reads the store's answer first, for the clients
   * {@link asksBootsLocally} names (src/boot/dhcp/server.ts).
   */
  bootsLocally?: ((client: { uuid: string | undefined; mac: string }) => boolean) | undefined;
}

/** URL of a file under `/boot/` of our HTTP server. */
export function bootUrl(ctx: BootAnswerContext, file: string): string {
  const port = ctx.httpPort === 80 ? '' : `:${ctx.httpPort}`;
  const path = file.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
  return `http://${ctx.advertiseAddress}${port}/boot/${path}`;
}

/**
 * Whether {@link chooseBootAnswer} asks {@link BootAnswerContext.bootsLocally} about this client:
 * UEFI firmware's own PXE or HTTP boot client (not iPXE, not BIOS) of a network-boot request that
 * carries a MAC. Pure; lets the caller read the store's boot-once answer only for these.
 */
export function asksBootsLocally(
  client: Pick<ClientInfo, 'arch' | 'isPxeClient' | 'isHttpClient' | 'isIpxe'> & Partial<Pick<ClientInfo, 'mac'>>,
): boolean {
  if (client.isIpxe || !client.mac) return false;
  if (!client.isPxeClient && !client.isHttpClient && client.arch === undefined) return false;
  return client.isHttpClient || (client.arch ?? ClientArch.BIOS_X86) !== ClientArch.BIOS_X86;
}

/**
 * Chooses the boot answer.
 * @param client facts from the request (only arch, vendor class flags and iPXE flag are used)
 * @returns the answer, or null when the client is not a network-boot client (no PXEClient /
 *   HTTPClient vendor class and no option 93 and not iPXE) or its architecture has no file.
 */
export function chooseBootAnswer(
  client: Pick<ClientInfo, 'arch' | 'isPxeClient' | 'isHttpClient' | 'isIpxe'> &
    Partial<Pick<ClientInfo, 'uuid' | 'mac'>>,
  ctx: BootAnswerContext,
): BootAnswer | null {
  const base = { nextServer: ctx.advertiseAddress };
  if (client.isIpxe) {
    return {
      ...base,
      firmware: 'ipxe',
      bootFile: bootUrl(ctx, ctx.bootFiles.ipxe),
      vendorClass: client.isHttpClient ? 'HTTPClient' : 'PXEClient',
      http: true,
    };
  }
  if (!client.isPxeClient && !client.isHttpClient && client.arch === undefined) return null;
  if (asksBootsLocally(client) && ctx.bootsLocally?.({ uuid: client.uuid, mac: client.mac! })) return null;
  if (client.isHttpClient || client.arch === ClientArch.EFI_X86_64_HTTP) {
    return {
      ...base,
      firmware: 'uefi-http',
      bootFile: bootUrl(ctx, ctx.bootFiles.uefi),
      vendorClass: 'HTTPClient',
      http: true,
    };
  }
  const tftp = (firmware: BootAnswer['firmware'], bootFile: string): BootAnswer => ({
    ...base,
    firmware,
    bootFile,
    vendorClass: 'PXEClient',
    http: false,
  });
  switch (client.arch ?? ClientArch.BIOS_X86) {
    case ClientArch.BIOS_X86:
      return tftp('bios', ctx.bootFiles.bios);
    case ClientArch.EFI_BC:
    case ClientArch.EFI_X86_64:
      return tftp('uefi', ctx.bootFiles.uefi);
    case ClientArch.EFI_IA32:
    case ClientArch.EFI_ARM32:
    case ClientArch.EFI_ARM64: {
      const key = OPTIONAL_FILES[client.arch!]!;
      const f = ctx.bootFiles[key];
      return f ? tftp(key, f) : null;
    }
    default:
      return null;
  }
}

/** Architectures whose loader is optional (`dhcp.boot-files.<key>`), with the CPU it must run on. */
const OPTIONAL_FILES: Record<number, 'uefi-ia32' | 'uefi-arm32' | 'uefi-arm64'> = {
  [ClientArch.EFI_IA32]: 'uefi-ia32',
  [ClientArch.EFI_ARM32]: 'uefi-arm32',
  [ClientArch.EFI_ARM64]: 'uefi-arm64',
};
const CPU_OF: Record<string, string> = {
  'uefi-ia32': 'EFI IA32 (32-bit x86 UEFI)',
  'uefi-arm32': 'ARM 32-bit UEFI',
  'uefi-arm64': 'ARM 64-bit UEFI',
};

/**
 * Why a network-boot client gets no boot file although it sent option 93: its architecture
 * (RFC 4578 §2.1: 6 EFI IA32, 10 ARM 32-bit UEFI, 11 ARM 64-bit UEFI) has no
 * `dhcp.boot-files.<key>` configured, and the x86-64 or arm64 loader cannot run on that CPU.
 * @returns a log message naming the arch and the config key, or undefined when the client gets an
 *   answer (or sent no architecture, or its arch is one we never serve)
 */
export function noBootFileReason(
  client: Pick<ClientInfo, 'arch' | 'isPxeClient' | 'isHttpClient' | 'isIpxe'>,
  bootFiles: BootFiles,
): string | undefined {
  if (client.isIpxe || client.isHttpClient || client.arch === undefined) return undefined;
  const key = OPTIONAL_FILES[client.arch];
  if (!key || bootFiles[key]) return undefined;
  return (
    `no boot file for option 93 arch ${client.arch} (${CPU_OF[key]}): set dhcp.boot-files.${key} to a loader built for that CPU; ` +
    'the x86-64 and arm64 loaders cannot run there, so the client gets no boot answer'
  );
}
