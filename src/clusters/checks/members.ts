/**
 * Checks of the member hosts: UUIDs (either byte order), FQDNs and MACs unique, and every static
 * VMkernel NIC addressed on every host, each address unique, in its subnet and outside the pools.
 */
import { swapUuidByteOrder } from '../../hosts/identity.js';
import { ipv4ToNumber, isNetworkOrBroadcast, netmaskToPrefix, networkOf, numberToIpv4 } from '../ipv4.js';
import { subnet, type SectionCheck } from './section.js';

/** Member hosts: identities and per-host addresses. */
export const checkMembers: SectionCheck = ({ c, err, declared }) => {
  const vmkByDevice = declared.vmknics;
  const pools = declared.pools;
  const uuids = new Map<string, string>();
  const fqdns = new Map<string, string>();
  const macs = new Map<string, string>();
  const addrOwner = new Map<number, string>();
  const staticSubnet = new Map<string, { net: number; prefix: number; first: string }>();
  c.hosts.forEach((h, i) => {
    const p = `/cluster/members/host[${i + 1}]`;
    const dupUuid = uuids.get(h.uuid) ?? uuids.get(swapUuidByteOrder(h.uuid));
    if (dupUuid)
      err(
        `${p}/@uuid`,
        `UUID ${h.uuid} is already used by ${dupUuid}` + (uuids.has(h.uuid) ? '' : ' (in the other byte order)'),
      );
    else uuids.set(h.uuid, h.fqdn);
    if (fqdns.has(h.fqdn)) err(`${p}/@fqdn`, `FQDN ${h.fqdn} is listed twice`);
    else fqdns.set(h.fqdn, h.fqdn);
    if (h.mac) {
      if (macs.has(h.mac)) err(`${p}/@mac`, `MAC ${h.mac} is already used by ${macs.get(h.mac)}`);
      else macs.set(h.mac, h.fqdn);
    }
    for (const v of c.vmknics) {
      if (v.addressing.mode === 'static' && !(v.device in h.addresses)) {
        err(p, `${h.fqdn} has no address for ${v.device} (static): add <address vmk="${v.device}">…</address>`);
      }
    }
    Object.entries(h.addresses).forEach(([vmk, addr], j) => {
      const ap = `${p}/address[${j + 1}]`;
      const vIdx = vmkByDevice.get(vmk);
      const v = vIdx === undefined ? undefined : c.vmknics[vIdx];
      if (!v) {
        err(`${ap}/@vmk`, `${vmk} is not a VMkernel NIC of this cluster`);
        return;
      }
      if (v.addressing.mode !== 'static') {
        err(ap, `${vmk} uses ${v.addressing.mode} addressing; a per-host address is only for static VMkernel NICs`);
        return;
      }
      const n = ipv4ToNumber(addr);
      const prefix = netmaskToPrefix(v.addressing.netmask);
      if (n === null || prefix === null) return;
      const owner = addrOwner.get(n);
      if (owner) err(ap, `address ${addr} is already used by ${owner}`);
      else addrOwner.set(n, `${h.fqdn} ${vmk}`);
      if (isNetworkOrBroadcast(n, prefix))
        err(ap, `address ${addr} is the network or broadcast address of ${subnet(n, prefix)}`);
      const sn = staticSubnet.get(vmk);
      if (!sn) staticSubnet.set(vmk, { net: networkOf(n, prefix), prefix, first: h.fqdn });
      else if (networkOf(n, prefix) !== sn.net) {
        err(ap, `address ${addr} of ${vmk} is outside ${subnet(sn.net, prefix)}, the subnet of ${vmk} on ${sn.first}`);
      }
      for (const pool of pools.values()) {
        if (n >= pool.lo && n <= pool.hi)
          err(
            ap,
            `address ${addr} lies in address pool "${pool.name}" (${numberToIpv4(pool.lo)}–${numberToIpv4(pool.hi)})`,
          );
      }
    });
  });
};
