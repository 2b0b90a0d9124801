/**
 * A self-signed certificate for HTTPS tests: `openssl req -x509` (ECDSA P-256, one day,
 * CN=localhost, subjectAltName localhost and 127.0.0.1) written as `cert.pem` and `key.pem`.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Writes `<dir>/cert.pem` and `<dir>/key.pem`; returns their paths.
 * @throws Error naming openssl (run scripts/install-test-deps) when it fails
 */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'pipe' },
    );
  } catch (e) {
    throw new Error('openssl failed (run scripts/install-test-deps)', { cause: e });
  }
  return { cert, key };
}
