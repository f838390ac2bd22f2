/**
 * Structured logs for every service: pino, one JSON object per line on stdout.
 *
 * - Every line carries `service` and `pid`; request lines (shared/observability.ts) carry the
 *   `reqId` that travels with each request, so `grep <reqId>` over all services' output follows
 *   one order end to end.
 * - LOG_LEVEL sets the level; LOG_FORMAT=pretty renders lines for people with pino-pretty,
 *   in-process and synchronously, so no line is lost when a service exits right after writing
 *   it. `auto` (the default) is pretty on a terminal and JSON otherwise, so the launcher and
 *   tests always get machine-readable lines. `npm start` always asks its services for JSON and
 *   renders what a person should see itself (scripts/lib/cluster/console.ts): it reads the
 *   fields, never the text.
 * - JSON lines are buffered and written asynchronously (pino's sonic-boom destination on fd 1,
 *   at least 4 KiB a write, flushed every FLUSH_INTERVAL_MS and when the process exits): at the
 *   default level every request writes a line, and one synchronous pipe write per line cost more
 *   CPU than serving a cached read. A SIGKILL can lose the last interval's lines; an exit cannot.
 * - `announce` writes the few lines that must always appear (the launcher waits for
 *   `listening on`), whatever LOG_LEVEL says.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import { createRequire } from 'node:module';
import type { LogFormat, LogLevel } from './config.ts';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; default process.stdout. Tests pass a collector. */
  destination?: { write(line: string): unknown };
  /** Whether the destination is a terminal (for format `auto`); default process.stdout.isTTY. */
  isTTY?: boolean;
}

/** Fields the pretty format leaves out of the trailing `{...}` (the message already says them). */
const PRETTY_IGNORE = 'pid,hostname,service,method,path,route,status,ms';

/**
 * pino's ISO timestamp, formatted once per millisecond: under load many lines share one, and
 * formatting a Date for each was 2 % of a cached read's CPU.
 */
let stampMs = -1;
let stamp = '';
function isoTimeOncePerMs(): string {
  const now = Date.now();
  if (now !== stampMs) {
    stampMs = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

/** How often buffered JSON lines are written out at the latest. */
export const FLUSH_INTERVAL_MS = 100;

/** stdout as pino's asynchronous, buffered destination, flushed on a timer and at exit. */
function bufferedStdout(): DestinationStream {
  const dest = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => dest.flush(), FLUSH_INTERVAL_MS).unref();
  return dest;
}

export function createLogger(service: string, opts: LoggerOptions = {}): Logger {
  const out = opts.destination ?? process.stdout;
  const format = opts.format ?? 'auto';
  const pretty =
    format === 'pretty' || (format === 'auto' && (opts.isTTY ?? Boolean(process.stdout.isTTY)));
  let destination: DestinationStream = out as DestinationStream;
  if (!pretty && !opts.destination) destination = bufferedStdout();
  if (pretty) {
    // Loaded only when asked for: services under a launcher or in tests never pay for it.
    const { prettyFactory } = createRequire(import.meta.url)(
      'pino-pretty',
    ) as typeof import('pino-pretty');
    const render = prettyFactory({
      singleLine: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: PRETTY_IGNORE,
    });
    destination = { write: (line: string) => void out.write(render(line)) };
  }
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service, pid: process.pid },
      timestamp: isoTimeOncePerMs,
    },
    destination,
  );
}

/** Writes at info even when LOG_LEVEL is quieter: for the lines a launcher or operator relies on. */
export function announce(logger: Logger, fields: Record<string, unknown>, msg: string): void {
  const target = logger.isLevelEnabled('info') ? logger : logger.child({}, { level: 'info' });
  target.info(fields, msg);
  // A launcher may be waiting for this very line: do not leave it in the buffer.
  logger.flush();
}
