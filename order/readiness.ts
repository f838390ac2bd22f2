/**
 * An order replica's readiness probe, `GET /ready`, kept apart from liveness (`GET /health`).
 *
 * `/health` answers whenever the process does. `/ready` answers 200 when the replica pulls its
 * weight in the cluster: it leads, or it follows a leader that reaches it and has it within
 * `READY_MAX_LAG_ORDERS` of everything committed. A replica that just restarted is live at once
 * and ready only once the leader has caught it up, so an orchestrator rolling replicas one at a
 * time waits for this one before taking down the next (two lagging replicas out of three would
 * leave no quorum). A replica whose durable state is not intact (recovering, unverified) is not
 * ready whatever its role, nor a leader whose start-of-epoch log is not yet on a quorum
 * (`established`). Otherwise 503 `not_ready` with `detail.why`: `recovering`, `establishing`,
 * `electing`, `no_leader`, `leader_unreachable`, `leader_moved`, `not_reached` or `catching_up`
 * (with `detail.lag`).
 *
 * Why a follower asks the leader: a follower's own status cannot tell "caught up" from "behind":
 * it learns the commit index only for records it holds. The leader's view of it (`matchIndex`,
 * durable on the follower, and `reachable`) against the leader's `commitIndex` is the truth.
 *
 * Shaped as a pure judgement plus a small Hono app main.ts mounts next to the replica's routes.
 */
import { Hono } from 'hono';
import type { ReplicaStatus } from '../shared/contracts.ts';
import { notReady, onAppError } from '../shared/errors.ts';
import { mountRoutes } from '../shared/protocol/mount.ts';
import { orderRoutes } from '../shared/protocol/order.ts';

/**
 * How far behind the leader's commit index a reachable follower may be and still count as caught
 * up. Far below one catch-up batch (2,000 orders) and far above what a healthy follower trails by
 * under load or over a slow link (a group commit or two), so the probe does not flap.
 */
export const READY_MAX_LAG_ORDERS = 1_000;

export type ReplicaNotReadyWhy =
  | 'recovering'
  | 'establishing'
  | 'electing'
  | 'no_leader'
  | 'leader_unreachable'
  | 'leader_moved'
  | 'not_reached'
  | 'catching_up';

export type ReplicaReadiness =
  | { ready: true; role: 'leader' | 'follower'; leaderId: number; epoch: number; lag: number }
  | {
      ready: false;
      why: ReplicaNotReadyWhy;
      message: string;
      leaderId: number | null;
      lag: number | null;
    };

/** Pure: `self` is this replica's status; `leader` what its leader said (null: no answer). */
export function judgeReplicaReadiness(
  self: ReplicaStatus,
  leader: ReplicaStatus | null,
  maxLag = READY_MAX_LAG_ORDERS,
): ReplicaReadiness {
  const no = (
    why: ReplicaNotReadyWhy,
    message: string,
    lag: number | null = null,
  ): ReplicaReadiness => ({ ready: false, why, message, leaderId: self.leaderId, lag });
  // Durable state not (yet) trusted: the replica counts toward no quorum until a leader has
  // refilled it.
  if (self.storage !== 'intact')
    return no(
      'recovering',
      `its durable state is ${self.storage}; waiting for a leader to refill it`,
    );
  if (self.role === 'leader' && self.leaderEpoch !== null) {
    if (!self.established)
      return no(
        'establishing',
        `leads epoch ${self.leaderEpoch}, start-of-epoch log not yet durable on a quorum`,
      );
    return { ready: true, role: 'leader', leaderId: self.id, epoch: self.leaderEpoch, lag: 0 };
  }
  if (self.role === 'candidate') return no('electing', 'taking the lead (view change in progress)');
  if (self.leaderId === null) return no('no_leader', 'follows no leader yet');
  if (leader === null) return no('leader_unreachable', `leader ${self.leaderId} does not answer`);
  if (
    leader.role !== 'leader' ||
    leader.leaderEpoch === null ||
    leader.leaderEpoch < self.promisedEpoch
  ) {
    return no('leader_moved', `replica ${self.leaderId} does not lead epoch ${self.promisedEpoch}`);
  }
  const me = leader.followers.find((f) => f.id === self.id);
  if (!me?.reachable)
    return no('not_reached', `leader ${self.leaderId} does not reach this replica`);
  const lag = Math.max(0, leader.commitIndex - me.matchIndex);
  if (lag > maxLag)
    return no('catching_up', `${lag} committed orders behind leader ${self.leaderId}`, lag);
  return { ready: true, role: 'follower', leaderId: self.leaderId, epoch: leader.leaderEpoch, lag };
}

export interface ReplicaReadinessDeps {
  replica: { status(): ReplicaStatus };
  /** The status of peer `id` (the leader), or a rejection; main.ts passes the peer transport's. */
  peerStatus(id: number, timeoutMs: number): Promise<ReplicaStatus>;
  /**
   * How long the leader may take to answer (default 1 s: an in-memory answer, well inside a probe's
   * timeout).
   */
  timeoutMs?: number;
}

export async function replicaReadiness(deps: ReplicaReadinessDeps): Promise<ReplicaReadiness> {
  const self = deps.replica.status();
  const asksLeader =
    self.role === 'follower' && self.leaderId !== null && self.leaderId !== self.id;
  const leader = asksLeader
    ? await deps.peerStatus(self.leaderId!, deps.timeoutMs ?? 1_000).catch(() => null)
    : null;
  return judgeReplicaReadiness(self, leader);
}

/** `GET /ready`: 200 `{"data":{"ready":true,...}}`, or 503 `not_ready` with `detail.why`. */
export function createReplicaReadinessApp(deps: ReplicaReadinessDeps): Hono {
  const app = new Hono();
  app.onError(onAppError);
  // Public, like /health: load balancers and orchestrators ask it without the cluster credential.
  mountRoutes(
    app,
    orderRoutes,
    {
      ready: async () => {
        const r = await replicaReadiness(deps);
        if (!r.ready) throw notReady(r.message, { why: r.why, leaderId: r.leaderId, lag: r.lag });
        return r;
      },
    },
    { credential: null },
  );
  return app;
}
