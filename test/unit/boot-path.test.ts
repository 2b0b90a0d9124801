import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { checkBootPath, resolveInside, resolveTrusted, PathRejectedError } from '../../src/boot/files/path.js';

describe('boot path safety', () => {
  it.each([
    ['../etc/passwd', '".." segment'],
    ['a/../../x', '".." segment'],
    ['/etc/passwd', 'absolute path'],
    ['pxelinux.cfg\\default', 'backslash'],
    ['a\u0000b', 'control character'],
    ['a//b', 'empty path segment'],
    ['./x', '"." segment'],
    ['', 'empty file name'],
  ])('refuses %j (%s)', (p, reason) => {
    expect(() => checkBootPath(p)).toThrow(PathRejectedError);
    expect(() => checkBootPath(p)).toThrow(reason);
  });

  it('accepts normal names and resolves them; refuses symlinks that leave the root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sx-root-'));
    mkdirSync(join(root, 'pxelinux.cfg'));
    writeFileSync(join(root, 'pxelinux.cfg', 'default'), 'x');
    symlinkSync('/etc/hostname', join(root, 'escape'));
    expect(checkBootPath('pxelinux.cfg/default')).toEqual(['pxelinux.cfg', 'default']);
    expect(await resolveInside(root, ['pxelinux.cfg', 'default'], 'pxelinux.cfg/default')).toMatch(
      /pxelinux\.cfg\/default$/,
    );
    expect(await resolveInside(root, ['missing'], 'missing')).toBeNull();
    await expect(resolveInside(root, ['escape'], 'escape')).rejects.toThrow(/symlink leaves the root/);
  });

  it('resolveTrusted follows a loader dir symlink wherever it leads; missing → null', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sx-loaders-'));
    const outside = mkdtempSync(join(tmpdir(), 'sx-boot-'));
    writeFileSync(join(outside, 'ipxe.efi'), 'efi');
    symlinkSync(join(outside, 'ipxe.efi'), join(root, 'ipxe.efi'));
    expect(await resolveTrusted(root, ['ipxe.efi'])).toBe(join(realpathSync(outside), 'ipxe.efi'));
    expect(await resolveTrusted(root, ['missing'])).toBeNull();
    expect(await resolveTrusted(join(root, 'nodir'), ['ipxe.efi'])).toBeNull();
    await expect(resolveInside(root, ['ipxe.efi'], 'ipxe.efi')).rejects.toThrow(/symlink leaves the root/);
  });
});
