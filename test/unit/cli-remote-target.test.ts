/**
 * The remote CLI's choice of server, token and CA (src/cli/remote/target.ts) with real files:
 * flag > $STATELESX_SERVER > cli.yaml; the token from $STATELESX_TOKEN or cli.yaml; the file under
 * $XDG_CONFIG_HOME, refused unless 0600 or stricter; and the event-stream reader (sse.ts) on
 * chunk boundaries the network may cut anywhere.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { clientFilePath, remoteTarget } from '../../src/cli/remote/target.js';
import { UsageError } from '../../src/cli/remote/errors.js';
import { readSse, type SseEvent } from '../../src/cli/remote/sse.js';

describe('remote target', () => {
  let dir: string;
  let file: string;
  const warnings: string[] = [];
  const warn = (l: string) => warnings.push(l);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sx-cli-target-'));
    mkdirSync(join(dir, 'statelesx'));
    file = join(dir, 'statelesx', 'cli.yaml');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is the local mode without any server, and with --local', () => {
    expect(remoteTarget({}, { XDG_CONFIG_HOME: join(dir, 'none') }, warn)).toBeUndefined();
    expect(remoteTarget({ local: true }, { STATELESX_SERVER: 'http://127.0.0.1:1' }, warn)).toBeUndefined();
  });

  it('takes --server over $STATELESX_SERVER over the file, and the token from the env over the file', () => {
    writeFileSync(file, 'server: https://file.example:8080/\ntoken: sxt_from_file\n');
    chmodSync(file, 0o600);
    const env = { XDG_CONFIG_HOME: dir };
    expect(remoteTarget({}, env, warn)).toMatchObject({
      server: 'https://file.example:8080',
      token: 'sxt_from_file',
      from: { server: file, token: file },
    });
    expect(
      remoteTarget({}, { ...env, STATELESX_SERVER: 'https://env.example', STATELESX_TOKEN: 'sxt_env' }, warn),
    ).toMatchObject({ server: 'https://env.example', token: 'sxt_env', from: { server: '$STATELESX_SERVER' } });
    expect(remoteTarget({ server: 'https://flag.example' }, env, warn)?.server).toBe('https://flag.example');
    expect(clientFilePath({ HOME: '/home/u' })).toBe('/home/u/.config/statelesx/cli.yaml');
    expect(clientFilePath({ HOME: '/home/u', XDG_CONFIG_HOME: '/x' })).toBe('/x/statelesx/cli.yaml');
  });

  it('refuses a group- or world-accessible file, unknown keys, a missing token; warns about http:// to another machine', () => {
    const env = { XDG_CONFIG_HOME: dir };
    writeFileSync(file, 'server: https://file.example\ntoken: sxt_secret_value\n');
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      chmodSync(file, mode);
      expect(() => remoteTarget({}, env, warn)).toThrow(
        new UsageError(
          `${file} holds an API token but its permissions are 0${mode.toString(8)}: it must not be accessible by group or others; run: chmod 600 ${file}`,
        ),
      );
    }
    chmodSync(file, 0o400);
    expect(remoteTarget({}, env, warn)?.token).toBe('sxt_secret_value');
    chmodSync(file, 0o600);
    writeFileSync(file, 'server: https://file.example\npassword: x\n');
    expect(() => remoteTarget({}, env, warn)).toThrow(/unknown key "password"/);
    writeFileSync(file, '');
    expect(() => remoteTarget({ server: 'https://a.example' }, env, warn)).toThrow(
      /no API token for https:\/\/a\.example/,
    );
    expect(() => remoteTarget({ server: 'ftp://a.example' }, env, warn)).toThrow(
      /must be an http:\/\/ or https:\/\/ URL/,
    );
    remoteTarget({ server: 'http://10.1.2.3:8080' }, { ...env, STATELESX_TOKEN: 't' }, warn);
    remoteTarget({ server: 'http://127.0.0.1:8080' }, { ...env, STATELESX_TOKEN: 't' }, warn);
    expect(warnings).toEqual([
      'statelesx: warning: http://10.1.2.3:8080 is http://: the API token crosses the network in clear text; use https://',
    ]);
  });
});

describe('event-stream reader', () => {
  /** The body as the network might deliver it: `size`-byte chunks, cutting characters and line ends. */
  function chunks(text: string, size: number): AsyncIterable<Uint8Array> {
    const bytes = new TextEncoder().encode(text);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += size) parts.push(bytes.slice(i, i + size));
    return new ReadableStream<Uint8Array>({
      start(c) {
        for (const p of parts) c.enqueue(p);
        c.close();
      },
    });
  }
  const all = async (text: string, size: number) => {
    const out: SseEvent[] = [];
    for await (const e of readSse(chunks(text, size))) out.push(e);
    return out;
  };

  it('reads events, ids, comments and multi-line data whatever the chunk size and line ends', async () => {
    const stream =
      ': statelesx job stream\r\nretry: 2000\r\n\r\n' +
      'event: log\nid: 7\ndata: {"msg":"héllo"}\n\n' +
      'event: job\rdata: line1\rdata:line2\r\r' +
      'data: no event name\n\n' +
      'event: end\ndata: {"state":"succeeded"}\n\n' +
      'event: cut\ndata: never dispatched';
    for (const size of [1, 2, 3, 7, 1000]) {
      expect(await all(stream, size)).toEqual([
        { event: 'log', data: '{"msg":"héllo"}', id: '7', retry: 2000 },
        { event: 'job', data: 'line1\nline2', id: '7', retry: 2000 },
        { event: 'message', data: 'no event name', id: '7', retry: 2000 },
        { event: 'end', data: '{"state":"succeeded"}', id: '7', retry: 2000 },
      ]);
    }
  });
});
