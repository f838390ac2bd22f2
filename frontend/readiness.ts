/**
 * The frontend's readiness probe, `GET /ready`, kept apart from liveness (`GET /health`).
 *
 * `/health` answers whenever the process does: an orchestrator restarts a frontend that stops
 * answering it. `/ready` answers 200 only when an order sent here now can be taken: the frontend
 * knows a leader, that leader confirms it leads the epoch the frontend routes to, and it reaches
 * enough followers for a commit (`COMMIT_QUORUM`, leader included). Otherwise 503 `not_ready`
 * with `detail.why`: `no_leader`, `leader_unreachable`, `leader_moved` or `no_quorum`. A load
 * balancer sends clients to ready frontends (and may fall back to live ones, which still serve
 * product queries and answer orders with a retryable 503).
 *
 * Why the leader is asked at probe time: the router's view (`orders.view()`) says who leads, not
 * whether that leader still reaches its followers; only the leader's own status (its followers'
 * `reachable`) says so. One status call per probe, a few a second at most, costs nothing.
 *
 * Shaped as a pure judgement (`judgeFrontendReadiness`) plus a small Hono app main.ts mounts next
 * to the public API, so the rule is tested without a network and no other app file changes.
 */
import { Hono } from 'hono';
import type { ReplicaStatus } from '../shared/contracts.ts';
import { notReady, onAppError } from '../shared/errors.ts';
import type { HttpClient } from '../shared/http.ts';
import { createRouteClient } from '../shared/protocol/client.ts';
import { frontendPublicRoutes } from '../shared/protocol/frontend.ts';
import { mountRoutes } from '../shared/protocol/mount.ts';
import { orderRoutes } from '../shared/protocol/order.ts';
import type { ElectionView } from './types.ts';

export type FrontendNotReadyWhy = 'no_leader' | 'leader_unreachable' | 'leader_moved' | 'no_quorum';

export type FrontendReadiness =
  | { ready: true; leaderId: number; epoch: number; followersReachable: number }
  | {
      ready: false;
      why: FrontendNotReadyWhy;
      message: string;
      leaderId: number | null;
      epoch: number | null;
    };

/**
 * Pure: is a frontend with this view ready, given what its leader said about itself (`null`: the
 * leader did not answer, or there is none)?
 */
export function judgeFrontendReadiness(
  view: ElectionView,
  leader: ReplicaStatus | null,
  commitQuorum: number,
): FrontendReadiness {
  const { leaderId, epoch } = view;
  const no = (why: FrontendNotReadyWhy, message: string): FrontendReadiness => ({
    ready: false,
    why,
    message,
    leaderId,
    epoch,
  });
  if (leaderId === null || epoch === null)
    return no('no_leader', view.electing ? 'electing a leader' : 'no order replica leads');
  if (leader === null) return no('leader_unreachable', `leader ${leaderId} does not answer`);
  if (leader.role !== 'leader' || leader.leaderEpoch !== epoch) {
    return no(
      'leader_moved',
      `replica ${leaderId} no longer leads epoch ${epoch} (it is ${leader.role}${leader.leaderEpoch !== null ? ` of epoch ${leader.leaderEpoch}` : ''})`,
    );
  }
  const followersReachable = leader.followers.filter((f) => f.reachable).length;
  if (1 + followersReachable < commitQuorum) {
    return no(
      'no_quorum',
      `leader ${leaderId} reaches ${followersReachable} follower(s); a commit needs ${commitQuorum} replicas`,
    );
  }
  return { ready: true, leaderId, epoch, followersReachable };
}

export interface FrontendReadinessDeps {
  orders: { view(): ElectionView };
  http: HttpClient;
  commitQuorum: number;
  /**
   * How long the leader may take to answer (default 1 s: an in-memory answer, well inside a probe's
   * timeout).
   */
  timeoutMs?: number;
}

/** Asks the leader the view names for its status; null when there is none or it does not answer. */
async function leaderStatus(
  deps: FrontendReadinessDeps,
  view: ElectionView,
): Promise<ReplicaStatus | null> {
  const url = view.replicas.find((r) => r.id === view.leaderId)?.url;
  if (!url) return null;
  try {
    return await createRouteClient(deps.http, orderRoutes).call(
      url,
      'status',
      {},
      { timeoutMs: deps.timeoutMs ?? 1_000 },
    );
  } catch {
    return null;
  }
}

export async function frontendReadiness(deps: FrontendReadinessDeps): Promise<FrontendReadiness> {
  const view = deps.orders.view();
  return judgeFrontendReadiness(
    view,
    view.leaderId === null ? null : await leaderStatus(deps, view),
    deps.commitQuorum,
  );
}

/** `GET /ready`: 200 `{"data":{"ready":true,...}}`, or 503 `not_ready` with `detail.why`. */
export function createFrontendReadinessApp(deps: FrontendReadinessDeps): Hono {
  const app = new Hono();
  app.onError(onAppError);
  mountRoutes(
    app,
    frontendPublicRoutes,
    {
      ready: async () => {
        const r = await frontendReadiness(deps);
        if (!r.ready)
          throw notReady(r.message, { why: r.why, leaderId: r.leaderId, epoch: r.epoch });
        return r;
      },
    },
    { credential: null },
  );
  return app;
}
