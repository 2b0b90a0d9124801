/**
 * The one place that reads the host's network interfaces (`os.networkInterfaces()`, and the link
 * MTU from Linux sysfs) and picks addresses from them, for the three subsystems that need one:
 * the advertised server address (next-server, boot URLs), DHCP's server identifier and reply
 * source, and TFTP's per-address sockets with their MTU-derived blksize cap.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/** One IPv4 address of a local interface. `netmask` is dotted-quad, `internal` true for loopback. */
export interface Ipv4Interface {
  name: string;
  address: string;
  netmask: string;
  internal: boolean;
}

/** Every IPv4 address of every local interface, in the order the kernel lists them. */
export function ipv4Interfaces(): Ipv4Interface[] {
  return Object.entries(networkInterfaces()).flatMap(([name, list]) =>
    (list ?? [])
      .filter((a) => a.family === 'IPv4')
      .map((a) => ({ name, address: a.address, netmask: a.netmask, internal: a.internal })),
  );
}

/** Names of all local interfaces (for error messages). */
export function interfaceNames(): string[] {
  return Object.keys(networkInterfaces());
}

/** The name of the interface holding `address`, if any. */
export function interfaceOf(address: string): string | undefined {
  for (const [name, list] of Object.entries(networkInterfaces()))
    if ((list ?? []).some((a) => a.address === address)) return name;
  return undefined;
}

/** The link MTU of interface `name` in bytes (Linux `/sys/class/net/<name>/mtu`), or undefined. */
export function interfaceMtu(name: string | undefined): number | undefined {
  if (!name) return undefined;
  try {
    const mtu = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
    return Number.isFinite(mtu) && mtu > 100 ? mtu : undefined;
  } catch {
    return undefined;
  }
}

/** Where the server listens and what the admin configured (config keys of the same names). */
export interface AddressChoice {
  /** `advertise-address`, when set. */
  advertiseAddress?: string | undefined;
  /** `listen-address` (0.0.0.0 = every address). */
  listenAddress: string;
  /** `interface`, when set. */
  interface?: string | undefined;
}

/**
 * The address clients are told to use (next-server, `prefix=`, URLs): `advertise-address`, else
 * the listen address when it is specific, else the first IPv4 address of `interface`, else the
 * first non-internal IPv4 address, else 127.0.0.1.
 */
export function advertiseAddress(c: AddressChoice): string {
  if (c.advertiseAddress) return c.advertiseAddress;
  if (c.listenAddress !== '0.0.0.0') return c.listenAddress;
  const all = ipv4Interfaces();
  const named = c.interface ? all.find((a) => a.name === c.interface)?.address : undefined;
  return named ?? all.find((a) => !a.internal)?.address ?? '127.0.0.1';
}

/** An interface's IPv4 address and netmask. */
export interface InterfaceAddress {
  name: string;
  address: string;
  netmask: string;
}

/**
 * The interface address DHCP answers from (its server identifier, option 54, and the source of its
 * replies): with `--interface`, that interface's address equal to a specific listen address, else
 * its first IPv4 address; without, the interface holding a specific listen address, else the first
 * non-loopback IPv4 interface. An interface may hold several addresses (a proxyDHCP beside the
 * site's DHCP server on a second address of the same NIC): the listen address picks among them, so
 * the server identifier is never another server's.
 * @param all the local IPv4 addresses (default: this host's, {@link ipv4Interfaces})
 * @throws Error naming the interface / address and the remedy when none is found.
 */
export function findInterfaceAddress(
  iface?: string,
  listenAddress = '0.0.0.0',
  all: Ipv4Interface[] = ipv4Interfaces(),
): InterfaceAddress {
  const pick = (a: Ipv4Interface): InterfaceAddress => ({ name: a.name, address: a.address, netmask: a.netmask });
  const specific = listenAddress !== '0.0.0.0';
  if (iface) {
    const own = all.filter((x) => x.name === iface);
    if (own.length === 0)
      throw new Error(
        `DHCP: interface ${iface} has no IPv4 address (interfaces: ${interfaceNames().join(', ')}); fix --interface`,
      );
    if (!specific) return pick(own[0]!);
    const a = own.find((x) => x.address === listenAddress);
    if (a) return pick(a);
    throw new Error(
      `DHCP: interface ${iface} does not hold the listen address ${listenAddress} ` +
        `(its addresses: ${own.map((x) => x.address).join(', ')}); fix --listen-address or --interface`,
    );
  }
  const a = all.find((x) => (specific ? x.address === listenAddress : !x.internal));
  if (a) return pick(a);
  throw new Error(
    specific
      ? `DHCP: no interface has the listen address ${listenAddress}; fix --listen-address`
      : 'DHCP: no non-loopback IPv4 interface found; pass --interface',
  );
}
