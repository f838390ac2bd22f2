/**
 * What `npm start` shows a person, from the services' JSON lines (log-lines.ts):
 *  - events as they happen (leader changes, elections, catch-ups, restocks, storage damage and
 *    recovery, pushes failing and recovering, shutdowns), warnings and errors, and anything a
 *    service prints that is not a JSON line (a one-line refusal, a stack trace);
 *  - every SUMMARY_INTERVAL_MS, one summary line per service that did something (digest.ts);
 *  - request lines only when asked (LOG_REQUESTS=true). Otherwise they are counted in the
 *    summary, and of the failed ones (5xx) the first few of each window are shown;
 *  - routine events that come once per order (cache invalidations) are counted, not shown.
 * A per-service budget per window bounds what a flood can print (requests asked for aside); what
 * it holds back is counted in the next summary.
 *
 * Each service buffers its lines for up to 100 ms (shared/logger.ts), so lines arrive out of
 * order across services: a new leader's line before the frontend's "electing". With `reorderMs`
 * the console holds each line that long and prints them in the order they were written (their
 * `time`). Its own one-line messages join them at the time they are said (a replica killed by
 * hand is reported among the lines it caused, not before them); its blocks and summaries first
 * print everything held. Call `flush()` before the process exits.
 *
 * `pretty` renders `[service] 12:00:01.234 WARN message`, the tag coloured on a terminal.
 * `json` prints the services' lines as they wrote them and the launcher's own lines and
 * summaries as JSON objects of the same shape (`service: "start"`, `event: "summary"`), with no
 * prefix, so `npm start | jq` reads every line.
 */
import { describeExit } from './signals.ts';
import { StoreDigest, type ServiceSummary } from './digest.ts';
import { LEVEL, parseLogLine, ROUTINE_EVENTS, type LogLine } from './log-lines.ts';
import { SERVICE_COLORS, TAG_WIDTH } from './output.ts';
import type { ExitInfo, ServiceName } from './types.ts';

export interface ConsoleOptions {
  format: 'pretty' | 'json';
  color?: boolean;
  /** Show every request line (LOG_REQUESTS). */
  showRequests?: boolean;
  out?: { write(s: string): unknown };
  err?: { write(s: string): unknown };
  now?: () => number;
  /** Lines shown per service and window at most; past it they are counted. */
  lineBudget?: number;
  /** Failed-request lines shown per service and window when request lines are off. */
  failedRequestBudget?: number;
  /** Hold each line this long and print in time order (0: print at once). */
  reorderMs?: number;
}

