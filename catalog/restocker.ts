/**
 * Periodic restock: every `intervalMs`, refill each sold-out toy.
 *
 * Time comes from an injected `Clock`, so tests move it with `ManualClock.advance` instead of
 * sleeping. The next round is scheduled only after the current one finishes, so rounds never
 * overlap even if a write is slow. The frontends hear of a refill from the invalidator, which
 * follows the store's durable change feed (catalog/invalidator.ts), once the refill is durable
 * and readable, so a frontend that re-reads sees the refilled stock. It reports each round that
 * refilled something, and each failed round, as a typed event (catalog/events.ts).
 */
import type { Clock } from '../shared/clock.ts';
import type { CatalogEvent } from './events.ts';
import type { CatalogStore } from './store.ts';

export type RestockerEvent = Extract<CatalogEvent, { type: 'restocked' | 'restock_failed' }>;

export interface RestockerOptions {
  store: Pick<CatalogStore, 'restockEmpty'>;
  clock: Clock;
  intervalMs: number;
  onEvent?: (e: RestockerEvent) => void;
}

export interface Restocker {
  start(): void;
  /** Cancels the next round and waits for a running one to finish. */
  stop(): Promise<void>;
  /** Runs one round now (also what the timer calls). */
  tick(): Promise<string[]>;
  /** Resolves when no round is running. */
  whenIdle(): Promise<void>;
}

export function createRestocker(opts: RestockerOptions): Restocker {
  const emit = opts.onEvent ?? (() => {});
  let cancel: (() => void) | null = null;
  let running: Promise<unknown> = Promise.resolve();
  let started = false;

  const round = async (): Promise<string[]> => {
    const names = await opts.store.restockEmpty();
    if (names.length) emit({ type: 'restocked', toys: names });
    return names;
  };

  const tick = (): Promise<string[]> => {
    const p = running.then(round);
    running = p.catch(() => {});
    return p;
  };

  const schedule = () => {
    cancel?.(); // at most one armed timer, even after a stop() and start() during a round
    cancel = opts.clock.setTimeout(() => {
      cancel = null;
      // The reschedule is part of `running`, so whenIdle() also covers arming the next round.
      running = running.then(async () => {
        try {
          await round();
        } catch (err) {
          emit({ type: 'restock_failed', reason: (err as Error)?.message ?? String(err) });
        } finally {
          if (started) schedule();
        }
      });
    }, opts.intervalMs);
  };

  return {
    start() {
      if (started) return;
      started = true;
      schedule();
    },
    async stop() {
      started = false;
      cancel?.();
      cancel = null;
      await running;
    },
    tick,
    whenIdle: () => running.then(() => {}),
  };
}
