/** src/net/interfaces.ts against this machine's real interfaces (loopback is always there). */
import { describe, it, expect } from 'vitest';
import { networkInterfaces } from 'node:os';
import { advertiseAddress, findInterfaceAddress, interfaceOf, ipv4Interfaces } from '../../src/net/interfaces.js';

const loName = Object.entries(networkInterfaces()).find(([, l]) =>
  (l ?? []).some((a) => a.address === '127.0.0.1'),
)![0];

describe('network interfaces', () => {
  it('lists loopback and names its interface', () => {
    expect(ipv4Interfaces()).toContainEqual({
      name: loName,
      address: '127.0.0.1',
      netmask: '255.0.0.0',
      internal: true,
    });
    expect(interfaceOf('127.0.0.1')).toBe(loName);
  });

  it('advertises the configured address, else a specific listen address, else the named interface', () => {
    expect(advertiseAddress({ advertiseAddress: '10.1.2.3', listenAddress: '127.0.0.1' })).toBe('10.1.2.3');
    expect(advertiseAddress({ listenAddress: '127.0.0.2' })).toBe('127.0.0.2');
    expect(advertiseAddress({ listenAddress: '0.0.0.0', interface: loName })).toBe('127.0.0.1');
  });

  it('finds the DHCP interface address by name or listen address, and names the remedy when absent', () => {
    expect(findInterfaceAddress(loName)).toEqual({ name: loName, address: '127.0.0.1', netmask: '255.0.0.0' });
    expect(findInterfaceAddress(undefined, '127.0.0.1').name).toBe(loName);
    expect(() => findInterfaceAddress('no-such-if0')).toThrow(
      /interface no-such-if0 has no IPv4 address.*fix --interface/,
    );
    expect(() => findInterfaceAddress(undefined, '192.0.2.77')).toThrow(
      /no interface has the listen address 192.0.2.77/,
    );
  });

  it('answers from the listen address when the interface holds several (proxyDHCP on a second address)', () => {
    // pxe0 carries the site DHCP server's 10.99.0.1 first and our 10.99.0.2 second: the server
    // identifier must be ours, or the firmware's REQUEST to the other server is answered by us too.
    const two = [
      { name: 'lo', address: '127.0.0.1', netmask: '255.0.0.0', internal: true },
      { name: 'pxe0', address: '10.99.0.1', netmask: '255.255.255.0', internal: false },
      { name: 'pxe0', address: '10.99.0.2', netmask: '255.255.255.0', internal: false },
    ];
    expect(findInterfaceAddress('pxe0', '10.99.0.2', two)).toEqual({
      name: 'pxe0',
      address: '10.99.0.2',
      netmask: '255.255.255.0',
    });
    expect(findInterfaceAddress('pxe0', '0.0.0.0', two).address).toBe('10.99.0.1');
    expect(() => findInterfaceAddress('pxe0', '10.99.0.9', two)).toThrow(
      /interface pxe0 does not hold the listen address 10\.99\.0\.9 \(its addresses: 10\.99\.0\.1, 10\.99\.0\.2\).*fix --listen-address/,
    );
  });
});
