/**
 * What every renderer needs besides the policy's decision: where the server is, how the loader
 * will fetch the image, and the per-boot values (token) issued by the caller.
 *
 * Renderers are pure functions of (decision, context): no I/O, no clock, no randomness.
 */
import { TOKEN_KERNEL_ARG } from '../../hosts/tokens.js';

/** Kernel command-line key carrying `<address>:<port>` of the TCP phone-home (initiator) listener. */
export const SERVER_KERNEL_ARG = 'statelesx.server';
/** Kernel command-line key carrying the image name the host was given. */
export const IMAGE_KERNEL_ARG = 'statelesx.image';

export interface RenderContext {
  /** IPv4 address clients use to reach us (config `advertise-address`). */
  serverAddress: string;
  /** HTTP port serving `/boot/`: the boot listener (config `boot-http.port`). */
  httpPort: number;
  /** TCP port of the phone-home listener (config `initiator.port`). */
  initiatorPort: number;
  /**
   * IPv4 address named in `statelesx.server=` (config `initiator.advertise-address`: another
   * server or a load balancer in front of the phone-home listeners); default `serverAddress`.
   */
  initiatorAddress?: string | undefined;
  /** How the loader fetches image files: `tftp` (paths relative to the TFTP root) or `http` (absolute URLs). */
  transport: 'tftp' | 'http';
  /** Per-boot phone-home token for this host (omitted for unknown hosts). */
  token?: string | undefined;
  /** Kickstart URL for a stateful install, when the decision asks for one. */
  kickstartUrl?: string | undefined;
  /**
   * The decision's extra kernel boot options (cluster `boot/@kernelOptions`, then the member's),
   * placed after the image's own options and before the statelesx arguments.
   */
  kernelOptions?: string | undefined;
}

/** `http://<address>:<port>/boot/` (trailing slash). */
export function httpBootBase(ctx: Pick<RenderContext, 'serverAddress' | 'httpPort'>): string {
  return `http://${ctx.serverAddress}:${ctx.httpPort}/boot/`;
}

/**
 * Per-host kernel arguments statelesx adds to every kernel command line it renders:
 * `statelesx.token=<token>` (when issued), `statelesx.server=<addr>:<initiator port>` (addr:
 * `initiatorAddress`, else `serverAddress`),
 * `statelesx.image=<name>`, and `ks=<url>` for stateful ESXi installs.
 */
export function statelesxKernelArgs(ctx: RenderContext, imageName: string): string[] {
  const args: string[] = [];
  if (ctx.kickstartUrl) args.push(`ks=${ctx.kickstartUrl}`);
  if (ctx.token) args.push(`${TOKEN_KERNEL_ARG}=${ctx.token}`);
  args.push(`${SERVER_KERNEL_ARG}=${ctx.initiatorAddress ?? ctx.serverAddress}:${ctx.initiatorPort}`);
  args.push(`${IMAGE_KERNEL_ARG}=${imageName}`);
  return args;
}

/** Joins command-line words, dropping empty ones. */
export function joinCmdline(...parts: Array<string | undefined>): string {
  return parts
    .filter((p): p is string => !!p && p.trim() !== '')
    .map((p) => p.trim())
    .join(' ');
}
