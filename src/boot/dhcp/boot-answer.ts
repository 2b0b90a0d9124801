/**
 * The boot answer for a PXE/HTTP-boot client: which loader or script it gets and from where.
 * Pure (client facts + config → answer), shared by proxy and full mode.
 *
 * Rules (RFC 4578 §2.1 architecture types; UEFI 2.5+ §24.7 HTTP boot; iPXE chainloading):
 * - user class 77 `iPXE` → the iPXE script over HTTP `http://<advertise>:<http-port>/boot/<ipxe>`
 *   (iPXE would otherwise load the iPXE loader again, forever);
 * - arch 16 (x64 UEFI HTTP) or vendor class `HTTPClient` → `http://…/boot/<uefi>`, vendor class
 *   `HTTPClient` in the reply (UEFI HTTP boot ignores offers without it);
 * - arch 0 → `bios`; 6, 7, 9 → `uefi`; 10, 11 → `uefi-arm64` (no answer when not configured);
 *   a PXE client without option 93 → the `Arch:` field of its vendor class, else BIOS.
 */
import { ClientArch, type ClientInfo } from './client-info.js';

/** `dhcp.boot-files` from the config (src/config/schema.ts). */
export interface BootFiles {
  bios: string;
  uefi: string;
  'uefi-arm64'?: string | undefined;
  ipxe: string;
}

/** What the reply carries for booting. */
export interface BootAnswer {
  /** Label for logs/metrics/boot events: bios | uefi | uefi-arm64 | uefi-http | ipxe. */
  firmware: 'bios' | 'uefi' | 'uefi-arm64' | 'uefi-http' | 'ipxe';
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
  httpPort: number;
}

/** URL of a file under `/boot/` of our HTTP server. */
export function bootUrl(ctx: BootAnswerContext, file: string): string {
  const port = ctx.httpPort === 80 ? '' : `:${ctx.httpPort}`;
  const path = file.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
  return `http://${ctx.advertiseAddress}${port}/boot/${path}`;
}

/**
 * Chooses the boot answer.
 * @param client facts from the request (only arch, vendor class flags and iPXE flag are used)
 * @returns the answer, or null when the client is not a network-boot client (no PXEClient /
 *   HTTPClient vendor class and no option 93 and not iPXE) or its architecture has no file.
 */
export function chooseBootAnswer(
  client: Pick<ClientInfo, 'arch' | 'isPxeClient' | 'isHttpClient' | 'isIpxe'>,
  ctx: BootAnswerContext,
): BootAnswer | null {
  const base = { nextServer: ctx.advertiseAddress };
  if (client.isIpxe) {
    return { ...base, firmware: 'ipxe', bootFile: bootUrl(ctx, ctx.bootFiles.ipxe), vendorClass: client.isHttpClient ? 'HTTPClient' : 'PXEClient', http: true };
  }
  if (!client.isPxeClient && !client.isHttpClient && client.arch === undefined) return null;
  if (client.isHttpClient || client.arch === ClientArch.EFI_X86_64_HTTP) {
    return { ...base, firmware: 'uefi-http', bootFile: bootUrl(ctx, ctx.bootFiles.uefi), vendorClass: 'HTTPClient', http: true };
  }
  const tftp = (firmware: BootAnswer['firmware'], bootFile: string): BootAnswer =>
    ({ ...base, firmware, bootFile, vendorClass: 'PXEClient', http: false });
  switch (client.arch ?? ClientArch.BIOS_X86) {
    case ClientArch.BIOS_X86:
      return tftp('bios', ctx.bootFiles.bios);
    case ClientArch.EFI_IA32:
    case ClientArch.EFI_BC:
    case ClientArch.EFI_X86_64:
      return tftp('uefi', ctx.bootFiles.uefi);
    case ClientArch.EFI_ARM32:
    case ClientArch.EFI_ARM64: {
      const f = ctx.bootFiles['uefi-arm64'];
      return f ? tftp('uefi-arm64', f) : null;
    }
    default:
      return null;
  }
}
