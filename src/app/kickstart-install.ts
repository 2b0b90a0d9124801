/**
 * The install settings a stateful cluster's kickstart is rendered with ({@link KickstartInstall}):
 * the ESXi root password of the cluster's `credentials:` entry as a SHA-512 crypt hash for
 * `rootpw --iscrypted` (glibc crypt(3) `$6$`, by the `unixcrypt` library: Node's crypto has no
 * crypt(3)), and the disks `install` may choose (`boot/@firstDisk`, `boot/@overwriteVmfs`).
 *
 * The password is read when a ks.cfg is rendered (so a rotated secret is used at the next
 * install) and never leaves this module in clear: errors name the entry and the variable or
 * file, never the value. Each render gets a fresh 16-character random salt.
 */
import { randomBytes } from 'node:crypto';
import { encrypt } from 'unixcrypt';
import type { Config } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import type { KickstartInstall } from '../boot/render/kickstart.js';
import type { DesiredCluster } from '../clusters/types.js';

/** crypt(3)'s salt alphabet (`./0-9A-Za-z`). */
const SALT_CHARS = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The disk types `install --firstdisk=` gets when the cluster file names none. */
export const DEFAULT_FIRST_DISK = ['local'] as const;

/**
 * SHA-512 crypt of `password` with a random 16-character salt and the default 5000 rounds:
 * `$6$<salt>$<86 characters>`, what `openssl passwd -6` and `mkpasswd -m sha-512` produce.
 */
export function sha512Crypt(password: string, salt?: string): string {
  const s = salt ?? [...randomBytes(16)].map((b) => SALT_CHARS[b & 63]).join('');
  return encrypt(password, `$6$${s}`);
}

/**
 * Builds the lookup DefaultBootFileSource calls for a stateful member's ks.cfg.
 * @param getCluster a loaded cluster by name (the live repository)
 * @param credentials config `credentials:`
 * @returns `(cluster) => KickstartInstall`, which throws Error naming the cluster, or the
 *   credentials entry and its variable/file (never the password), when it cannot be built
 */
export function kickstartInstallLookup(
  getCluster: (name: string) => DesiredCluster | undefined,
  credentials: Config['credentials'],
  env: NodeJS.ProcessEnv = process.env,
): (cluster: string) => KickstartInstall {
  return (name) => {
    const c = getCluster(name);
    if (!c) throw new Error(`cluster ${name} is not loaded`);
    const cred = credentials.find((x) => x.name === c.credentials);
    if (!cred) throw new Error(`cluster ${name}: no credentials entry named ${c.credentials} in the configuration`);
    const password = readSecret(cred, `cluster ${name}: credentials[${cred.name}]`, env);
    return {
      rootpw: sha512Crypt(password),
      firstdisk: (c.boot?.firstDisk ?? DEFAULT_FIRST_DISK).join(','),
      overwritevmfs: c.boot?.overwriteVmfs === true,
    };
  };
}
