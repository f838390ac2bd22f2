/**
 * Stories about faults, three replicas and the frontend's router in one process, on logical time
 * (a ManualClock: every heartbeat, timeout and retry fires only as the story lets time pass, so a
 * story is deterministic and takes no real time): the leader dies, a follower falls behind, a
 * leader acknowledges nothing it could lose. Every story ends with the shared invariants:
 * identical logs, contiguous numbers, one order per key, nothing acknowledged lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { checkConvergedCluster, type Acknowledged } from '../../scripts/lib/invariants/index.ts';
import { ManualClock } from '../../shared/clock.ts';
import { AppError } from '../../shared/errors.ts';
import { createInProcessNetwork } from '../../shared/http.ts';
import {
  createOrderCluster,
  type ClusterOptions,
  type OrderCluster,
} from '../support/order-cluster.ts';

let cluster: OrderCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

/** Three replicas and a frontend on logical time. */
const cluster3 = (opts: ClusterOptions = {}): OrderCluster =>
  (cluster = createOrderCluster({ clock: new ManualClock(), ...opts }));

async function order(
  c: OrderCluster,
  acked: Acknowledged[],
  name = 'Tux',
  quantity = 1,
): Promise<number> {
  const { order_number } = await c.settle(c.router.placeOrder({ name, quantity }));
  acked.push({ orderNumber: order_number, name, quantity });
  return order_number;
}

function logsOf(c: OrderCluster, ids = [1, 2, 3]) {
  return new Map(ids.map((id) => [`order-${id}`, c.log(id)]));
}

