/** IPv4 arithmetic for cluster checks (RFC 791 addresses, RFC 4632 prefixes). */

/** `a.b.c.d` → unsigned 32-bit number, or null when not a dotted quad of 0–255. */
export function ipv4ToNumber(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return null;
    n = n * 256 + o;
  }
  return n;
}

/** Unsigned 32-bit number → `a.b.c.d`. */
export function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Prefix length of a contiguous netmask (`255.255.255.0` → 24), or null when not contiguous. */
export function netmaskToPrefix(mask: string): number | null {
  const n = ipv4ToNumber(mask);
  if (n === null) return null;
  for (let p = 0; p <= 32; p++) {
    const m = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
    if (m === n) return p;
  }
  return null;
}

/** Network address (number) of `ip` under `prefix`. */
export function networkOf(ip: number, prefix: number): number {
  return prefix === 0 ? 0 : (ip & ((0xffffffff << (32 - prefix)) >>> 0)) >>> 0;
}

/** Broadcast address (number) of `ip` under `prefix`. */
export function broadcastOf(ip: number, prefix: number): number {
  return (networkOf(ip, prefix) + 2 ** (32 - prefix) - 1) >>> 0;
}

/** True when `ip` is the network or broadcast address of its subnet (prefix ≤ 30). */
export function isNetworkOrBroadcast(ip: number, prefix: number): boolean {
  return prefix <= 30 && (ip === networkOf(ip, prefix) || ip === broadcastOf(ip, prefix));
}