/** Lines held for reordering at most; past it the oldest are printed at once. */
const MAX_HELD = 10_000;

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const RESET = '\x1b[0m';
const LEVEL_COLORS: Record<number, string> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[41m' };

export class StoreConsole {
  readonly digest: StoreDigest;
  private readonly now: () => number;
  private readonly out: { write(s: string): unknown };
  private readonly err: { write(s: string): unknown };
  private shown = new Map<ServiceName, { lines: number; failed: number }>();
  /** Rendered lines waiting for `reorderMs`, in arrival order. */
  private held: Array<{ timeMs: number; arrivedMs: number; text: string; toErr?: boolean }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: ConsoleOptions) {
    this.now = o.now ?? Date.now;
    this.out = o.out ?? process.stdout;
    this.err = o.err ?? process.stderr;
    this.digest = new StoreDigest(this.now);
  }

  /** One line of a child's stdout or stderr. */
  line(service: ServiceName, raw: string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    const line = parseLogLine(raw, stream, this.now());
    this.digest.observe(service, line);
    if (!this.wanted(line)) return;
    if (!this.withinBudget(service, line)) {
      this.digest.held(service);
      return;
    }
    const text =
      this.o.format === 'json'
        ? line.kind === 'text'
          ? JSON.stringify(textObject(service, line))
          : raw
        : this.render(service, line);
    this.emit({ timeMs: line.timeMs, arrivedMs: this.now(), text });
  }

  /** Writes a line now, or holds it for `reorderMs` to print it among the others by time. */
  private emit(h: { timeMs: number; arrivedMs: number; text: string; toErr?: boolean }): void {
    if (!this.o.reorderMs) {
      (h.toErr ? this.err : this.out).write(`${h.text}\n`);
      return;
    }
    this.held.push(h);
    if (this.held.length > MAX_HELD) this.release(Infinity);
    this.timer ??= setInterval(
      () => this.release(this.now() - this.o.reorderMs!),
      Math.max(10, this.o.reorderMs / 4),
    );
    this.timer.unref?.();
  }

  /** Prints every held line now, in time order (before the launcher says or exits anything). */
  flush(): void {
    this.release(Infinity);
  }

  /**
   * Prints the held lines that arrived before `cutoffMs`, and any written earlier than those, by
   * time.
   */
  private release(cutoffMs: number): void {
    if (this.held.length === 0) return;
    const due = this.held.filter((h) => h.arrivedMs <= cutoffMs);
    if (due.length === 0) return;
    const latest = Math.max(...due.map((h) => h.timeMs));
    const [out, keep] = partition(this.held, (h) => h.arrivedMs <= cutoffMs || h.timeMs <= latest);
    this.held = keep;
    out.sort((a, b) => a.timeMs - b.timeMs);
    // Consecutive lines for one stream in one write.
    for (let i = 0; i < out.length; ) {
      let j = i;
      while (j < out.length && Boolean(out[j]!.toErr) === Boolean(out[i]!.toErr)) j++;
      (out[i]!.toErr ? this.err : this.out).write(
        out
          .slice(i, j)
          .map((h) => `${h.text}\n`)
          .join(''),
      );
      i = j;
    }
    if (this.held.length === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** The launcher's own line, among the services' lines by time (`reorderMs`). */
  say(msg: string, fields: Record<string, unknown> = {}, level: number = LEVEL.info): void {
    const nowMs = this.now();
    this.emit({
      timeMs: nowMs,
      arrivedMs: nowMs,
      text: this.ownLine(msg, fields, level),
      toErr: level >= LEVEL.error,
    });
  }

  /**
   * A block for a person (the "toystore is up" table), after everything held; in JSON, one object
   * with `fields`.
   */
  block(lines: string[], msg: string, fields: Record<string, unknown>): void {
    this.flush();
    this.out.write(
      `${this.o.format === 'json' ? this.ownLine(msg, fields, LEVEL.info) : lines.join('\n')}\n`,
    );
  }

  private ownLine(msg: string, fields: Record<string, unknown>, level: number): string {
    if (this.o.format === 'json')
      return JSON.stringify({
        level,
        time: new Date(this.now()).toISOString(),
        service: 'start',
        ...fields,
        msg,
      });
    return `${this.tag('start')} ${clock(this.now())} ${msg}`;
  }

  exited(info: ExitInfo): void {
    this.digest.exited(info.service, `(${describeExit(info)}) at ${clock(this.now())}`);
  }

  /** Ends the window: prints its summaries when `print`, and resets the budgets. */
  summarize(print = true): ServiceSummary[] {
    const summaries = this.digest.take();
    this.shown = new Map();
    if (!print) return summaries;
    this.flush();
    for (const s of summaries) {
      if (this.o.format === 'json')
        this.out.write(
          `${JSON.stringify({ level: LEVEL.info, time: new Date(this.now()).toISOString(), event: 'summary', ...s })}\n`,
        );
      else this.out.write(`${this.tag(s.service)} ${clock(this.now())} ${s.msg}\n`);
    }
    return summaries;
  }

  private wanted(line: LogLine): boolean {
    if (line.kind === 'text' || line.kind === 'other') return true;
    if (line.kind === 'event') return !ROUTINE_EVENTS.has(line.event) || line.level >= LEVEL.warn;
    return Boolean(this.o.showRequests) || line.status >= 500;
  }

  private withinBudget(service: ServiceName, line: LogLine): boolean {
    if (line.kind === 'text') return true; // a crash's stack trace is shown whole
    // Asked for, every request is shown: `grep <reqId>` must find all of an order's lines.
    if (line.kind === 'request' && this.o.showRequests) return true;
    const s = this.shown.get(service) ?? { lines: 0, failed: 0 };
    this.shown.set(service, s);
    if (line.kind === 'request' && !this.o.showRequests && line.status >= 500) {
      if (s.failed >= (this.o.failedRequestBudget ?? 5)) return false;
      s.failed++;
    }
    if (s.lines >= (this.o.lineBudget ?? 200)) return false;
    s.lines++;
    return true;
  }

  private tag(service: ServiceName | 'start'): string {
    const tag = `[${service}]`.padEnd(TAG_WIDTH);
    return this.o.color ? `${SERVICE_COLORS[service]}${tag}${RESET}` : tag;
  }

  private render(service: ServiceName, line: LogLine): string {
    if (line.kind === 'text') return `${this.tag(service)} ${line.text}`;
    const name = LEVEL_NAMES[line.level] ?? (line.level >= LEVEL.fatal ? 'FATAL' : '');
    const level = name
      ? `${this.o.color && LEVEL_COLORS[line.level] ? `${LEVEL_COLORS[line.level]}${name}${RESET}` : name} `
      : '';
    let text = line.msg;
    if (line.kind === 'request' && typeof line.fields.reqId === 'string')
      text += `  req ${line.fields.reqId}`;
    const err = line.fields.err as { message?: unknown; stack?: unknown } | undefined;
    if (err && typeof err.message === 'string' && !text.includes(err.message))
      text += `: ${err.message}`;
    if (err && typeof err.stack === 'string' && line.level >= LEVEL.error)
      text += `\n${err.stack.replace(/^/gm, '    ')}`;
    return `${this.tag(service)} ${clock(line.timeMs)} ${level}${text}`;
  }
}

function partition<T>(items: readonly T[], pred: (t: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const t of items) (pred(t) ? yes : no).push(t);
  return [yes, no];
}

function textObject(
  service: ServiceName,
  line: Extract<LogLine, { kind: 'text' }>,
): Record<string, unknown> {
  return {
    level: line.stream === 'stderr' ? LEVEL.error : LEVEL.info,
    time: new Date(line.timeMs).toISOString(),
    service,
    stream: line.stream,
    msg: line.text,
  };
}

/** `HH:MM:SS.mmm` in local time. */
export function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}
