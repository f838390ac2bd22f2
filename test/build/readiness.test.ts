/**
 * Readiness apart from liveness: `/ready` on a frontend says "an order sent here now can be
 * taken" (a leader that leads the routed epoch and reaches a quorum); on a replica it says
 * "leading, or caught up with the leader". Stories run on three in-process replicas and the real
 * router; the rules themselves are checked case by case.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ReplicaStatus } from '../../shared/contracts.ts';
import { createFrontendReadinessApp, judgeFrontendReadiness } from '../../frontend/readiness.ts';
import {
  createReplicaReadinessApp,
  judgeReplicaReadiness,
  READY_MAX_LAG_ORDERS,
} from '../../order/readiness.ts';
import { createHttpPeerTransport } from '../../order/peers.ts';
import type { ElectionView } from '../../frontend/types.ts';
import { createOrderCluster, replicaUrl, type OrderCluster } from '../support/order-cluster.ts';

let cluster: OrderCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

const status = (over: Partial<ReplicaStatus>): ReplicaStatus => ({
  id: 3,
  role: 'follower',
  promisedEpoch: 4,
  leaderEpoch: null,
  leaderId: null,
  head: { logEpoch: 4, lastIndex: 9, lastCrc: 1 },
  commitIndex: 9,
  storage: 'intact',
  established: false,
  isolated: false,
  followers: [],
  ...over,
});
const leader3 = (followers: ReplicaStatus['followers'], commitIndex = 9) =>
  status({
    id: 3,
    role: 'leader',
    leaderEpoch: 4,
    leaderId: 3,
    commitIndex,
    established: true,
    followers,
  });
const view = (leaderId: number | null, epoch: number | null, electing = false): ElectionView => ({
  leaderId,
  epoch,
  electing,
  replicas: [3, 2, 1].map((id) => ({
    id,
    url: `http://order-${id}.test`,
    state: 'up',
    role: null,
    lastIndex: null,
    promisedEpoch: null,
  })),
});

async function ready(app: {
  request(path: string): Response | Promise<Response>;
}): Promise<{ status: number; body: any }> {
  const res = await app.request('/ready');
  return { status: res.status, body: await res.json() };
}

describe('the frontend readiness rule', () => {
  it('is not ready without a leader, saying whether an election is running', () => {
    expect(judgeFrontendReadiness(view(null, null, true), null, 2)).toMatchObject({
      ready: false,
      why: 'no_leader',
      message: 'electing a leader',
    });
  });
  it('is not ready when the leader does not answer', () => {
    expect(judgeFrontendReadiness(view(3, 4), null, 2)).toMatchObject({
      ready: false,
      why: 'leader_unreachable',
    });
  });
  it('is not ready when the replica it routes to no longer leads that epoch', () => {
    const deposed = status({ id: 3, role: 'follower', leaderId: 2, promisedEpoch: 5 });
    expect(judgeFrontendReadiness(view(3, 4), deposed, 2)).toMatchObject({
      ready: false,
      why: 'leader_moved',
    });
    expect(judgeFrontendReadiness(view(3, 3), leader3([]), 2)).toMatchObject({
      ready: false,
      why: 'leader_moved',
    });
  });
  it('is not ready when the leader reaches too few followers for a commit', () => {
    const cut = leader3([
      { id: 2, reachable: false, matchIndex: 9, nextIndex: 10 },
      { id: 1, reachable: false, matchIndex: 9, nextIndex: 10 },
    ]);
    expect(judgeFrontendReadiness(view(3, 4), cut, 2)).toMatchObject({
      ready: false,
      why: 'no_quorum',
    });
    // COMMIT_QUORUM=1: the leader alone is enough.
    expect(judgeFrontendReadiness(view(3, 4), cut, 1)).toMatchObject({
      ready: true,
      followersReachable: 0,
    });
  });
  it('is ready with a leader of the routed epoch that reaches a quorum', () => {
    const ok = leader3([
      { id: 2, reachable: true, matchIndex: 9, nextIndex: 10 },
      { id: 1, reachable: false, matchIndex: 3, nextIndex: 4 },
    ]);
    expect(judgeFrontendReadiness(view(3, 4), ok, 2)).toEqual({
      ready: true,
      leaderId: 3,
      epoch: 4,
      followersReachable: 1,
    });
  });
});

describe('the replica readiness rule', () => {
  it('is ready while leading', () => {
    expect(judgeReplicaReadiness(leader3([]), null)).toMatchObject({
      ready: true,
      role: 'leader',
      epoch: 4,
    });
  });
  it('is not ready while its durable state is not intact, whatever its role, nor while leading unestablished', () => {
    for (const storage of ['recovering', 'unverified', 'amnesiac'] as const) {
      expect(
        judgeReplicaReadiness(
          status({ id: 1, leaderId: 3, storage }),
          leader3([{ id: 1, reachable: true, matchIndex: 9, nextIndex: 10 }]),
        ),
      ).toMatchObject({ ready: false, why: 'recovering' });
      expect(judgeReplicaReadiness({ ...leader3([]), storage }, null)).toMatchObject({
        ready: false,
        why: 'recovering',
      });
    }
    expect(judgeReplicaReadiness({ ...leader3([]), established: false }, null)).toMatchObject({
      ready: false,
      why: 'establishing',
    });
  });
  it('is not ready during its own view change or before it knows a leader', () => {
    expect(judgeReplicaReadiness(status({ role: 'candidate' }), null)).toMatchObject({
      ready: false,
      why: 'electing',
    });
    expect(judgeReplicaReadiness(status({ id: 1 }), null)).toMatchObject({
      ready: false,
      why: 'no_leader',
    });
  });
  it('is not ready when its leader does not answer, has moved on, or does not reach it', () => {
    const me = status({ id: 1, leaderId: 3 });
    expect(judgeReplicaReadiness(me, null)).toMatchObject({
      ready: false,
      why: 'leader_unreachable',
    });
    expect(judgeReplicaReadiness(me, status({ id: 3, leaderId: 2 }))).toMatchObject({
      ready: false,
      why: 'leader_moved',
    });
    expect(
      judgeReplicaReadiness(
        status({ id: 1, leaderId: 3, promisedEpoch: 5 }),
        leader3([{ id: 1, reachable: true, matchIndex: 9, nextIndex: 10 }]),
      ),
    ).toMatchObject({ ready: false, why: 'leader_moved' });
    expect(
      judgeReplicaReadiness(
        me,
        leader3([{ id: 1, reachable: false, matchIndex: 9, nextIndex: 10 }]),
      ),
    ).toMatchObject({ ready: false, why: 'not_reached' });
    expect(
      judgeReplicaReadiness(
        me,
        leader3([{ id: 2, reachable: true, matchIndex: 9, nextIndex: 10 }]),
      ),
    ).toMatchObject({ ready: false, why: 'not_reached' });
  });
  it('is not ready while more than READY_MAX_LAG_ORDERS committed orders behind, and ready within it', () => {
    const me = status({ id: 1, leaderId: 3 });
    const commit = 5_000;
    const behind = (lag: number) =>
      leader3(
        [{ id: 1, reachable: true, matchIndex: commit - lag, nextIndex: commit - lag + 1 }],
        commit,
      );
    expect(judgeReplicaReadiness(me, behind(READY_MAX_LAG_ORDERS + 1))).toMatchObject({
      ready: false,
      why: 'catching_up',
      lag: READY_MAX_LAG_ORDERS + 1,
    });
    expect(judgeReplicaReadiness(me, behind(READY_MAX_LAG_ORDERS))).toMatchObject({
      ready: true,
      role: 'follower',
      lag: READY_MAX_LAG_ORDERS,
    });
    expect(judgeReplicaReadiness(me, behind(0))).toEqual({
      ready: true,
      role: 'follower',
      leaderId: 3,
      epoch: 4,
      lag: 0,
    });
  });
});

describe('GET /ready on a running cluster', () => {
  it('when both followers crash, the frontend stops being ready (no quorum), and is ready again once one returns', async () => {
    const c = (cluster = createOrderCluster());
    const app = createFrontendReadinessApp({ orders: c.router, http: c.net.http, commitQuorum: 2 });
    await c.until('the frontend is ready', async () => (await ready(app)).status === 200);
    expect((await ready(app)).body.data).toMatchObject({ ready: true, leaderId: 3 });

    await c.crash(1);
    await c.crash(2);
    await c.until(
      'the frontend says no quorum',
      async () => (await ready(app)).body.error?.detail?.why === 'no_quorum',
    );
    const down = await ready(app);
    expect(down.status).toBe(503);
    expect(down.body.error).toMatchObject({
      code: 503,
      reason: 'not_ready',
      detail: { why: 'no_quorum', leaderId: 3 },
    });

    await c.restart(2);
    await c.until('the frontend is ready again', async () => (await ready(app)).status === 200);
  });

  it('a restarted follower the leader cannot reach is live but not ready, and becomes ready once caught up', async () => {
    const c = (cluster = createOrderCluster());
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    await c.crash(1);
    for (let i = 0; i < 20; i++) await c.router.placeOrder({ name: 'Tux', quantity: 1 });
    const r1 = await c.restart(1);
    // The restarted replica answers (it is live) but the leader's appends to it vanish.
    c.setLink(1, 'blackhole');
    const peers = createHttpPeerTransport(
      c.net.http,
      [3, 2].map((id) => ({ id, url: replicaUrl(id) })),
    );
    const app = createReplicaReadinessApp({
      replica: r1,
      peerStatus: peers.status,
      timeoutMs: 200,
    });
    await c.until(
      'the leader has given up on replica 1',
      () =>
        c
          .replica(3)
          .status()
          .followers.find((f) => f.id === 1)?.reachable === false,
    );
    const cut = await ready(app);
    expect(cut.status).toBe(503);
    expect(cut.body.error.reason).toBe('not_ready');
    expect(['no_leader', 'not_reached']).toContain(cut.body.error.detail.why);

    c.setLink(1, 'up');
    await c.until('replica 1 is ready', async () => (await ready(app)).status === 200);
    expect(c.log(1)).toHaveLength(20);
    expect((await ready(app)).body.data).toMatchObject({
      ready: true,
      role: 'follower',
      leaderId: 3,
      lag: 0,
    });
  });

  it('the leader itself is ready', async () => {
    const c = (cluster = createOrderCluster());
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const peers = createHttpPeerTransport(
      c.net.http,
      [2, 1].map((id) => ({ id, url: replicaUrl(id) })),
    );
    const app = createReplicaReadinessApp({ replica: c.replica(3), peerStatus: peers.status });
    expect((await ready(app)).body.data).toMatchObject({
      ready: true,
      role: 'leader',
      leaderId: 3,
    });
  });
});
