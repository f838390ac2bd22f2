/**
 * Sleeps that an AbortSignal cuts short (they resolve, never reject), for the run's phases, on a
 * Clock: the chaos run's is `wallClock` (real time; its timers keep the process alive, unlike
 * shared/clock.ts systemClock's, so a run waiting only on a hold does not exit), a test's a
 * ManualClock (the nemesis's holds then take no real time).
 */
import type { Clock } from '../../../shared/clock.ts';

export const wallClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export const sleepOn = (clock: Clock, ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const cancel = clock.setTimeout(done, ms);
    function done() {
      cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export const sleep = (ms: number, signal?: AbortSignal) => sleepOn(wallClock, ms, signal);
