import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseBootCfg, serializeBootCfg, esxiVersionOf, BootCfgError } from '../../src/images/bootcfg.js';

const ISO_CFG = readFileSync(new URL('../fixtures/images/esxi8-boot.cfg', import.meta.url), 'utf8');

function errorOf(text: string): BootCfgError {
  try {
    parseBootCfg(text, 'x/boot.cfg');
  } catch (e) {
    if (e instanceof BootCfgError) return e;
    throw e;
  }
  throw new Error('expected a BootCfgError');
}

describe('boot.cfg parser', () => {
  it('reads an ESXi 8 installer boot.cfg: kernel, kernelopt, 17 modules split on " --- ", build', () => {
    const c = parseBootCfg(ISO_CFG);
    expect(c.kernel).toBe('/b.b00');
    expect(c.kernelopt).toBe('runweasel cdromBoot');
    expect(c.modules).toHaveLength(17);
    expect(c.modules[0]).toBe('/jumpstrt.gz');
    expect(c.modules.at(-1)).toBe('/imgpayld.tgz');
    expect(c.prefix).toBe('');
    expect(c.title).toBe('Loading ESXi installer');
    expect(esxiVersionOf(c)).toEqual({ version: '8.0.2', build: '22380479' });
  });

  it('round-trips byte for byte (LF) and keeps unknown keys in place', () => {
    expect(serializeBootCfg(parseBootCfg(ISO_CFG))).toBe(ISO_CFG);
    const text = 'bootstate=0\nnorts=1\nfrobnicate=yes please\nkernel=b.b00\nmodules=a.gz --- b.gz\n';
    const c = parseBootCfg(text);
    expect(c.other).toEqual([{ key: 'frobnicate', value: 'yes please' }]);
    expect(c.norts).toBe('1');
    expect(serializeBootCfg(c)).toBe(text);
  });

  it('accepts CRLF, comments and blank lines; defaults kernelopt to empty', () => {
    const c = parseBootCfg('# comment\r\n\r\nkernel=/b.b00\r\nmodules=/a.gz --- /b.gz\r\n');
    expect(c.modules).toEqual(['/a.gz', '/b.gz']);
    expect(c.kernelopt).toBe('');
  });

  it('new keys are appended after the original order', () => {
    const c = parseBootCfg('kernel=b.b00\nmodules=a.gz\n');
    c.prefix = 'img1';
    expect(serializeBootCfg(c)).toBe('kernel=b.b00\nmodules=a.gz\nprefix=img1\n');
  });

  it('reports errors with file and line', () => {
    expect(errorOf('kernel=/b.b00\nthis line has no equals\nmodules=/a\n').message).toBe(
      'x/boot.cfg:2: expected key=value, got "this line has no equals"',
    );
    const dup = errorOf('kernel=/b.b00\nmodules=/a\n\nkernel=/c\n');
    expect([dup.line, dup.problem]).toEqual([4, 'duplicate key "kernel" (first at line 1)']);
    expect(errorOf('kernel=/b.b00\nmodules=/a --- --- /b\n').line).toBe(2);
    expect(errorOf('kernel=/b.b00\nmodules=/a --- /b --- \n').message).toMatch(
      /^x\/boot.cfg:2: empty module name at position 3/,
    );
    expect(errorOf('=x\nkernel=/b\nmodules=/a\n').message).toBe('x/boot.cfg:1: empty key before "="');
  });

  it('refuses a file without kernel= or modules= (not ESXi)', () => {
    expect(errorOf('title=hello\nmodules=/a\n').message).toBe('x/boot.cfg: no "kernel=" line (not an ESXi boot.cfg?)');
    expect(errorOf('kernel=/b.b00\n').message).toBe('x/boot.cfg: no "modules=" line (not an ESXi boot.cfg?)');
  });

  it('reads older build= shapes and tolerates odd ones', () => {
    const v = (b: string) => esxiVersionOf(parseBootCfg(`kernel=b\nmodules=a\nbuild=${b}\n`));
    expect(v('7.0.3-0.35.19482537')).toEqual({ version: '7.0.3', build: '19482537' });
    expect(v('6.7.0-1.28.10302608')).toEqual({ version: '6.7.0', build: '10302608' });
    expect(v('garbage')).toEqual({ version: null, build: null });
  });
});
