/**
 * Server-push cache invalidation: after a toy's stock changes, tell every frontend to drop it.
 *
 * Pushes go to all frontends in parallel with a short timeout, and a failure is logged and
 * ignored, never thrown: a frontend that is down has an empty cache when it comes back, and one
 * that is slow must not hold anything up. So `invalidate` always resolves. Pushes for one toy
 * are coalesced (see below).
 */
import type { Invalidation } from '../shared/contracts.ts';
import type { HttpClient } from '../shared/http.ts';

export const INVALIDATION_TIMEOUT_MS = 1_000;

export interface Invalidator {
  /** Tells every frontend to forget `name`; resolves once each has answered or failed. Never rejects. */
  invalidate(name: string): Promise<void>;
}

export interface InvalidatorOptions {
  http: HttpClient;
  /** Origins of the frontends' internal listeners. */
  frontendUrls: readonly string[];
  timeoutMs?: number;
  log?: (message: string) => void;
}

export function createInvalidator(opts: InvalidatorOptions): Invalidator {
  const timeoutMs = opts.timeoutMs ?? INVALIDATION_TIMEOUT_MS;
  const log = opts.log ?? ((m: string) => console.warn(m));
  const pushOne = async (frontendUrl: string, name: string): Promise<void> => {
    const body: Invalidation = { name };
    try {
      const res = await opts.http({ method: 'POST', url: `${frontendUrl}/internal/invalidate`, body, timeoutMs });
      if (res.status < 200 || res.status >= 300) log(`catalog: invalidating ${name} at ${frontendUrl}: HTTP ${res.status}`);
    } catch (err) {
      log(`catalog: invalidating ${name} at ${frontendUrl} failed: ${(err as Error)?.message ?? String(err)}`);
    }
  };
  // Coalescing: at most one push in flight per (frontend, toy), and one queued behind it that
  // every change made meanwhile joins. Every change is still followed by a push that started
  // after it (what keeps caches honest), but a busy toy costs one push per round trip instead of
  // one per purchase.
  const lanes = new Map<string, { inFlight: Promise<void>; next: Promise<void> | null }>();
  const push = (frontendUrl: string, name: string): Promise<void> => {
    const id = `${frontendUrl}\n${name}`;
    const lane = lanes.get(id);
    if (!lane) {
      const inFlight = pushOne(frontendUrl, name).finally(() => {
        if (lanes.get(id)?.inFlight === inFlight && !lanes.get(id)?.next) lanes.delete(id);
      });
      lanes.set(id, { inFlight, next: null });
      return inFlight;
    }
    lane.next ??= lane.inFlight.then(() => {
      const again = pushOne(frontendUrl, name).finally(() => {
        if (lanes.get(id)?.inFlight === again && !lanes.get(id)?.next) lanes.delete(id);
      });
      lanes.set(id, { inFlight: again, next: null });
      return again;
    });
    return lane.next;
  };
  return {
    async invalidate(name) {
      await Promise.all(opts.frontendUrls.map((u) => push(u, name)));
    },
  };
}
