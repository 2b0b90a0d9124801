import { describe, it, expect } from 'vitest';
import {
  normalizeUuid,
  swapUuidByteOrder,
  uuidForms,
  uuidFromClientGuidOption,
  normalizeMac,
  pxelinuxMacName,
  isNilUuid,
} from '../../src/hosts/identity.js';

// The UUID of test/fixtures/pxe-captures: SMBIOS form and its option-97 wire form.
const SMBIOS = '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b';
const WIRE = '2a4c0e8f-1d3b-5f4e-9a6b-7c8d9e0f1a2b';

describe('UUID byte orders', () => {
  it('swaps the first three fields and is its own inverse', () => {
    expect(swapUuidByteOrder(SMBIOS)).toBe(WIRE);
    expect(swapUuidByteOrder(WIRE)).toBe(SMBIOS);
  });
  it('normalizes case, braces and missing dashes; rejects non-UUIDs', () => {
    expect(normalizeUuid('{8F0E4C2A3B1D4E5F9A6B7C8D9E0F1A2B}')).toBe(SMBIOS);
    expect(normalizeUuid('8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2')).toBeNull();
    expect(normalizeUuid('zz0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b')).toBeNull();
  });
  it('treats all-zero and all-F UUIDs as absent', () => {
    expect(isNilUuid('00000000-0000-0000-0000-000000000000')).toBe(true);
    expect(uuidForms('FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF')).toBeNull();
    expect(uuidForms(SMBIOS)).toEqual({ smbios: SMBIOS, wire: WIRE });
  });
  it('decodes DHCP option 97 (type 0 + wire bytes) to the SMBIOS form', () => {
    const opt = Buffer.concat([Buffer.from([0]), Buffer.from(WIRE.replace(/-/g, ''), 'hex')]);
    expect(uuidFromClientGuidOption(opt)).toBe(SMBIOS);
    expect(uuidFromClientGuidOption(opt.subarray(0, 10))).toBeNull();
    expect(uuidFromClientGuidOption(Buffer.alloc(17))).toBeNull();
  });
});

describe('MAC addresses', () => {
  it('normalizes common spellings and names the pxelinux per-MAC file', () => {
    expect(normalizeMac('52-54-00-12-34-56')).toBe('52:54:00:12:34:56');
    expect(normalizeMac('5254.0012.3456')).toBe('52:54:00:12:34:56');
    expect(normalizeMac('52:54:00:12:34')).toBeNull();
    expect(normalizeMac('52:54:00:12:34:5g')).toBeNull();
    expect(pxelinuxMacName('52:54:00:12:34:56')).toBe('01-52-54-00-12-34-56');
  });
});
