import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addMemberHost, MemberEditError } from '../../src/clusters/edit.js';
import { ClusterValidationError } from '../../src/clusters/diagnostics.js';
import { loadClusterText } from '../../src/clusters/load.js';
import { swapUuidByteOrder } from '../../src/hosts/identity.js';
import { EXAMPLES_DIR, fixture, mutate } from '../fixtures/clusters/helpers.js';

/**
 * Asserts that `after` is `before` with exactly `inserted` added at one place and nothing else
 * changed (byte for byte); returns the insertion offset.
 */
function expectInsertion(before: string, after: string, inserted: string): number {
  const at = after.indexOf(inserted);
  expect(at, 'inserted text not found').toBeGreaterThanOrEqual(0);
  expect(after.length).toBe(before.length + inserted.length);
  expect(after.slice(0, at) + after.slice(at + inserted.length)).toBe(before);
  return at;
}

const NEW_UUID = '4c4c4544-0042-3510-8052-b3c04f4e3103';

describe('addMemberHost', () => {
  it('adds a host with addresses after the last member, indented like its siblings, rest byte-identical', async () => {
    const before = fixture('base.xml');
    const after = await addMemberHost(before, {
      fqdn: 'ESX03.example.com',
      uuid: NEW_UUID.toUpperCase(),
      mac: '00-50-56-00-00-03',
      addresses: { vmk0: '192.0.2.13', vmk2: '203.0.113.13' },
    });
    const at = expectInsertion(
      before,
      after,
      '\n    <host fqdn="esx03.example.com" uuid="4c4c4544-0042-3510-8052-b3c04f4e3103" mac="00:50:56:00:00:03">' +
        '\n      <address vmk="vmk0">192.0.2.13</address>' +
        '\n      <address vmk="vmk2">203.0.113.13</address>' +
        '\n    </host>',
    );
    expect(before.slice(at - '</host>'.length, at)).toBe('</host>');
    const r = await loadClusterText(after, 'fx.xml');
    expect(r.diagnostics).toEqual([]);
    expect(r.cluster!.hosts.map((h) => h.fqdn)).toEqual([
      'esx01.example.com',
      'esx02.example.com',
      'esx03.example.com',
    ]);
    expect(r.cluster!.hosts[2]).toMatchObject({
      uuid: NEW_UUID,
      mac: '00:50:56:00:00:03',
      addresses: { vmk0: '192.0.2.13', vmk2: '203.0.113.13' },
    });
  });

  it('adds a host without addresses to the lab example (DHCP and pool only) as one line, keeping comments', async () => {
    const before = readFileSync(join(EXAMPLES_DIR, 'lab-cluster.xml'), 'utf8');
    const after = await addMemberHost(before, {
      fqdn: 'esx-lab3.lab.example.com',
      uuid: NEW_UUID,
      image: 'ESXi-8.0U3b-24280767-standard',
    });
    expectInsertion(
      before,
      after,
      '\n    <host fqdn="esx-lab3.lab.example.com" uuid="4c4c4544-0042-3510-8052-b3c04f4e3103" image="ESXi-8.0U3b-24280767-standard"/>',
    );
    expect(after).toContain('<!-- Nested ESXi for upgrade tests: pinned to the next image. -->');
    expect((await loadClusterText(after, 'lab.xml')).cluster!.hosts).toHaveLength(3);
  });

  it('fills an empty <members/> with the file’s indentation', async () => {
    const before = fixture('minimal.xml');
    const after = await addMemberHost(before, {
      fqdn: 'esx01.example.com',
      uuid: NEW_UUID,
      thumbprint: 'aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd',
    });
    expect(after).toBe(
      before.replace(
        '  <members/>',
        '  <members>\n    <host fqdn="esx01.example.com" uuid="4c4c4544-0042-3510-8052-b3c04f4e3103" thumbprint="aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd"/>\n  </members>',
      ),
    );
    expect((await loadClusterText(after, 'm.xml')).cluster!.hosts[0]!.thumbprint).toBe(
      'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD',
    );
  });

  it('fills an empty <members></members> and one holding only a comment', async () => {
    const one = mutate(fixture('minimal.xml'), '<members/>', '<members></members>');
    expect(await addMemberHost(one, { fqdn: 'a.example.com', uuid: NEW_UUID })).toBe(
      mutate(
        fixture('minimal.xml'),
        '<members/>',
        `<members>\n    <host fqdn="a.example.com" uuid="${NEW_UUID}"/>\n  </members>`,
      ),
    );
    const commented = mutate(
      fixture('minimal.xml'),
      '<members/>',
      '<members>\n    <!-- hosts join here -->\n  </members>',
    );
    const after = await addMemberHost(commented, { fqdn: 'a.example.com', uuid: NEW_UUID });
    expectInsertion(commented, after, `\n    <host fqdn="a.example.com" uuid="${NEW_UUID}"/>`);
    expect(after).toContain(`<!-- hosts join here -->\n    <host fqdn="a.example.com"`);
  });

  it('keeps CRLF line endings, tab indentation and a byte-order mark', async () => {
    const before =
      '\uFEFF' +
      fixture('base.xml')
        .replace(/\n/g, '\r\n')
        .replace(/^( +)/gm, (s) => '\t'.repeat(s.length / 2))
        .replace(/\r\n( +)/g, (_m, s: string) => '\r\n' + '\t'.repeat(s.length / 2));
    const after = await addMemberHost(before, {
      fqdn: 'esx03.example.com',
      uuid: NEW_UUID,
      addresses: { vmk0: '192.0.2.13', vmk2: '203.0.113.13' },
    });
    expect(after.charCodeAt(0)).toBe(0xfeff);
    expectInsertion(
      before,
      after,
      `\r\n\t\t<host fqdn="esx03.example.com" uuid="${NEW_UUID}">\r\n\t\t\t<address vmk="vmk0">192.0.2.13</address>\r\n\t\t\t<address vmk="vmk2">203.0.113.13</address>\r\n\t\t</host>`,
    );
  });

  it('refuses a UUID that is already a member, in either byte order', async () => {
    const base = fixture('base.xml');
    await expect(
      addMemberHost(base, { fqdn: 'new.example.com', uuid: '4C4C4544-0042-3510-8052-B3C04F4E3101' }),
    ).rejects.toMatchObject({ code: 'duplicate-uuid' });
    await expect(
      addMemberHost(base, { fqdn: 'new.example.com', uuid: swapUuidByteOrder('4c4c4544-0042-3510-8052-b3c04f4e3102') }),
    ).rejects.toThrow(/already a member \(esx02.example.com, line 76\)/);
  });

  it('refuses an FQDN that is already a member and malformed input', async () => {
    const base = fixture('base.xml');
    await expect(addMemberHost(base, { fqdn: 'ESX01.example.com.', uuid: NEW_UUID })).rejects.toMatchObject({
      code: 'duplicate-fqdn',
    });
    await expect(addMemberHost(base, { fqdn: 'x.example.com', uuid: 'not-a-uuid' })).rejects.toBeInstanceOf(
      MemberEditError,
    );
    await expect(
      addMemberHost(base, { fqdn: 'x.example.com', uuid: '00000000-0000-0000-0000-000000000000' }),
    ).rejects.toMatchObject({ code: 'bad-input' });
    await expect(addMemberHost(base, { fqdn: 'x.example.com', uuid: NEW_UUID, mac: 'zz' })).rejects.toMatchObject({
      code: 'bad-input',
    });
  });

  it('refuses a result that does not validate, listing every problem', async () => {
    const base = fixture('base.xml');
    const err = await addMemberHost(base, { fqdn: 'esx03.example.com', uuid: NEW_UUID }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterValidationError);
    const msgs = (err as ClusterValidationError).diagnostics.map((d) => d.message);
    expect(msgs).toEqual([
      'esx03.example.com has no address for vmk0 (static): add <address vmk="vmk0">…</address>',
      'esx03.example.com has no address for vmk2 (static): add <address vmk="vmk2">…</address>',
    ]);
    await expect(
      addMemberHost(base, { fqdn: 'esx03', uuid: NEW_UUID, addresses: { vmk0: '192.0.2.13', vmk2: '203.0.113.13' } }),
    ).rejects.toThrow(/pattern/);
    await expect(
      addMemberHost(base, {
        fqdn: 'esx03.example.com',
        uuid: NEW_UUID,
        addresses: { vmk0: '192.0.2.11', vmk2: '203.0.113.13' },
      }),
    ).rejects.toThrow(/already used by esx01/);
  });

  it('escapes attribute values', async () => {
    const before = fixture('minimal.xml');
    await expect(
      addMemberHost(before, { fqdn: 'a.example.com', uuid: NEW_UUID, image: 'x"/><evil/>' }),
    ).rejects.toThrow(ClusterValidationError);
  });
});
