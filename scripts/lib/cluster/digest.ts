/**
 * `npm start`'s periodic summary: per service, what its lines said over the last window
 * (requests per second, failed requests, p99 of the service time, orders by outcome at the
 * frontend, the events it counted instead of showing), plus what it last said about the leader.
 *
 * Pure bookkeeping over parsed lines (log-lines.ts) with the time passed in, so a test feeds it
 * lines and reads the summary. Bounded: a fixed set of services, a HdrHistogram per window
 * (scripts/lib/client/latency.ts), counts keyed by HTTP status and by event name (the services'
 * own vocabularies, a few dozen at most; anything past MAX_KEYS is counted under "other").
 */
import { LatencyHistogram } from '../client/latency.ts';
import { LEVEL, ROUTINE_EVENTS, type LogLine } from './log-lines.ts';
import { SERVICE_NAMES, type ServiceName } from './types.ts';

const MAX_KEYS = 32;
/** The order summaries are printed in: what a client talks to first. */
const SUMMARY_ORDER: readonly ServiceName[] = [
  'frontend',
  'catalog',
  'order-1',
  'order-2',
  'order-3',
];
/** How a summary names the routine events it counted. */
const ROUTINE_WORDS: Record<string, string> = {
  cache_invalidate: 'cache invalidations',
  cache_evict: 'cache evictions',
  restock_round: 'restock rounds',
};

interface Window {
  requests: number;
  failed: number;
  errorLines: number;
  latency: LatencyHistogram;
  orders: { count: number; byStatus: Record<string, number>; latency: LatencyHistogram };
  routine: Record<string, number>;
  restocks: number;
  notShown: number;
  lines: number;
}

interface Leadership {
  leaderId: number | null;
  epoch: number | null;
  role: string | null;
}

export interface ServiceSummary {
  service: ServiceName;
  windowMs: number;
  requests: number;
  perSecond: number;
  p99Ms: number | null;
  /** 5xx answers plus lines at level error or worse. */
  errors: number;
  /** The frontend's `POST /orders`, by status. */
  orders?: { perSecond: number; byStatus: Record<string, number>; p99Ms: number | null };
  leaderId?: number | null;
  epoch?: number | null;
  role?: string | null;
  /** Routine events counted instead of shown (ROUTINE_EVENTS). */
  routine: Record<string, number>;
  restocks: number;
  /** Lines held back by the console's per-window budget. */
  notShown: number;
  exited?: string;
  msg: string;
}

const emptyWindow = (): Window => ({
  requests: 0,
  failed: 0,
  errorLines: 0,
  latency: new LatencyHistogram(),
  orders: { count: 0, byStatus: {}, latency: new LatencyHistogram() },
  routine: {},
  restocks: 0,
  notShown: 0,
  lines: 0,
});

function bump(counts: Record<string, number>, key: string): void {
  const k = key in counts || Object.keys(counts).length < MAX_KEYS ? key : 'other';
  counts[k] = (counts[k] ?? 0) + 1;
}

const isOrderRoute = (method: string, route: string) => method === 'POST' && route === '/orders';

export class StoreDigest {
  private windows = new Map<ServiceName, Window>(SERVICE_NAMES.map((s) => [s, emptyWindow()]));
  private readonly leadership = new Map<ServiceName, Leadership>(
    SERVICE_NAMES.map((s) => [s, { leaderId: null, epoch: null, role: null }]),
  );
  /** How each exited service ended, and whether a summary said so yet (once is enough). */
  private readonly exits = new Map<ServiceName, { how: string; said: boolean }>();
  private windowStartMs: number;

  constructor(private readonly now: () => number) {
    this.windowStartMs = now();
  }

  observe(service: ServiceName, line: LogLine): void {
    const w = this.windows.get(service)!;
    w.lines++;
    if (line.kind === 'text') return;
    if (line.level >= LEVEL.error && !(line.kind === 'request' && line.status >= 500))
      w.errorLines++;
    if (line.kind === 'request') {
      w.requests++;
      w.latency.record(line.ms);
      if (line.status >= 500) w.failed++;
      if (service === 'frontend' && isOrderRoute(line.method, line.route)) {
        w.orders.count++;
        bump(w.orders.byStatus, String(line.status));
        w.orders.latency.record(line.ms);
      }
      return;
    }
    if (line.kind !== 'event') return;
    if (ROUTINE_EVENTS.has(line.event)) bump(w.routine, line.event);
    if (line.event === 'restock') w.restocks++;
    this.track(service, line.event, line.fields);
  }

  /** A line the console held back (its budget for the window was spent). */
  held(service: ServiceName): void {
    this.windows.get(service)!.notShown++;
  }

  exited(service: ServiceName, how: string): void {
    this.exits.set(service, { how, said: false });
  }

