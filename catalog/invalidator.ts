/**
 * Server-push cache invalidation: after a toy's stock changes, tell every frontend to drop it.
 *
 * Pushes go to all frontends in parallel with a short timeout, and a failure is logged and
 * ignored, never thrown: a frontend that is down has an empty cache when it comes back, and one
 * that is slow must not hold an order hostage for long. So `invalidate` always resolves, and the
 * catalog can await it before answering without an error path.
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
  return {
    async invalidate(name) {
      await Promise.all(opts.frontendUrls.map((u) => pushOne(u, name)));
    },
  };
}

/** An invalidator with no frontends to tell. */
export const noopInvalidator: Invalidator = { invalidate: async () => {} };
