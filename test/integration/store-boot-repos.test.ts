/** PhoneHomeRepo (table `phone_homes`) on both stores: SQLite and a real PostgreSQL (test/helpers/stores.ts). */
import { describe, expect, it } from 'vitest';
import { PhoneHomeRepo, type PhoneHomeRecord } from '../../src/store/phonehomes.js';
import { STORE_DIALECTS, useStores } from '../helpers/stores.js';

const fresh = useStores();

const rec = (at: number, hostUuid: string | null, result: PhoneHomeRecord['result'], reason: string | null) => ({
  at,
  address: '10.0.0.1',
  transport: 'tcp' as const,
  hostUuid,
  hostname: null,
  result,
  reason,
  jobId: null,
});

describe.each(STORE_DIALECTS)('PhoneHomeRepo on %s', (dialect) => {
  it('records attempts with ids, lists newest first (all, per host, limited), counts by result and reason', async () => {
    const repo = new PhoneHomeRepo(await fresh(dialect));
    const a = await repo.record(rec(1000, 'u1', 'ok', null));
    const b = await repo.record(rec(3000, 'u2', 'refused', 'token-missing'));
    const c = await repo.record(rec(2000, 'u1', 'refused', 'token-missing'));
    expect(a).toBeLessThan(b);
    expect(b).toBeLessThan(c);
    expect((await repo.list()).map((p) => p.id)).toEqual([b, c, a]);
    expect((await repo.list({ hostUuid: 'u1' })).map((p) => p.at)).toEqual([2000, 1000]);
    expect(await repo.list({ limit: 1 })).toEqual([{ id: b, ...rec(3000, 'u2', 'refused', 'token-missing') }]);
    expect(await repo.count()).toBe(3);
    expect(await repo.counts()).toEqual([
      { result: 'ok', reason: '', count: 1 },
      { result: 'refused', reason: 'token-missing', count: 2 },
    ]);
  });
});
