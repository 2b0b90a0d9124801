/**
 * Checks of the kernel boot options (`boot/@kernelOptions`, a member's `kernelOptions`): they are
 * pasted into a boot.cfg `kernelopt=` line, a pxelinux `APPEND` line and an iPXE `kernel` command,
 * so nothing in them may end or bend those lines.
 */
import type { SectionCheck } from './section.js';

/** Most bytes of kernel options a member gets (cluster and member options together, joined by a space). */
export const KERNEL_OPTIONS_MAX_BYTES = 1024;

/**
 * Characters refused besides control and non-ASCII ones: quotes and backslash (iPXE quoting and
 * escapes), `$` (iPXE `${setting}` expansion) and the backquote.
 */
const REFUSED = new Set(['"', "'", '\\', '$', '`']);

/**
 * What is wrong with one kernelOptions value, or undefined when it is fine.
 * @param value the attribute value as written (after XML entity decoding)
 */
export function kernelOptionsProblem(value: string): string | undefined {
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f) {
      return `kernelOptions contains the control character U+${cp.toString(16).toUpperCase().padStart(4, '0')}: it would break the boot.cfg, pxelinux or iPXE line; use spaces between options`;
    }
    if (cp > 0x7e) return `kernelOptions contains "${ch}": only printable ASCII is allowed`;
    if (REFUSED.has(ch))
      return `kernelOptions contains ${ch}: quotes, backslash, $ and \` are not allowed (iPXE would interpret them)`;
  }
  for (const word of value.split(' ').filter((w) => w !== '')) {
    if (word === '---') return 'kernelOptions contains "---", the mboot module separator';
    if (/^statelesx\./i.test(word) || /^ks=/i.test(word)) {
      return `kernelOptions contains "${word}": statelesx sets statelesx.* and ks= itself`;
    }
  }
  return undefined;
}

/** Kernel options of the cluster and of each member: allowed characters and combined length. */
export const checkKernelOptions: SectionCheck = ({ c, err }) => {
  const cluster = c.boot?.kernelOptions?.trim() ?? '';
  const clusterBytes = Buffer.byteLength(cluster);
  if (c.boot?.kernelOptions !== undefined) {
    const p = '/cluster/boot/@kernelOptions';
    const problem = kernelOptionsProblem(c.boot.kernelOptions);
    if (problem) err(p, problem);
    else if (clusterBytes > KERNEL_OPTIONS_MAX_BYTES)
      err(p, `kernelOptions is ${clusterBytes} bytes; at most ${KERNEL_OPTIONS_MAX_BYTES} are allowed`);
  }
  c.hosts.forEach((h, i) => {
    if (h.kernelOptions === undefined) return;
    const p = `/cluster/members/host[${i + 1}]/@kernelOptions`;
    const problem = kernelOptionsProblem(h.kernelOptions);
    if (problem) return err(p, `${h.fqdn}: ${problem}`);
    const own = Buffer.byteLength(h.kernelOptions.trim());
    const total = own + (cluster ? clusterBytes + 1 : 0);
    if (total > KERNEL_OPTIONS_MAX_BYTES)
      err(
        p,
        `${h.fqdn}: kernel options are ${total} bytes with the cluster's boot/@kernelOptions; at most ${KERNEL_OPTIONS_MAX_BYTES} are allowed`,
      );
  });
};
