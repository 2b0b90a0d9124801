/**
 * The store a configuration names (config `data-dir` and `store.*`), for `openStore`
 * (src/store/index.ts): SQLite in `data-dir` unless `store.url` (or `STATELESX_DATABASE_URL`)
 * names PostgreSQL, whose password comes from `store.password-file` / `password-env` when set.
 */
import type { Config } from './schema.js';
import { readSecret } from './secrets.js';

/** Shape of `openStore`'s target (src/store/index.ts `StoreTarget`). */
export interface ConfiguredStore {
  dataDir: string;
  url: string | undefined;
  password: string | undefined;
  poolSize: number;
}

/**
 * @throws Error naming `store.password-file` / `password-env` (never the value) when the secret
 *   is missing or empty
 */
export function storeTarget(config: Config, env: NodeJS.ProcessEnv = process.env): ConfiguredStore {
  const s = config.store;
  const hasSecret = Boolean(s['password-file'] || s['password-env']);
  return {
    dataDir: config['data-dir'],
    url: s.url,
    password: s.url && hasSecret ? readSecret(s, 'store', env) : undefined,
    poolSize: s['pool-size'],
  };
}
