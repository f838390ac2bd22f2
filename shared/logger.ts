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
 *   Lines are gathered into chunks of LINE_CHUNK_CHARS before they reach sonic-boom
 *   (`LineChunker`): sonic-boom measures the byte length of its whole pending buffer on every
 *   write, which, one line at a time, grew with the buffer and cost more than the line itself.
 * - `lineWriter(logger)` is the hot path's way to write a line (the request observer's one line
 *   per request, shared/observability.ts): the caller hands over its fields already as JSON, and
 *   the line is exactly what pino would write for them (its level prefix, time, bindings, msg),
 *   without pino's per-call work (message formatting, a loop over an object's keys, escaping
 *   strings that need none). It exists only for loggers whose options cannot change a line
 *   (no mixin, hooks, redaction, formatters or custom message key): for others it is null and
 *   callers log through pino.
 * - `announce` writes the few lines that must always appear (the launcher waits for
 *   `listening on`), whatever LOG_LEVEL says.
 */
import pino, { type DestinationStream, type Level, type Logger } from 'pino';
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
/** Lines gathered before they are handed to sonic-boom as one write. */
export const LINE_CHUNK_CHARS = 8 * 1024;

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * Gathers lines into chunks before sonic-boom sees them (see the module comment). Everything a
 * logger writes goes through one chunker, so lines keep their order. Bounded: a chunk is handed
 * on as soon as it reaches LINE_CHUNK_CHARS.
 */
export class LineChunker {
  private chunk = '';

  constructor(
    private readonly dest: Pick<SonicBoom, 'write' | 'flush' | 'flushSync'>,
    private readonly chunkChars = LINE_CHUNK_CHARS,
  ) {}

  write(line: string): boolean {
    this.chunk += line;
    if (this.chunk.length >= this.chunkChars) this.handOn();
    return true;
  }

  /**
   * Hands on what is gathered, then asks sonic-boom to write everything out (`cb` once written).
   */
  flush(cb?: (err?: Error) => void): void {
    this.handOn();
    this.dest.flush(cb);
  }

  flushSync(): void {
    this.handOn();
    this.dest.flushSync();
  }

  private handOn(): void {
    if (this.chunk === '') return;
    const chunk = this.chunk;
    this.chunk = '';
    this.dest.write(chunk);
  }
}

/** stdout as pino's asynchronous, buffered destination, flushed on a timer and at exit. */
function bufferedStdout(): DestinationStream {
  const lines = new LineChunker(pino.destination({ dest: 1, sync: false, minLength: 4096 }));
  setInterval(() => lines.flush(), FLUSH_INTERVAL_MS).unref();
  // pino flushes its own destination at exit; the lines still gathered here must reach it first.
  process.once('exit', () => {
    try {
      lines.flushSync();
    } catch {
      // stdout already closed: nothing left to write to
    }
  });
  return lines as unknown as DestinationStream;
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

/**
 * Writes one line at `level` whose fields are `fieldsJson` (`,"k":v,...`, each value valid JSON)
 * and whose message is `msgJson` (the message as a JSON string, quotes included).
 */
export type LineWriter = (level: Level, fieldsJson: string, msgJson: string) => void;

const {
  chindingsSym,
  endSym,
  formattersSym,
  hooksSym,
  lsCacheSym,
  messageKeySym,
  mixinSym,
  msgPrefixSym,
  needsMetadataGsym,
  nestedKeySym,
  streamSym,
  stringifiersSym,
  timeSym,
} = pino.symbols as unknown as Record<
  | 'chindingsSym'
  | 'endSym'
  | 'formattersSym'
  | 'hooksSym'
  | 'lsCacheSym'
  | 'messageKeySym'
  | 'mixinSym'
  | 'msgPrefixSym'
  | 'needsMetadataGsym'
  | 'nestedKeySym'
  | 'streamSym'
  | 'stringifiersSym'
  | 'timeSym',
  symbol
>;

/**
 * The hot path's line writer for `logger` (see the module comment), or null when the logger's
 * options could make pino write something else for the same call.
 */
export function lineWriter(logger: Logger): LineWriter | null {
  const l = logger as unknown as Record<symbol, any>;
  const stream = l[streamSym];
  const hooks = l[hooksSym] ?? {};
  const plain =
    l[messageKeySym] === 'msg' &&
    !l[mixinSym] &&
    !l[msgPrefixSym] &&
    !l[nestedKeySym] &&
    !l[formattersSym]?.log &&
    !hooks.logMethod &&
    !hooks.streamWrite &&
    Object.keys(l[stringifiersSym] ?? {}).length === 0 &&
    typeof stream?.write === 'function' &&
    stream[needsMetadataGsym] !== true;
  if (!plain) return null;
  const values = logger.levels.values;
  return (level, fieldsJson, msgJson) => {
    const prefix: string = l[lsCacheSym][values[level]!];
    stream.write(
      `${prefix}${l[timeSym]()}${l[chindingsSym]}${fieldsJson},"msg":${msgJson}${l[endSym]}`,
    );
  };
}

/** Printable ASCII other than `"` and `\`: a JSON string of these needs no escaping. */
const PLAIN_JSON = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** `s` as a JSON string: quoted as is when nothing needs escaping, else JSON.stringify. */
export function jsonString(s: string): string {
  return PLAIN_JSON.test(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * Writes at info even when LOG_LEVEL is quieter: for the lines a launcher or operator relies on.
 */
export function announce(logger: Logger, fields: Record<string, unknown>, msg: string): void {
  const target = logger.isLevelEnabled('info') ? logger : logger.child({}, { level: 'info' });
  target.info(fields, msg);
  // A launcher may be waiting for this very line: do not leave it in the buffer.
  logger.flush();
}
