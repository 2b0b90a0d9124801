/**
 * `statelesx cluster validate` through its command function (exit code, stdout and stderr lines);
 * the same command as a real process is test/integration/clusters-cli-process.test.ts.
 */
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runClusterValidate, type CliOutput } from '../../src/cli/cluster.js';
import { EXAMPLES_DIR, fixture, mutate, posOf, writeExamplesConfig } from '../fixtures/clusters/helpers.js';

const PROD = join(EXAMPLES_DIR, 'prod-cluster.xml');
const LAB = join(EXAMPLES_DIR, 'lab-cluster.xml');
const tmp = mkdtempSync(join(tmpdir(), 'sx-cluster-cli-'));
let OK_YAML: string;
beforeAll(() => {
  OK_YAML = writeExamplesConfig(tmp);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function capture(): CliOutput & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
}

describe('statelesx cluster validate', () => {
  it('exits 0 for the examples and prints one ok line per file', async () => {
    const io = capture();
    expect(await runClusterValidate([PROD, LAB], { config: OK_YAML }, io)).toBe(0);
    expect(io.stdout).toEqual([
      `${PROD}: ok (cluster prod-cluster, 4 hosts)`,
      `${LAB}: ok (cluster lab-cluster, 2 hosts)`,
    ]);
    expect(io.stderr).toEqual([]);
  });

  it('exits 1 and prints file:line:column: path: message for every problem, using the configuration; images not imported are warnings', async () => {
    const yaml = join(tmp, 'prod-only.yaml');
    mkdirSync(join(tmp, 'images2', 'ESXi-8.0U3b-24280767-standard'), { recursive: true });
    writeFileSync(
      yaml,
      'images-dir: ./images2\nvcenters:\n  - { name: vc-prod, url: "https://vc.example.com/sdk", username: u, password-env: P }\ncredentials:\n  - { name: esxi-root, username: root, password-file: /run/secrets/esxi }\n',
    );
    const bad = join(tmp, 'bad.xml');
    const text = mutate(
      fixture('base.xml'),
      '<vswitch name="vSwitch1" mtu="9000">',
      '<vswitch name="vSwitch1" mtu="9500">',
    );
    writeFileSync(bad, text);
    const io = capture();
    expect(await runClusterValidate([PROD, LAB, bad], { config: yaml }, io)).toBe(1);
    const at = posOf(text, 'mtu="9500"');
    const labText = readFileSync(LAB, 'utf8');
    const vc = posOf(labText, '<vcenter>');
    const pin = posOf(labText, 'image="ESXi-8.0U3c');
    const def = posOf(labText, '<defaultImage>');
    // Errors first, files in argument order (PROD, LAB, bad), whatever directories they live in;
    // then the warnings (images not in images2/: the server still loads such a file).
    expect(io.stderr).toEqual([
      `${LAB}:${vc.line}:${vc.column}: /cluster/vcenter: vCenter "vc-lab" is not declared under vcenters: in the server configuration (known: vc-prod)`,
      `${bad}:${at.line}:${at.column}: /cluster/network/vswitch[2]/@mtu: Element 'vswitch', attribute 'mtu': [facet 'maxInclusive'] The value '9500' is greater than the maximum value allowed ('9000').`,
      `${LAB}:${def.line}:${def.column}: warning: /cluster/defaultImage: image "demo" is not imported (statelesx image import); until it is, hosts without a pin boot from local disk`,
      `${LAB}:${pin.line}:${pin.column}: warning: /cluster/members/host[2]/@image: image "ESXi-8.0U3c-24414501-standard" pinned for esx-lab2.lab.example.com is not imported (statelesx image import); until it is, esx-lab2.lab.example.com boots from local disk`,
    ]);
    expect(io.stdout).toEqual([`${PROD}: ok (cluster prod-cluster, 4 hosts)`]);
  });

  it('reports a UUID shared by two of the given files and a missing file', async () => {
    const a = join(tmp, 'a.xml');
    const b = join(tmp, 'b.xml');
    writeFileSync(a, fixture('base.xml'));
    const bText = mutate(
      fixture('minimal.xml'),
      '<members/>',
      '<members>\n    <host fqdn="other.example.com" uuid="4C4C4544-0042-3510-8052-B3C04F4E3101"/>\n  </members>',
    );
    writeFileSync(b, bText);
    const io = capture();
    expect(await runClusterValidate([a, b, join(tmp, 'missing.xml')], { config: OK_YAML }, io)).toBe(1);
    const inB = posOf(bText, 'uuid=');
    const inA = posOf(fixture('base.xml'), 'uuid="4c4c4544-0042-3510-8052-b3c04f4e3101"');
    expect(io.stderr).toContain(
      `${b}:${inB.line}:${inB.column}: /cluster/members/host[1]/@uuid: UUID 4c4c4544-0042-3510-8052-b3c04f4e3101 is also a member of cluster "fx-cluster" (${a}, esx01.example.com); a host belongs to one cluster`,
    );
    expect(io.stderr).toContain(
      `${a}:${inA.line}:${inA.column}: /cluster/members/host[1]/@uuid: UUID 4c4c4544-0042-3510-8052-b3c04f4e3101 is also a member of cluster "fx-minimal" (${b}, other.example.com); a host belongs to one cluster`,
    );
    expect(io.stderr).toContain(`${join(tmp, 'missing.xml')}:1:1: /: cannot read: ENOENT`);
  });

  it('exits 2 on a broken configuration', async () => {
    const yaml = join(tmp, 'broken.yaml');
    writeFileSync(yaml, 'vcenters: 3\n');
    const io = capture();
    expect(await runClusterValidate([PROD], { config: yaml }, io)).toBe(2);
    expect(io.stderr[0]).toMatch(/configuration error/);
  });
});