  /** A service started again (by the launcher) after it exited. */
  started(service: ServiceName): void {
    this.exits.delete(service);
  }

  /** What each service last said about who leads. */
  private track(service: ServiceName, event: string, f: Record<string, unknown>): void {
    const l = this.leadership.get(service)!;
    const num = (v: unknown) => (typeof v === 'number' ? v : null);
    if (event === 'leader_change' && service === 'frontend')
      Object.assign(l, { leaderId: num(f.leaderId), epoch: num(f.epoch) });
    else if (event === 'leader_change')
      Object.assign(l, {
        leaderId: num(f.to),
        epoch: num(f.epoch),
        role: typeof f.role === 'string' ? f.role : l.role,
      });
    else if (event === 'became_leader')
      Object.assign(l, {
        leaderId: Number(service.slice('order-'.length)),
        epoch: num(f.epoch),
        role: 'leader',
      });
    else if (event === 'stepped_down') Object.assign(l, { role: 'follower' });
  }

  /**
   * The summaries of the window ending now (services that said nothing left out); starts the next
   * one.
   */
  take(): ServiceSummary[] {
    const nowMs = this.now();
    const windowMs = Math.max(1, nowMs - this.windowStartMs);
    const out: ServiceSummary[] = [];
    for (const service of SUMMARY_ORDER) {
      const w = this.windows.get(service)!;
      const exit = this.exits.get(service);
      const exited = exit && !exit.said ? exit.how : undefined;
      if (w.lines === 0 && exited === undefined) continue;
      if (exit) exit.said = true;
      out.push(this.summaryOf(service, w, windowMs, exited));
    }
    this.windows = new Map(SERVICE_NAMES.map((s) => [s, emptyWindow()]));
    this.windowStartMs = nowMs;
    return out;
  }

  private summaryOf(
    service: ServiceName,
    w: Window,
    windowMs: number,
    exited: string | undefined,
  ): ServiceSummary {
    const perS = (n: number) => Math.round((n * 10_000) / windowMs) / 10;
    const l = this.leadership.get(service)!;
    const s: ServiceSummary = {
      service,
      windowMs,
      requests: w.requests,
      perSecond: perS(w.requests),
      p99Ms: w.latency.quantileMs(0.99),
      errors: w.failed + w.errorLines,
      routine: w.routine,
      restocks: w.restocks,
      notShown: w.notShown,
      msg: '',
    };
    if (service === 'frontend')
      s.orders = {
        perSecond: perS(w.orders.count),
        byStatus: w.orders.byStatus,
        p99Ms: w.orders.latency.quantileMs(0.99),
      };
    if (service !== 'catalog')
      Object.assign(s, {
        leaderId: l.leaderId,
        epoch: l.epoch,
        ...(service !== 'frontend' && { role: l.role }),
      });
    if (exited) s.exited = exited;
    s.msg = describeSummary(s);
    return s;
  }
}

const ms = (v: number | null) => (v === null ? '-' : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);

/**
 * One line a person reads: `last 10 s: 45.1 req/s, p99 3.2 ms, 0 errors; orders ...; leader 3
 * (epoch 1)`.
 */
export function describeSummary(s: ServiceSummary): string {
  const parts = [
    `last ${Math.round(s.windowMs / 1000)} s: ${s.perSecond} req/s, p99 ${ms(s.p99Ms)}, ${s.errors} error${s.errors === 1 ? '' : 's'}`,
  ];
  if (s.orders && s.orders.perSecond > 0) {
    const statuses = Object.entries(s.orders.byStatus)
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ');
    parts.push(`orders ${s.orders.perSecond}/s (${statuses}), p99 ${ms(s.orders.p99Ms)}`);
  }
  if (s.exited) {
    // What it last said about the leader is no longer news.
  } else if (s.service === 'frontend')
    parts.push(s.leaderId == null ? 'no leader' : `leader ${s.leaderId} (epoch ${s.epoch})`);
  else if (s.service !== 'catalog') {
    const self = Number(s.service.slice('order-'.length));
    if (s.role === 'leader' || s.leaderId === self) parts.push(`leading epoch ${s.epoch}`);
    else if (s.leaderId != null) parts.push(`following ${s.leaderId} (epoch ${s.epoch})`);
    else parts.push('no leader known');
  }
  if (s.restocks > 0) parts.push(`${s.restocks} restock${s.restocks === 1 ? '' : 's'}`);
  const routine = Object.entries(s.routine).map(([k, n]) => `${n} ${ROUTINE_WORDS[k] ?? k}`);
  if (routine.length) parts.push(`${routine.join(', ')} (not shown)`);
  if (s.notShown > 0) parts.push(`${s.notShown} more lines not shown`);
  if (s.exited) parts.push(`exited ${s.exited}`);
  return parts.join('; ');
}
