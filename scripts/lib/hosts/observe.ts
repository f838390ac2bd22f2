/**
 * The run's observers: a sampler that asks every frontend (`/health`: whom it routes to) and
 * every replica (`/internal/status`: role, epochs) every ~100 ms, and a client transport that
 * records every failed attempt (a 5xx or a network error) before the client's retry logic sees
 * it. The controller is never partitioned, so what it samples is each service's own view.
 */
import {
  createPooledHttp,
  NetworkError,
  type HttpClient,
  type HttpRequest,
} from '../../../shared/http.ts';
import { createRouteClient } from '../../../shared/protocol/client.ts';
import { frontendPublicRoutes } from '../../../shared/protocol/frontend.ts';
import { orderRoutes } from '../../../shared/protocol/order.ts';
import type { ClientHttp } from '../client/index.ts';
import type { AttemptError, LeaderView, ReplicaView, Sample } from './measure.ts';
import { FRONTEND_HOSTS, REPLICA_HOSTS, replicaId, type HostName } from './topology.ts';

export const SAMPLE_INTERVAL_MS = 100;
/** Samples kept at most (10 minutes at 100 ms): a bound, not a limit a run reaches. */
const MAX_SAMPLES = 6_000;

export interface Sampler {
  samples(): readonly Sample[];
  latest(): Sample | null;
  stop(): Promise<void>;
}

/** `http` carries the cluster credential: a replica's status is an internal route. */
export function startSampler(
  http: HttpClient,
  url: (h: HostName) => string,
  now: () => number,
): Sampler {
  const samples: Sample[] = [];
  let stopped = false;
  const frontendApi = createRouteClient(http, frontendPublicRoutes);
  const replicaApi = createRouteClient(http, orderRoutes);
  const probe = { timeoutMs: 300 };
  const one = async (): Promise<Sample> => {
    const atMs = now();
    const [fronts, reps] = await Promise.all([
      Promise.all(
        FRONTEND_HOSTS.map((f) => frontendApi.call(url(f), 'health', {}, probe).catch(() => null)),
      ),
      Promise.all(
        REPLICA_HOSTS.map((r) => replicaApi.call(url(r), 'status', {}, probe).catch(() => null)),
      ),
    ]);
    const frontends: Record<string, LeaderView | null> = {};
    FRONTEND_HOSTS.forEach((f, i) => {
      const d = fronts[i];
      frontends[f] = d ? { leaderId: d.leaderId ?? null, epoch: d.epoch ?? null } : null;
    });
    const replicas: ReplicaView[] = [];
    REPLICA_HOSTS.forEach((r, i) => {
      const d = reps[i];
      if (d)
        replicas.push({
          id: replicaId(r),
          role: String(d.role),
          promisedEpoch: Number(d.promisedEpoch ?? 0),
          leaderEpoch: d.leaderEpoch ?? null,
        });
    });
    return { atMs, frontends, replicas };
  };
  const loop = (async () => {
    while (!stopped) {
      const started = now();
      const s = await one();
      if (samples.length >= MAX_SAMPLES) samples.shift();
      samples.push(s);
      await new Promise((r) => setTimeout(r, Math.max(0, SAMPLE_INTERVAL_MS - (now() - started))));
    }
  })();
  return {
    samples: () => samples,
    latest: () => samples[samples.length - 1] ?? null,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Errors per attempt, kept at most this many (a bound far above a run's). */
const MAX_ERRORS = 100_000;

/** A client transport (one keep-alive connection) that records each failed attempt. */
export function recordingTransport(errors: AttemptError[], now: () => number): () => ClientHttp {
  return () => {
    const inner = createPooledHttp({ connectionsPerOrigin: 1 });
    const record = (req: HttpRequest, what: string) => {
      if (errors.length < MAX_ERRORS) errors.push({ atMs: now(), method: req.method, what });
    };
    const client = async (req: HttpRequest) => {
      try {
        const res = await inner(req);
        if (res.status >= 500)
          record(
            req,
            `${res.status} ${(res.body as { error?: { reason?: string } })?.error?.reason ?? ''}`.trim(),
          );
        return res;
      } catch (err) {
        record(req, err instanceof NetworkError ? err.kind : 'error');
        throw err;
      }
    };
    return Object.assign(client, { close: () => inner.close() });
  };
}
