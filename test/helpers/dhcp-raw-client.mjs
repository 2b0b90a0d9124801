// Test fixture: a raw DHCP client for crafted packets, run inside a test's network namespace.
// argv[2] JSON: { bind: {address, port}, sends: [{hex, address, port}], waitMs }.
// Binds (SO_REUSEADDR, SO_BROADCAST), sends each payload, collects every datagram for waitMs and
// prints one JSON line: [{from, fromPort, hex}]. Exits 0; send errors are printed as {error}.
import { createSocket } from 'node:dgram';
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { setTimeout } from 'node:timers';

const plan = JSON.parse(process.argv[2]);
const sock = createSocket({ type: 'udp4', reuseAddr: true });
const got = [];
sock.on('message', (msg, r) => got.push({ from: r.address, fromPort: r.port, hex: msg.toString('hex') }));
sock.bind(plan.bind.port, plan.bind.address, async () => {
  sock.setBroadcast(true);
  for (const s of plan.sends) {
    await new Promise((res) =>
      sock.send(Buffer.from(s.hex, 'hex'), s.port, s.address, (err) => {
        if (err) got.push({ error: `${err.code ?? err.message} sending to ${s.address}:${s.port}` });
        res();
      }),
    );
  }
  setTimeout(() => {
    process.stdout.write(JSON.stringify(got) + '\n');
    sock.close();
  }, plan.waitMs ?? 1500);
});