describe('a healthy cluster', () => {
  it('elects the highest-priority replica and numbers orders contiguously from 0 on every replica', async () => {
    const c = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    const numbers = await c.settle(
      Promise.all(
        Array.from({ length: 20 }, (_, i) => order(c, acked, i % 2 ? 'Tux' : 'Lego', 1 + (i % 3))),
      ),
    );
    expect([...numbers].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
    const read = await c.settle(c.router.getOrder(numbers[5]!));
    expect(read).toEqual({ number: numbers[5], name: 'Tux', quantity: 3 });
  });

  it('answers 404 for an order number that was never given out', async () => {
    const c = cluster3();
    await c.until('a leader exists', () => c.leaderId() !== null);
    await expect(c.settle(c.router.getOrder(7))).rejects.toMatchObject({
      status: 404,
      reason: 'order_not_found',
    });
  });

  it('when the leader is cut off from both followers, it still answers an order it knows committed, but says nothing of a number it never gave out', async () => {
    const c = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    const n = await order(c, acked, 'Lego', 2);
    await c.until(
      'order n known committed on the leader',
      () => c.replica(3).status().commitIndex >= n,
    );
    c.cut('order-3', 'order-1');
    c.cut('order-3', 'order-2');
    const epoch = c.replica(3).status().leaderEpoch!;
    // A committed order never changes and every later leader holds it: no quorum round needed.
    expect(await c.settle(c.replica(3).getOrder(n, epoch))).toEqual({
      number: n,
      name: 'Lego',
      quantity: 2,
    });
    // "No such order" is only true while it still leads, which no majority can confirm now.
    await expect(c.settle(c.replica(3).getOrder(n + 1, epoch))).rejects.toMatchObject({
      status: 503,
    });
  });

  it('passes the catalog refusal through and gives out no number for it', async () => {
    const c = cluster3();
    c.catalog.setQuantity('Tux', 1);
    await c.until('a leader exists', () => c.leaderId() !== null);
    await expect(c.settle(c.router.placeOrder({ name: 'Tux', quantity: 2 }))).rejects.toMatchObject(
      { status: 409 },
    );
    const acked: Acknowledged[] = [];
    expect(await order(c, acked, 'Lego')).toBe(0);
  });
});

describe('when the leader dies', () => {
  it('orders continue on the next replica with the next number, and the old leader catches up on restart', async () => {
    const c = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    for (let i = 0; i < 10; i++) await order(c, acked);
    await c.crash(3);
    for (let i = 0; i < 10; i++) await order(c, acked, 'Lego');
    expect(c.leaderId()).toBe(2);
    expect(acked.map((a) => a.orderNumber)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await c.restart(3);
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
    // Priority does not preempt a working leader: replica 3 rejoins as a follower.
    expect(c.replica(3).status().role).toBe('follower');
    expect(c.replica(2).status().role).toBe('leader');
  });

  it('many orders failing at once against the dead leader cause one election, not several', async () => {
    const c = cluster3({ heartbeatIntervalMs: 1_000 }); // heartbeats too slow to notice first
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    await order(c, acked);
    const elections = () =>
      c.routerEvents.filter((e) => e.frontend === 'frontend' && e.type === 'election');
    const before = elections().length;
    await c.crash(3);
    await c.settle(Promise.all(Array.from({ length: 12 }, () => order(c, acked, 'Lego'))));
    expect(
      elections()
        .slice(before)
        .map((e) => e.type === 'election' && e.trigger),
    ).toEqual(['request_failed']);
    expect(c.leaderId()).toBe(2);
    expect(new Set(acked.map((a) => a.orderNumber)).size).toBe(13);
  });

  it('when the leader dies mid-order, the frontend retries with the same key and the order happens exactly once', async () => {
    const c = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    await order(c, acked);
    let crashed = false;
    c.catalog.before = async () => {
      if (!crashed) {
        crashed = true;
        await c.crash(3); // the leader dies after the catalog took the stock, before logging
      }
    };
    const n = await order(c, acked, 'Tux', 4);
    expect(n).toBe(1);
    const keys = new Set(c.catalog.calls.slice(1).map((call) => call.key));
    expect(keys.size).toBe(1); // both attempts carried the same key ...
    expect(c.catalog.quantity('Tux')).toBe(1_000_000 - 1 - 4); // ... and stock moved once
    await c.restart(3);
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
  });

  it('every concurrent order of a crash ends acknowledged once or not at all, never twice', async () => {
    const c = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    const inFlight = Array.from({ length: 30 }, (_, i) =>
      order(c, acked, 'Tux', 1 + (i % 5)).catch((e: AppError) => e),
    );
    await c.until('some orders are logged', () => c.log(3).length >= 5);
    await c.crash(3);
    const results = await c.settle(Promise.all(inFlight));
    const failures = results.filter((r) => r instanceof AppError);
    expect(failures.filter((f) => (f as AppError).reason !== 'outcome_unknown')).toEqual([]);
    await c.restart(3);
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
    const total = c.log(2).reduce((sum, e) => sum + e.quantity, 0);
    expect(c.catalog.quantity('Tux')).toBe(1_000_000 - total);
  });
});

describe('a leader never acknowledges what one crash could erase', () => {
  it('with no follower reachable it answers 503 and changes nothing anywhere', async () => {
    const c = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    await c.crash(1);
    await c.crash(2);
    await c.until('the leader sees no follower', () =>
      c
        .replica(3)
        .status()
        .followers.every((f) => !f.reachable),
    );
    const callsBefore = c.catalog.calls.length;
    await expect(c.settle(c.router.placeOrder({ name: 'Tux', quantity: 1 }))).rejects.toMatchObject(
      { status: 503, reason: 'no_quorum' },
    );
    expect(c.catalog.calls.length).toBe(callsBefore);
    expect(c.log(3)).toEqual([]);
  });

  it('a rejoining old leader drops exactly the orders it never got onto a majority and takes the committed ones', async () => {
    const c = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    for (let i = 0; i < 5; i++) await order(c, acked);
    await c.converged();
    // Cut the leader off from both followers: its next order is logged locally and never commits.
    c.setLink(1, 'blackhole');
    c.setLink(2, 'blackhole');
    const epoch3 = c.replica(3).status().leaderEpoch!;
    const stranded = c
      .replica(3)
      .placeOrder({ name: 'Lego', quantity: 2, key: 'stranded', epoch: epoch3 })
      .catch((e) => e);
    await c.until('the stranded order is in the old leader log', () => c.log(3).length === 6);
    await c.crash(3);
    c.setLink(1, 'up');
    c.setLink(2, 'up');
    expect(await c.settle(stranded)).toMatchObject({ reason: 'outcome_unknown' });
    for (let i = 0; i < 3; i++) await order(c, acked, 'Tux', 3);
    await c.restart(3);
    await c.converged();
    expect(c.log(3).some((e) => e.key === 'stranded')).toBe(false);
    expect(c.log(3)).toHaveLength(8);
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
  });
});

describe('priority chooses who leads, never whose orders survive', () => {
  it('a highest-priority replica that was down while others took orders catches up before it serves', async () => {
    const c = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    await c.crash(3);
    for (let i = 0; i < 12; i++) await order(c, acked);
    expect(c.leaderId()).toBe(2);
    await c.restart(3);
    await c.until('replica 3 caught up', () => c.log(3).length === 12);
    // Now the current leader dies; replica 3 (highest priority) is elected and must serve all 12.
    await c.crash(2);
    await order(c, acked, 'Lego');
    expect(c.leaderId()).toBe(3);
    expect(acked.at(-1)!.orderNumber).toBe(12);
    await c.restart(2);
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
  });

  it('a stale highest-priority replica elected straight after a restart adopts the newer log of its quorum', async () => {
    const c = cluster3({ startRouter: false });
    // A new cluster starts once every replica has answered once (order/recovery.ts); then epoch 1
    // is led by replica 2 with replica 1, and replica 3 is down throughout.
    await c.until('all three know the cluster is new', () =>
      [1, 2, 3].every((id) => c.replica(id).status().storage === 'intact'),
    );
    c.setLink(3, 'down');
    await c.settle(c.replica(2).lead(1));
    const acked: Acknowledged[] = [];
    for (let i = 0; i < 7; i++) {
      const n = await c.settle(
        c.replica(2).placeOrder({ name: 'Tux', quantity: 1, key: `k${i}`, epoch: 1 }),
      );
      acked.push({ orderNumber: n, name: 'Tux', quantity: 1 });
    }
    // Replica 2 dies, replica 3 comes back empty and is asked to lead epoch 2 with replica 1.
    await c.crash(2);
    c.setLink(3, 'up');
    await c.settle(c.replica(3).lead(2));
    expect(c.log(3)).toHaveLength(7);
    const n = await c.settle(
      c.replica(3).placeOrder({ name: 'Lego', quantity: 1, key: 'after', epoch: 2 }),
    );
    expect(n).toBe(7);
    acked.push({ orderNumber: 7, name: 'Lego', quantity: 1 });
    await c.restart(2);
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
  });
});

describe('epochs fence out old leaders', () => {
  it('a paused leader that wakes up after a new election steps down and commits nothing', async () => {
    const c = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    await order(c, acked);
    const oldEpoch = c.replica(3).status().leaderEpoch!;
    c.setLink(3, 'blackhole'); // paused: nobody hears from it
    await order(c, acked, 'Lego');
    expect(c.leaderId()).toBe(2);
    const newEpoch = c.replica(2).status().leaderEpoch!;
    expect(newEpoch).toBeGreaterThan(oldEpoch);
    // While still believing it leads, the old leader tries an order of its own in its old epoch.
    const late = c
      .replica(3)
      .placeOrder({ name: 'Tux', quantity: 9, key: 'late', epoch: oldEpoch })
      .catch((e) => e);
    expect(await c.settle(late)).toBeInstanceOf(AppError);
    await c.until('the old leader stepped down', () => c.replica(3).status().role === 'follower');
    expect(c.log(2).some((e) => e.key === 'late')).toBe(false);
    c.setLink(3, 'up');
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
  });

  it('no two replicas ever lead the same epoch', async () => {
    const c = cluster3({ startRouter: false });
    const results = await c.settle(
      Promise.allSettled([c.replica(3).lead(5), c.replica(2).lead(5), c.replica(1).lead(5)]),
    );
    const winners = results.filter((r) => r.status === 'fulfilled');
    expect(winners.length).toBeLessThanOrEqual(1);
    const leaders = [1, 2, 3].filter((id) => c.replica(id).status().leaderEpoch === 5);
    expect(leaders.length).toBeLessThanOrEqual(1);
  });

  it('a replica refuses appends and order traffic from an epoch older than it promised', async () => {
    const c = cluster3({ startRouter: false });
    await c.settle(c.replica(3).lead(4));
    await expect(
      c.replica(1).handleAppend({
        epoch: 2,
        leaderId: 2,
        prevIndex: -1,
        prevCrc: 0,
        entries: [],
        commitIndex: -1,
        viewStartIndex: -1,
        leaderLastIndex: -1,
        established: false,
      }),
    ).rejects.toMatchObject({ reason: 'stale_epoch' });
    await expect(
      c.settle(c.replica(3).placeOrder({ name: 'Tux', quantity: 1, key: 'x', epoch: 3 })),
    ).rejects.toMatchObject({ reason: 'stale_epoch' });
  });
});

describe('a follower that falls behind while up', () => {
  it('notices the gap when it hears from the leader again and repairs it', async () => {
    const c = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    for (let i = 0; i < 3; i++) await order(c, acked);
    c.setLink(1, 'blackhole');
    for (let i = 0; i < 25; i++) await order(c, acked, 'Lego');
    expect(c.log(1).length).toBeLessThan(28);
    c.setLink(1, 'up');
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
  });

  it('an older follower (its answers never say takesRecords) catches up from entries, a current one from records, to the same log', async () => {
    const clock = new ManualClock();
    const net = createInProcessNetwork({ clock });
    /** Per replica: appends that came as entries, and as records (the log's text). */
    const seen = new Map([1, 2, 3].map((id) => [id, { entries: 0, records: 0 }]));
    const register = net.register.bind(net);
    net.register = (origin, handler) => {
      const id = Number(/order-(\d)/.exec(origin)![1]);
      register(origin, async (req) => {
        if (new URL(req.url).pathname !== '/internal/append') return handler(req);
        const sent = (await req.clone().json()) as { entries: unknown[]; records?: string };
        if (sent.records !== undefined) seen.get(id)!.records++;
        else if (sent.entries.length) seen.get(id)!.entries++;
        const res = await handler(req);
        if (id !== 1) return res;
        // Replica 1 is of the version before records: its answers have no such field.
        const body = (await res.json()) as { data?: { takesRecords?: true } };
        delete body.data?.takesRecords;
        return Response.json(body, { status: res.status, headers: res.headers });
      });
    };
    const c = cluster3({ clock, net, maxBatch: 8 });
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    for (const behind of [1, 2]) {
      c.setLink(behind, 'blackhole');
      for (let i = 0; i < 20; i++) await order(c, acked, 'Lego');
      expect(c.log(behind).length).toBeLessThan(acked.length - 8);
      c.setLink(behind, 'up');
      await c.converged();
    }
    expect(seen.get(1)).toMatchObject({ records: 0 });
    expect(seen.get(1)!.entries).toBeGreaterThan(0);
    expect(seen.get(2)!.records).toBeGreaterThan(0);
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
  });

  it('a second order with the same key returns the first order number without a second decrement', async () => {
    const c = cluster3({ startRouter: false });
    await c.settle(c.replica(3).lead(1));
    const a = await c.settle(
      c.replica(3).placeOrder({ name: 'Tux', quantity: 2, key: 'same', epoch: 1 }),
    );
    const b = await c.settle(
      c.replica(3).placeOrder({ name: 'Tux', quantity: 2, key: 'same', epoch: 1 }),
    );
    expect(b).toBe(a);
    expect(c.log(3)).toHaveLength(1);
    expect(c.catalog.quantity('Tux')).toBe(1_000_000 - 2);
  });
});
