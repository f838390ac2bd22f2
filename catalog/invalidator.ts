/**
 * The catalog's change feed to the frontends: after a toy's stock changes, tell every frontend
 * to drop it, and keep telling it until it has said "got it".
 *
 * Why it is shaped so:
 * - One lane per frontend, each on its own: a frontend that is down or cut off holds up nobody.
 * - The lane keeps the toys this frontend has not yet acknowledged (at most one entry per toy,
 *   so bounded by the catalog) and sends them all in one notice `{seq, sinceSeq, names}`: `seq`
 *   is the catalog's change sequence (the ledger's last durable seq) and `names` holds every
 *   toy that changed after `sinceSeq` (the last seq this frontend acknowledged) up to `seq`.
 *   That claim is exact because the lanes learn of changes from the store's `onDurable` feed,
 *   in the same callback that makes them readable, not from whoever caused them.
 * - One notice in flight per lane. Changes made meanwhile go out in the next notice, right after
 *   (a busy toy costs one push per round trip, not one per purchase). A failed or unanswered
 *   notice is retried with backoff (50 ms doubling to 500 ms) until acknowledged, for as long as
 *   the process runs: a lost push delays the frontend, it no longer leaves it stale for good.
 * - When a lane has nothing to send for `beatIntervalMs` it sends an empty notice, the "still at
 *   seq N" beat. A frontend that hears no notice for CHANGE_SILENCE_MS stops trusting its cache,
 *   and one that sees a `sinceSeq` above what it heard (it missed changes: this process started
 *   after changes it never pushed) drops its entries. Together that bounds how stale a cached
 *   answer can be; the README gives the figures.
 * - A fresh process starts each lane at `sinceSeq` = the change sequence it opened with: it
 *   vouches only for changes it has seen itself.
 */
import { CHANGE_BEAT_INTERVAL_MS, type ChangeNotice } from '../shared/contracts.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import type { HttpClient } from '../shared/http.ts';
import { createRouteClient, type RouteClient } from '../shared/protocol/client.ts';
import {
  frontendInternalRoutes,
  type FrontendInternalRoutes,
} from '../shared/protocol/frontend.ts';
import type { CatalogStore } from './store.ts';

/** Each push waits this long for the frontend's answer before it counts as lost. */
export const INVALIDATION_TIMEOUT_MS = 1_000;
export const RETRY_MIN_MS = 50;
/** The longest pause between retries: with the timeout, what a healed link waits at most. */
export const RETRY_MAX_MS = 500;
/** Where notices go on each frontend's internal listener (its route table's `changes`). */
export const CHANGES_PATH = frontendInternalRoutes.changes.path;

export type InvalidatorEvent =
  /** The first failure of a streak (later ones are counted, not reported). */
  | { kind: 'push_failed'; frontend: string; reason: string; pending: number }
  /** A notice got through after `failures` failed attempts over `ms`. */
  | { kind: 'push_recovered'; frontend: string; failures: number; ms: number; seq: number };

export interface LaneView {
  frontend: string;
  /** Last seq this frontend acknowledged. */
  ackedSeq: number;
  /** Toys changed since, not yet acknowledged. */
  pending: string[];
  /** Failed attempts in a row. */
  failures: number;
}

export interface Invalidator {
  /** Starts the periodic beats (changes are pushed from creation on, started or not). */
  start(): void;
  /** Stops beats and retries and waits for notices in flight. */
  stop(): Promise<void>;
  /**
   * Resolves once every frontend has acknowledged every change made so far; for tests and tools.
   */
  delivered(): Promise<void>;
  view(): LaneView[];
}

export interface InvalidatorOptions {
  http: HttpClient;
  /** Origins of the frontends' internal listeners. */
  frontendUrls: readonly string[];
  /** Where changes come from: the store's durable change feed. */
  changes: Pick<CatalogStore, 'changeSeq' | 'onDurable'>;
  clock?: Clock;
  timeoutMs?: number;
  beatIntervalMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  onEvent?: (event: InvalidatorEvent) => void;
}

export function createInvalidator(opts: InvalidatorOptions): Invalidator {
  const feed = { seq: opts.changes.changeSeq(), started: false, stopped: false };
  const lanes = [...new Set(opts.frontendUrls)].map(
    (url) => new Lane(url.replace(/\/+$/, ''), feed, opts),
  );
  const unsubscribe = opts.changes.onDurable((change) => {
    feed.seq = Math.max(feed.seq, change.seq);
    if (change.names.length > 0) for (const lane of lanes) lane.changed(change.names, change.seq);
  });
  return {
    start() {
      if (feed.started || feed.stopped) return;
      feed.started = true;
      for (const lane of lanes) lane.kick();
    },
    async stop() {
      feed.stopped = true;
      unsubscribe();
      await Promise.all(lanes.map((l) => l.stop()));
    },
    delivered: () => Promise.all(lanes.map((l) => l.delivered())).then(() => {}),
    view: () => lanes.map((l) => l.view()),
  };
}

