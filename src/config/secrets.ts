/**
 * Reads a secret named by `password-file` or `password-env` (see {@link secretSource}).
 * The value is returned to the caller only; it is never logged or put in an error message.
 */
import { readFileSync } from 'node:fs';

export interface SecretRef {
  'password-file'?: string | undefined;
  'password-env'?: string | undefined;
}

/**
 * @param ref where the secret lives
 * @param what a label for errors, e.g. `vcenters[vc1]`
 * @returns the secret, trailing newline removed
 * @throws Error naming the file or variable (not the value) when it is missing or empty
 */
export function readSecret(ref: SecretRef, what: string, env: NodeJS.ProcessEnv = process.env): string {
  if (ref['password-env']) {
    const v = env[ref['password-env']];
    if (!v) throw new Error(`${what}: environment variable ${ref['password-env']} is not set or empty`);
    return v;
  }
  if (ref['password-file']) {
    let v: string;
    try {
      v = readFileSync(ref['password-file'], 'utf8');
    } catch (e) {
      throw new Error(
        `${what}: cannot read password-file ${ref['password-file']}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        { cause: e },
      );
    }
    v = v.replace(/\r?\n$/, '');
    if (!v) throw new Error(`${what}: password-file ${ref['password-file']} is empty`);
    return v;
  }
  throw new Error(`${what}: no password-file or password-env`);
}
