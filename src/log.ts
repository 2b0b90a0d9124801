/**
 * Structured logging: one pino root logger, one child per subsystem (`subsystem` field).
 * Callers add `client` (address:port), `transfer`, `job` or `req` ids to their own children.
 * Secrets are redacted by key name wherever they appear in a logged object.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

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
 * Creates the root logger.
 * @param level pino level name (`info`, `debug`, ... `silent`)
 * @param dest optional destination (tests pass a stream to read lines back)
 */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'statelesx' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    dest,
  );
}

/** A logger that prints nothing (unit tests, CLI commands that only print results). */
export const silentLogger: Logger = pino({ level: 'silent' });
