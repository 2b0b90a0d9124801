/**
 * Where DHCP may send a unicast reply (issue 16, finding 9): giaddr only when it is a configured
 * relay, 4011 sources and ciaddr only on a served segment or a relay. The wire behaviour is
 * tested with real namespaces in test/integration/dhcp-full.test.ts and dhcp-proxy.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ReplyPeers } from '../../src/boot/dhcp/peers.js';

const peers = new ReplyPeers(
  ['192.0.2.1'],
  [
    { address: '10.77.0.1', netmask: '255.255.255.0' },
    { address: '10.78.4.9', netmask: '255.255.252.0' },
  ],
);

describe('ReplyPeers', () => {
  it('answers a relayed request only for a listed relay, wherever it is', () => {
    expect(peers.checkRequest('192.0.2.1', '192.0.2.1', 'dhcp')).toBeUndefined();
    expect(peers.checkRequest('10.77.0.2', '10.77.0.2', 'dhcp')).toBe('relay-not-configured'); // on the segment, not listed
    expect(peers.checkRequest('0.0.0.0', '0.0.0.0', 'dhcp')).toBeUndefined(); // not relayed: broadcast or ciaddr
    expect(new ReplyPeers([], []).checkRequest('198.51.100.7', '10.0.0.1', 'dhcp')).toBe('relay-not-configured');
  });

  it('answers port 4011 only to a source on a served segment or a listed relay', () => {
    expect(peers.checkRequest('0.0.0.0', '10.77.0.200', 'pxe')).toBeUndefined();
    expect(peers.checkRequest('0.0.0.0', '10.78.7.255', 'pxe')).toBeUndefined(); // /22
    expect(peers.checkRequest('0.0.0.0', '10.78.8.1', 'pxe')).toBe('reply-target-not-served');
    expect(peers.checkRequest('0.0.0.0', '192.0.2.1', 'pxe')).toBeUndefined();
    expect(peers.checkRequest('0.0.0.0', '203.0.113.5', 'pxe')).toBe('reply-target-not-served');
  });

  it('unicasts to ciaddr only on a served segment or a relay; a malformed address is no peer', () => {
    expect(peers.checkUnicast('10.77.0.150')).toBeUndefined();
    expect(peers.checkUnicast('198.51.100.7')).toBe('reply-target-not-served');
    expect(peers.checkUnicast('not-an-address')).toBe('reply-target-not-served');
  });
});
