/**
 * What the status page says about the store's health, as stories of what the frontend saw (the
 * pure HealthTracker, fed typed observations with wall-clock times): refused orders make a banner
 * that says why and since when even while the router still names a leader; a failover is told
 * with its duration and reason; each service is up or down since a time.
 */
import { describe, expect, it } from 'vitest';
import { HealthTracker, type Observation } from '../../frontend/health-tracker.ts';
import type { ElectionView, ReplicaView } from '../../frontend/types.ts';

const T0 = Date.UTC(2026, 0, 5, 7, 18, 0);

function replica(
  id: number,
  state: ReplicaView['state'],
  role: string | null = state === 'up' ? 'follower' : null,
  lastIndex: number | null = state === 'up' ? 10 : null,
): ReplicaView {
  return {
    id,
    url: `http://127.0.0.1:80${10 + id}`,
    state,
    role,
    lastIndex,
    promisedEpoch: state === 'up' ? 1 : null,
  };
}
function view(leaderId: number | null, replicas: ReplicaView[], electing = false): ElectionView {
  return { leaderId, epoch: leaderId === null ? null : 1, electing, replicas };
}
const allUp = (leader = 3) =>
  view(leader, [
    replica(3, 'up', leader === 3 ? 'leader' : 'follower'),
    replica(2, 'up', leader === 2 ? 'leader' : 'follower'),
    replica(1, 'up'),
  ]);

function story(...events: Observation[]): HealthTracker {
  const t = new HealthTracker({ quorum: 2 });
  for (const e of events) t.observe(e);
  return t;
}
const at = (s: number) => T0 + s * 1000;
const order = (
  s: number,
  status: number,
  reason: string | null = null,
  latencyMs = 5,
): Observation => ({ kind: 'order', atMs: at(s), status, reason, latencyMs });
const seen = (s: number, v: ElectionView): Observation => ({ kind: 'view', atMs: at(s), view: v });
const leads = (
  s: number,
  leaderId: number | null,
  epoch: number | null = leaderId === null ? null : 1,
): Observation => ({ kind: 'leader_change', atMs: at(s), leaderId, epoch });

describe('the status banner, from what the frontend saw', () => {
  it('when both followers die and orders get 503 no_quorum, then it says "orders refused: no quorum" since the first refusal, though a leader is still named', () => {
    const followersDead = view(3, [
      replica(3, 'up', 'leader'),
      replica(2, 'down'),
      replica(1, 'down'),
    ]);
    const t = story(
      seen(0, allUp()),
      leads(0, 3),
      order(1, 200),
      seen(24, followersDead),
      order(24, 503, 'no_quorum'),
      order(25, 503, 'no_quorum'),
      order(30, 503, 'no_quorum'),
    );
    const banners = t.banners();
    expect(banners).toHaveLength(1);
    expect(banners[0]).toEqual({
      level: 'down',
      reason: 'no_quorum',
      headline: 'orders refused: no quorum',
      sinceMs: at(24),
      refused: { count: 3, status: 503, lastMs: at(30), failingSinceMs: at(24) },
      detail:
        'Replica 3 is still named leader, but 1 of 3 order replicas answer heartbeats (2 needed).',
    });
  });

  it('when an order is acknowledged again, then the banner goes away', () => {
    const t = story(seen(0, allUp()), leads(0, 3), order(5, 503, 'no_quorum'), order(9, 200));
    expect(t.banners()).toEqual([]);
  });

  it('when the failures change reason, then "since" is when the current reason started, and the run\'s start is kept', () => {
    const t = story(
      seen(0, allUp()),
      leads(0, 3),
      order(3, 504, 'outcome_unknown'),
      order(5, 503, 'no_quorum'),
      order(8, 503, 'upstream_unavailable'),
    );
    const [b, ...rest] = t.banners();
    expect(rest).toEqual([]);
    expect(b).toMatchObject({
      reason: 'catalog_down',
      headline: 'orders refused: catalog unreachable',
      sinceMs: at(8),
      refused: { count: 1, failingSinceMs: at(3) },
    });
  });

  it('when an election finds no majority, then the banner says "no leader" since that election, before any order is refused', () => {
    const oneLeft = view(null, [replica(3, 'down'), replica(2, 'down'), replica(1, 'up')]);
    const t = story(seen(0, allUp()), leads(0, 3), seen(40, oneLeft), leads(41, null));
    expect(t.banners()).toEqual([
      expect.objectContaining({
        level: 'down',
        reason: 'no_leader',
        headline: 'orders refused: no leader',
        sinceMs: at(41),
        refused: null,
        detail: 'The last election failed: 1 of 3 order replicas answer heartbeats (2 needed).',
      }),
    ]);
    // The refused orders that follow are the same outage: one banner, since the election, counting
    // them.
    t.observe(order(43, 503, 'no_leader'));
    expect(t.banners()).toEqual([
      expect.objectContaining({
        reason: 'no_leader',
        sinceMs: at(41),
        refused: { count: 1, status: 503, lastMs: at(43), failingSinceMs: at(43) },
      }),
    ]);
  });

  it('when only the heartbeats show a minority and no order has been refused yet, then it warns instead of claiming refusals', () => {
    const t = story(
      seen(0, allUp()),
      leads(0, 3),
      seen(10, view(3, [replica(3, 'up', 'leader'), replica(2, 'down'), replica(1, 'down')])),
    );
    expect(t.banners()).toEqual([
      expect.objectContaining({
        level: 'warn',
        reason: 'quorum_at_risk',
        headline: 'no quorum: 1 of 3 order replicas answer heartbeats (2 needed)',
        sinceMs: at(10),
      }),
    ]);
  });

  it('when the catalog stops answering, then it is down since the first failed call, and up again after the next answer', () => {
    const t = story(
      { kind: 'catalog', atMs: at(1), ok: true, error: null },
      { kind: 'catalog', atMs: at(5), ok: false, error: 'catalog is unavailable' },
      { kind: 'catalog', atMs: at(6), ok: false, error: 'catalog is unavailable' },
    );
    expect(t.banners()).toEqual([
      expect.objectContaining({
        level: 'down',
        reason: 'catalog_down',
        headline: 'catalog unreachable: uncached product queries and orders fail',
        sinceMs: at(5),
      }),
    ]);
    expect(t.serviceHealth().find((s) => s.name === 'catalog')).toEqual({
      name: 'catalog',
      state: 'down',
      sinceMs: at(5),
      lastUpMs: at(1),
      detail: 'catalog is unavailable',
    });
    t.observe({ kind: 'catalog', atMs: at(9), ok: true, error: null });
    expect(t.banners()).toEqual([]);
    expect(t.serviceHealth().find((s) => s.name === 'catalog')).toMatchObject({
      state: 'up',
      sinceMs: at(9),
    });
  });
});

