/**
 * Structured logging: one pino root logger, one child per subsystem (`subsystem` field).
 * Callers add `client` (address:port), `transfer`, `job` or `req` ids to their own children.
 * Secrets are redacted by key name wherever they appear in a logged object.
 *
 * Output: one JSON object per line when stdout is not a terminal (systemd's journal, Docker, a
 * pipe: what log shippers parse); human-readable lines through pino-pretty when it is (a server
 * started by hand). Redaction happens before either.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'req.headers.cookie',
  'req.headers.authorization',
  'headers.cookie',
  'cookie',
  '*.cookie',
];

/**
 * The human-readable destination for a terminal: pino-pretty writing synchronously to file
 * descriptor `fd` (so a line logged just before `process.exit` is not lost), colours when the
 * terminal has them, local wall-clock time, the `subsystem` before the message, the other fields
 * after it (one per line). pino-pretty is loaded here, on first use: a server whose logs go to a
 * pipe (systemd, containers) never needs it (~3 MiB RSS, issue 20).
 */
export function prettyDestination(fd = 1): DestinationStream {
  const pinoPretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pinoPretty({
    destination: fd,
    sync: true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'app,subsystem',
    messageFormat: '{if subsystem}{subsystem}: {end}{msg}',
  });
}

/**
 * Where the root logger writes when the caller names no destination: {@link prettyDestination}
 * when `out` is a terminal (`isTTY`), else undefined (pino's JSON lines on stdout).
 */
export function defaultDestination(
  out: { isTTY?: boolean | undefined; fd?: number } = process.stdout,
): DestinationStream | undefined {
  return out.isTTY ? prettyDestination(out.fd ?? 1) : undefined;
}

/**
 * Creates the root logger.
 * @param level pino level name (`info`, `debug`, ... `silent`)
 * @param dest optional destination (tests pass a stream to read lines back); default
 *   {@link defaultDestination}: pretty on a terminal, JSON lines otherwise
 */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'statelesx' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    dest ?? defaultDestination(),
  );
}

/** A logger that prints nothing (unit tests, CLI commands that only print results). */
export const silentLogger: Logger = pino({ level: 'silent' });
