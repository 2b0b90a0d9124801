/**
 * Rebuilds the fuzz seed corpus in test/fixtures/fuzz/ from the real PXE captures
 * (test/fixtures/pxe-captures/*.pcap, or the directory given as argv[2]):
 * `dhcp/<capture>-<n>.bin` for UDP ports 67/68/4011 and `tftp/<capture>-<n>.bin` for requests to 69
 * and the server's replies on the transfer port.
 *
 * Usage: npx tsx test/fuzz/extract-corpus.ts [capture-dir]
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { udpPayloads } from './pcap.js';

const here = import.meta.dirname;
const from = resolve(process.argv[2] ?? join(here, '../fixtures/pxe-captures'));
const to = join(here, '../fixtures/fuzz');
const DHCP_PORTS = new Set([67, 68, 4011]);
const counts: Record<string, number> = {};
for (const kind of ['dhcp', 'tftp']) mkdirSync(join(to, kind), { recursive: true });
for (const f of readdirSync(from)
  .filter((n) => n.endsWith('.pcap'))
  .sort()) {
  const name = basename(f, '.pcap');
  let d = 0;
  let t = 0;
  const tftpPorts = new Set<number>();
  for (const u of udpPayloads(readFileSync(join(from, f)))) {
    if (DHCP_PORTS.has(u.dstPort) || DHCP_PORTS.has(u.srcPort)) {
      writeFileSync(join(to, 'dhcp', `${name}-${String(d++).padStart(2, '0')}.bin`), u.payload);
    } else if (u.dstPort === 69 || tftpPorts.has(u.srcPort) || tftpPorts.has(u.dstPort)) {
      if (u.dstPort === 69) tftpPorts.add(u.srcPort);
      writeFileSync(join(to, 'tftp', `${name}-${String(t++).padStart(2, '0')}.bin`), u.payload);
    }
  }
  counts[name] = d + t;
  process.stdout.write(`${name}: ${d} DHCP, ${t} TFTP payloads\n`);
}
