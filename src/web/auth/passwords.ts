/**
 * Password hashing for console users: argon2id (RFC 9106) via the `argon2` package, PHC string
 * format. Also the password policy shared by the API, the setup page and `statelesx user`.
 */
/** argon2, loaded on the first hash or verify (a login, a new user), not at start (issue 20: idle RSS). */
async function argon2(): Promise<Argon2> {
  const m = (await import('argon2')) as Argon2 & { default?: Argon2 };
  return m.default ?? m;
}
type Argon2 = typeof import('argon2');

/** Minimum password length in characters. */
export const MIN_PASSWORD_LENGTH = 10;

/** Hashes a password with argon2id (library defaults: m=64 MiB, t=3, p=4). */
export async function hashPassword(password: string): Promise<string> {
  const a = await argon2();
  return a.hash(password, { type: a.argon2id });
}

/** True when `password` matches the PHC `hash`; false for a malformed hash. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  const a = await argon2();
  try {
    return await a.verify(hash, password);
  } catch {
    return false;
  }
}

/** A reason the password is refused, or undefined when acceptable. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > 1024) return 'must be at most 1024 characters';
  return undefined;
}

/** A reason the user name is refused, or undefined. */
export function usernameProblem(name: string): string | undefined {
  return /^[a-zA-Z0-9._@-]{1,64}$/.test(name) ? undefined : 'must be 1–64 characters of letters, digits, . _ @ -';
}

/** A hash to verify against when the user does not exist, so unknown names cost the same time. */
let dummy: Promise<string> | undefined;
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword('statelesx-dummy-password-for-timing');
  return dummy;
}