describe('failovers and services, from what the frontend saw', () => {
  it('when the leader stops answering heartbeats, then the failover lasts from that sight to the new leader, says why, and when orders came back', () => {
    const leaderDown = view(3, [replica(3, 'down'), replica(2, 'up'), replica(1, 'up')], true);
    const t = story(
      seen(0, allUp()),
      leads(0.5, 3),
      order(1, 200),
      seen(10, leaderDown),
      leads(10.15, 2, 2),
      order(10.3, 200),
    );
    const [first, failover] = t.failovers();
    expect(first).toMatchObject({
      from: null,
      to: 3,
      reason: 'first election',
      durationMs: null,
      ordersResumedAfterMs: null,
    });
    expect(failover).toEqual({
      atMs: at(10.15),
      from: 3,
      to: 2,
      epoch: 2,
      reason: 'replica 3 stopped answering heartbeats',
      troubleSinceMs: at(10),
      durationMs: 150,
      ordersResumedAfterMs: 300,
    });
    expect(t.serviceHealth().find((s) => s.name === 'order-3')).toMatchObject({
      state: 'down',
      sinceMs: at(10),
      lastUpMs: at(0),
    });
  });

  it('when orders fail before the heartbeats notice, then the failover starts at the first failed order', () => {
    const t = story(
      seen(0, allUp()),
      leads(0, 3),
      order(20, 504, 'outcome_unknown'),
      seen(20.2, view(3, [replica(3, 'down'), replica(2, 'up'), replica(1, 'up')], true)),
      leads(20.4, 2, 2),
    );
    // The stronger sign (missed heartbeats) gives the words; the first sign gives the time.
    expect(t.failovers().at(-1)).toMatchObject({
      from: 3,
      to: 2,
      troubleSinceMs: at(20),
      durationMs: 400,
      reason: 'replica 3 stopped answering heartbeats',
    });
  });

  it('when only orders failed before the change, then the failover says so', () => {
    const t = story(
      seen(0, allUp()),
      leads(0, 3),
      order(20, 504, 'outcome_unknown'),
      leads(20.5, 2, 2),
    );
    expect(t.failovers().at(-1)).toMatchObject({
      troubleSinceMs: at(20),
      durationMs: 500,
      reason: 'orders to replica 3 failed: outcome unknown (504)',
    });
  });

  it("when the router starts an election, then its reason names the failover and its start can be the failover's start", () => {
    const election = (sec: number, reason: string): Observation => ({
      kind: 'election',
      atMs: at(sec),
      reason,
    });
    const t = story(
      seen(0, allUp()),
      leads(0, 3),
      election(7, 'replica 3 failed a request: connect ECONNREFUSED'),
      leads(7.08, 2, 2),
    );
    expect(t.failovers().at(-1)).toMatchObject({
      troubleSinceMs: at(7),
      durationMs: 80,
      reason: 'replica 3 failed a request: connect ECONNREFUSED',
    });
  });

  it('when an election fails, then the change says who refused and how many replicas answer', () => {
    const oneLeft = view(3, [replica(3, 'down'), replica(2, 'down'), replica(1, 'up')]);
    const t = story(
      seen(0, allUp()),
      leads(0, 3),
      seen(5, oneLeft),
      { kind: 'election', atMs: at(5), reason: 'leader 3 stopped answering heartbeats' },
      {
        kind: 'election_refused',
        atMs: at(5.1),
        replica: 1,
        reason: 'only 1 of 3 replicas promised epoch 2',
      },
      leads(5.2, null),
    );
    expect(t.failovers().at(-1)).toMatchObject({
      from: 3,
      to: null,
      durationMs: 200,
      reason:
        'election failed: 1 of 3 order replicas answer heartbeats (2 needed); replica 1 refused: only 1 of 3 replicas promised epoch 2',
    });
  });

  it('when the router follows a newer epoch it did not elect, or finds a leader at start, then the change says so', () => {
    const t = story(
      seen(0, allUp()),
      { kind: 'leader_change', atMs: at(0), leaderId: 3, epoch: 4, why: 'found' },
      { kind: 'leader_change', atMs: at(9), leaderId: 2, epoch: 5, why: 'newer' },
    );
    expect(t.failovers().map((f) => f.reason)).toEqual([
      'found replica 3 leading',
      'replica 2 leads a newer epoch than the one this frontend routed to',
    ]);
  });

  it('when a leader is replaced between two looks, then the change is recorded with what the view shows and no made-up duration', () => {
    const t = story(seen(0, allUp()), leads(0, 3), leads(5, 2, 2));
    expect(t.failovers().at(-1)).toMatchObject({
      from: 3,
      to: 2,
      troubleSinceMs: null,
      durationMs: null,
      reason: 'replica 3 was replaced (the frontend saw no trouble before the change)',
    });
  });

  it('when a leader blips in one view and is fine in the next, then the blip is forgotten', () => {
    const t = story(
      seen(0, allUp()),
      leads(0, 3),
      seen(5, view(3, [replica(3, 'up', 'leader'), replica(2, 'up'), replica(1, 'up')], true)),
      seen(5.1, allUp()),
      leads(30, 2, 2),
    );
    expect(t.failovers().at(-1)).toMatchObject({ troubleSinceMs: null, durationMs: null });
    expect(t.banners()).toEqual([]);
  });

  it('when a leader is elected after a time without one, then that outage is the duration', () => {
    const oneLeft = view(null, [replica(3, 'down'), replica(2, 'down'), replica(1, 'up')]);
    const t = story(
      seen(0, allUp()),
      leads(0, 3),
      seen(40, oneLeft),
      leads(40.5, null),
      seen(70, view(null, [replica(3, 'down'), replica(2, 'up'), replica(1, 'up')])),
      leads(70.2, 2, 3),
    );
    const [, lost, back] = t.failovers();
    expect(lost).toMatchObject({
      from: 3,
      to: null,
      reason: 'election failed: 1 of 3 order replicas answer heartbeats (2 needed)',
    });
    expect(back).toMatchObject({
      from: null,
      to: 2,
      troubleSinceMs: at(40.5),
      durationMs: 29_700,
      reason: 'a leader could be elected again: 2 of 3 order replicas answer heartbeats (2 needed)',
    });
    expect(t.banners()).toEqual([]);
  });

  it('keeps a bounded number of failovers, the newest', () => {
    const t = new HealthTracker({ quorum: 2, failoversKept: 3 });
    for (let i = 0; i < 10; i++) t.observe(leads(i, (i % 3) + 1, i + 1));
    expect(t.failovers().map((f) => f.epoch)).toEqual([8, 9, 10]);
  });

  it('lists the catalog first, then the replicas from the highest id, each with since', () => {
    const t = story(seen(0, allUp()), { kind: 'catalog', atMs: at(1), ok: true, error: null });
    expect(t.serviceHealth().map((s) => [s.name, s.state, s.sinceMs])).toEqual([
      ['catalog', 'up', at(1)],
      ['order-3', 'up', at(0)],
      ['order-2', 'up', at(0)],
      ['order-1', 'up', at(0)],
    ]);
  });
});
