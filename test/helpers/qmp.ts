/**
 * A minimal QMP client (QEMU Machine Protocol, docs/interop/qmp-spec in QEMU's tree): enough to send
 * one command to the socket `pxe-boot-check --qmp SOCKET` gives its VM, e.g. `system_reset`, which
 * sends the same VM through its PXE firmware again.
 *
 * The exchange: QEMU greets with `{"QMP": {...}}`; the client sends `{"execute":"qmp_capabilities"}`
 * and waits for `{"return": {}}`; then each command gets `{"return": ...}` or `{"error": {class, desc}}`.
 * Asynchronous `{"event": ...}` lines may come in between and are skipped.
 */
import { connect } from 'node:net';

/**
 * Connects to the QMP unix socket at `socketPath`, negotiates capabilities and runs `command`
 * (with `args` as QMP `arguments`). Resolves to the command's `return` value.
 * Throws on a connection error, a QMP `error` answer (its class and description), or when no
 * answer came within `timeoutMs` (default 10 s).
 */
export async function qmpExecute(
  socketPath: string,
  command: string,
  args?: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<unknown> {
  const sock = connect(socketPath);
  sock.setEncoding('utf8');
  let buffered = '';
  const waiting: Array<(msg: Record<string, unknown>) => void> = [];
  const queued: Array<Record<string, unknown>> = [];
  let failed: Error | undefined;
  const failures: Array<(e: Error) => void> = [];
  const fail = (e: Error): void => {
    failed ??= e;
    for (const f of failures.splice(0)) f(e);
  };
  sock.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as Record<string, unknown>;
      if ('event' in msg) continue;
      const w = waiting.shift();
      if (w) w(msg);
      else queued.push(msg);
    }
  });
  sock.on('error', fail);
  sock.on('close', () => fail(new Error(`QMP ${socketPath}: connection closed`)));
  const next = (what: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      const q = queued.shift();
      if (q) return resolve(q);
      const timer = setTimeout(
        () => reject(new Error(`QMP ${socketPath}: no answer to ${what} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      failures.push((e) => {
        clearTimeout(timer);
        reject(e);
      });
      waiting.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  const call = async (execute: string, a?: Record<string, unknown>): Promise<unknown> => {
    sock.write(JSON.stringify(a ? { execute, arguments: a } : { execute }) + '\n');
    const ans = await next(execute);
    if ('error' in ans) {
      const e = ans['error'] as { class?: string; desc?: string };
      throw new Error(`QMP ${execute}: ${e.class ?? 'error'}: ${e.desc ?? JSON.stringify(e)}`);
    }
    return ans['return'];
  };
  try {
    const greeting = await next('the greeting');
    if (!('QMP' in greeting)) throw new Error(`QMP ${socketPath}: unexpected greeting ${JSON.stringify(greeting)}`);
    await call('qmp_capabilities');
    return await call(command, args);
  } finally {
    sock.removeAllListeners('close');
    sock.on('error', () => undefined);
    sock.destroy();
  }
}