type Feed = { seq: number; started: boolean; stopped: boolean };

/**
 * One frontend's lane: the toys it has not acknowledged, at most one notice in flight, the
 * backoff after a failure and the beat when idle. Every timer runs on the injected clock.
 */
class Lane {
  /** Toy → seq of its latest change not yet acknowledged. */
  private readonly pending = new Map<string, number>();
  private ackedSeq: number;
  private inFlight: Promise<void> | null = null;
  private timer: { cancel: () => void; retry: boolean } | null = null;
  private failures = 0;
  private failingSinceMs = 0;
  private waiters: Array<() => void> = [];
  private readonly clock: Clock;
  private readonly emit: (event: InvalidatorEvent) => void;
  private readonly frontends: RouteClient<FrontendInternalRoutes>;

  constructor(
    private readonly frontend: string,
    private readonly feed: Feed,
    private readonly opts: InvalidatorOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.emit = opts.onEvent ?? (() => {});
    this.ackedSeq = feed.seq;
    this.frontends = createRouteClient(opts.http, frontendInternalRoutes);
  }

  changed(names: readonly string[], seq: number): void {
    for (const name of names) this.pending.set(name, seq);
    this.kick();
  }

  /** Sends now unless a notice is in flight or a retry is waiting out its backoff. */
  kick(): void {
    if (this.feed.stopped || this.inFlight || this.timer?.retry) return;
    this.timer?.cancel();
    this.timer = null;
    this.inFlight = this.send().finally(() => {
      this.inFlight = null;
      this.next();
    });
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = null;
    await this.inFlight;
    for (const w of this.waiters.splice(0)) w();
  }

  delivered(): Promise<void> {
    if (this.pending.size === 0 && !this.inFlight && this.failures === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  view(): LaneView {
    return {
      frontend: this.frontend,
      ackedSeq: this.ackedSeq,
      pending: [...this.pending.keys()],
      failures: this.failures,
    };
  }

  private arm(ms: number, retry: boolean): void {
    this.timer?.cancel();
    const cancel = this.clock.setTimeout(() => {
      this.timer = null;
      this.kick();
    }, ms);
    this.timer = { cancel, retry };
  }

  /** After a notice: back off after a failure, send what changed meanwhile, or beat when idle. */
  private next(): void {
    if (this.feed.stopped) return;
    if (this.failures > 0) {
      const retryMinMs = this.opts.retryMinMs ?? RETRY_MIN_MS;
      return this.arm(
        Math.min(this.opts.retryMaxMs ?? RETRY_MAX_MS, retryMinMs * 2 ** (this.failures - 1)),
        true,
      );
    }
    if (this.pending.size > 0) return this.kick();
    for (const w of this.waiters.splice(0)) w();
    if (this.feed.started) this.arm(this.opts.beatIntervalMs ?? CHANGE_BEAT_INTERVAL_MS, false);
  }

  private async send(): Promise<void> {
    const notice: ChangeNotice = {
      seq: this.feed.seq,
      sinceSeq: this.ackedSeq,
      names: [...this.pending.keys()],
    };
    const failure = await this.post(notice);
    if (failure !== null) {
      if (this.failures++ === 0) {
        this.failingSinceMs = this.clock.now();
        this.emit({
          kind: 'push_failed',
          frontend: this.frontend,
          reason: failure,
          pending: this.pending.size,
        });
      }
      return;
    }
    // Acknowledged: the frontend has dropped every toy in the notice. A toy changed again since
    // the notice was built stays pending for the next one.
    this.ackedSeq = Math.max(this.ackedSeq, notice.seq);
    for (const name of notice.names)
      if ((this.pending.get(name) ?? Infinity) <= notice.seq) this.pending.delete(name);
    if (this.failures > 0) {
      this.emit({
        kind: 'push_recovered',
        frontend: this.frontend,
        failures: this.failures,
        ms: Math.round(this.clock.now() - this.failingSinceMs),
        seq: notice.seq,
      });
    }
    this.failures = 0;
  }

  /** Posts one notice; null once the frontend acknowledged it, else why not. */
  private async post(notice: ChangeNotice): Promise<string | null> {
    try {
      const res = await this.frontends.send(
        this.frontend,
        'changes',
        { body: notice },
        { timeoutMs: this.opts.timeoutMs ?? INVALIDATION_TIMEOUT_MS },
      );
      return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
    } catch (err) {
      return (err as Error)?.message ?? String(err);
    }
  }
}
