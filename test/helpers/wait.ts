/**
 * The suite's one polling wait, over vitest's `vi.waitUntil`: every test that waits for a state
 * (a transfer ended, a job finished, a line logged) says what it waits for, so a timeout names it.
 */
import { vi } from 'vitest';

/**
 * Polls `probe` every `intervalMs` until it returns a truthy value (or a promise of one) and
 * resolves that value.
 * @param what what is awaited, for the timeout message ("the configure job of U1 to finish")
 * @param timeoutMs how long to poll, ms (default 3000)
 * @param intervalMs pause between probes, ms (default 20)
 * @throws Error `timed out after N ms waiting for <what>` when it never holds; an error the probe
 *   throws ends the wait at once and is rethrown as is (a probe fails early that way).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  timeoutMs = 3000,
  intervalMs = 20,
): ReturnType<typeof vi.waitUntil<T>> {
  let probeFailed = false;
  try {
    return await vi.waitUntil(
      async () => {
        try {
          return await probe();
        } catch (e) {
          probeFailed = true;
          throw e;
        }
      },
      { timeout: timeoutMs, interval: intervalMs },
    );
  } catch (e) {
    if (probeFailed) throw e;
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: e });
  }
}
