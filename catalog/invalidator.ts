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
import type { CatalogStore } from './store.ts';

/** Each push waits this long for the frontend's answer before it counts as lost. */
export const INVALIDATION_TIMEOUT_MS = 1_000;
export const RETRY_MIN_MS = 50;
/** The longest pause between retries: with the timeout, what a healed link waits at most. */
export const RETRY_MAX_MS = 500;
export const CHANGES_PATH = '/internal/changes';

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
  /** Resolves once every frontend has acknowledged every change made so far; for tests and tools. */
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
  const lanes = [...new Set(opts.frontendUrls)].map((url) => createLane(url.replace(/\/+$/, ''), feed, opts));
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

function createLane(frontend: string, feed: Feed, opts: InvalidatorOptions) {
  const clock = opts.clock ?? systemClock;
  const timeoutMs = opts.timeoutMs ?? INVALIDATION_TIMEOUT_MS;
  const beatMs = opts.beatIntervalMs ?? CHANGE_BEAT_INTERVAL_MS;
  const retryMinMs = opts.retryMinMs ?? RETRY_MIN_MS;
  const retryMaxMs = opts.retryMaxMs ?? RETRY_MAX_MS;
  const emit = opts.onEvent ?? (() => {});
  /** Toy → seq of its latest change not yet acknowledged. */
  const pending = new Map<string, number>();
  let ackedSeq = feed.seq;
  let inFlight: Promise<void> | null = null;
  let timer: { cancel: () => void; retry: boolean } | null = null;
  let failures = 0;
  let failingSinceMs = 0;
  let waiters: Array<() => void> = [];

  const arm = (ms: number, retry: boolean) => {
    timer?.cancel();
    const cancel = clock.setTimeout(() => {
      timer = null;
      kick();
    }, ms);
    timer = { cancel, retry };
  };

  /** Sends now unless a notice is in flight or a retry is waiting out its backoff. */
  function kick(): void {
    if (feed.stopped || inFlight || timer?.retry) return;
    timer?.cancel();
    timer = null;
    inFlight = send().finally(() => {
      inFlight = null;
      next();
    });
  }

  function next(): void {
    if (feed.stopped) return;
    if (failures > 0) return arm(Math.min(retryMaxMs, retryMinMs * 2 ** (failures - 1)), true);
    if (pending.size > 0) return kick();
    for (const w of waiters.splice(0)) w();
    if (feed.started) arm(beatMs, false);
  }

  async function send(): Promise<void> {
    const notice: ChangeNotice = { seq: feed.seq, sinceSeq: ackedSeq, names: [...pending.keys()] };
    let failure: string | null = null;
    try {
      const res = await opts.http({ method: 'POST', url: `${frontend}${CHANGES_PATH}`, body: notice, timeoutMs });
      if (res.status < 200 || res.status >= 300) failure = `HTTP ${res.status}`;
    } catch (err) {
      failure = (err as Error)?.message ?? String(err);
    }
    if (failure !== null) {
      if (failures++ === 0) {
        failingSinceMs = clock.now();
        emit({ kind: 'push_failed', frontend, reason: failure, pending: pending.size });
      }
      return;
    }
    // Acknowledged: the frontend has dropped every toy in the notice. A toy changed again since
    // the notice was built stays pending for the next one.
    ackedSeq = Math.max(ackedSeq, notice.seq);
    for (const name of notice.names) if ((pending.get(name) ?? Infinity) <= notice.seq) pending.delete(name);
    if (failures > 0) emit({ kind: 'push_recovered', frontend, failures, ms: Math.round(clock.now() - failingSinceMs), seq: notice.seq });
    failures = 0;
  }

  return {
    changed(names: readonly string[], seq: number): void {
      for (const name of names) pending.set(name, seq);
      kick();
    },
    kick,
    async stop(): Promise<void> {
      timer?.cancel();
      timer = null;
      await inFlight;
      for (const w of waiters.splice(0)) w();
    },
    delivered(): Promise<void> {
      if (pending.size === 0 && !inFlight && failures === 0) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    view: (): LaneView => ({ frontend, ackedSeq, pending: [...pending.keys()], failures }),
  };
}
