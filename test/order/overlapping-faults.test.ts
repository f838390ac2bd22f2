/**
 * Stories about the overlapping faults that once broke the store (issue 9): each replays the
 * attack that found a bug, in one process on logical time (ManualClock), and ends with the
 * promise it broke: stock conserved, acknowledged orders kept, no stale read, no definite answer
 * for an order that later committed, no replica wedged by one failed write.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createCatalogApp } from '../../catalog/app.ts';
import { createMemoryCatalogStore } from '../../catalog/store.ts';
import { ManualClock } from '../../shared/clock.ts';
import { AppError } from '../../shared/errors.ts';
import { createInProcessNetwork } from '../../shared/http.ts';
import { checkConvergedCluster, type Acknowledged } from '../../scripts/lib/invariants/index.ts';
import type { Meta, MetaStore } from '../../order/meta.ts';
import {
  createOrderCluster,
  type ClusterOptions,
  type OrderCluster,
} from '../support/order-cluster.ts';

const CATALOG = 'http://catalog.test';
let cluster: OrderCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

/**
 * Three replicas and a router on logical time, buying from (and fencing, reconciling) a real
 * catalog.
 */
function cluster3(opts: ClusterOptions = {}) {
  const net = createInProcessNetwork();
  const store = createMemoryCatalogStore();
  net.register(CATALOG, createCatalogApp({ store }).fetch);
  const c = (cluster = createOrderCluster({
    net,
    clock: new ManualClock(),
    catalogUrl: CATALOG,
    reconcileIntervalMs: 50,
    nodeOf: (origin) => (origin === CATALOG ? 'catalog' : undefined),
    ...opts,
  }));
  return { c, store };
}

const logsOf = (c: OrderCluster, ids = [1, 2, 3]) =>
  new Map(ids.map((id) => [`order-${id}`, c.log(id)]));

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

/** Stock conservation for one toy: what the catalog lost is exactly what the log's orders took. */
function conserved(
  store: ReturnType<typeof createMemoryCatalogStore>,
  c: OrderCluster,
  leader: number,
  name: string,
) {
  const ordered = c
    .log(leader)
    .filter((e) => e.name === name)
    .reduce((n, e) => n + e.quantity, 0);
  return { stock: store.get(name)!.quantity, expected: 100 - ordered };
}

describe('when a new leader has not yet put its start-of-epoch log on a majority', () => {
  it('it releases no purchase, so an order the old leader logged commits later with its stock still taken', async () => {
    const { c, store } = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    await order(c, acked, 'Lego', 2);
    await c.converged();
    // Leader 3 takes order K while its links to both followers are held: bought, logged, never
    // replicated.
    c.cut('order-3', 'order-1');
    c.cut('order-3', 'order-2');
    const epoch3 = c.replica(3).status().leaderEpoch!;
    void c
      .replica(3)
      .placeOrder({ name: 'Lego', quantity: 7, key: 'K', epoch: epoch3 })
      .catch(() => {});
    await c.until('K is in the old leader log', () => c.log(3).some((e) => e.key === 'K'));
    await c.crash(3);
    // The frontend elects 2, whose appends to 1 are dropped (its promises are not).
    c.cut('order-2', 'order-1', /\/internal\/append$/);
    await c.until('replica 2 leads', () => c.leaderId() === 2 && c.replica(2).isLeader());
    // Many accounting rounds: K is neither in 2's log nor in flight there.
    await c.pass(1_000);
    expect(store.pending().entries.map((p) => p.key)).toContain('K');
    // 2 dies, everything heals, 3 comes back: it wins with its longer log (1 still carries the old
    // log epoch).
    await c.crash(2);
    c.heal();
    await c.restart(3);
    await c.until(
      'K committed on replica 1',
      () => c.log(1).some((e) => e.key === 'K') && c.replica(3).status().commitIndex >= 1,
    );
    await c.restart(2);
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
    await c.until(
      'the new leader accounted for K',
      () => !store.pending().entries.some((p) => p.key === 'K'),
    );
    expect(conserved(store, c, 3, 'Lego')).toEqual({ stock: 91, expected: 91 });
  });
});

describe("when an order's first attempt dies with the leader and the retry meets a leader without quorum", () => {
  it('the client hears 504 (unknown), never 503 (certainly did not happen)', async () => {
    const { c } = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    c.cut('order-3', 'order-1');
    c.cut('order-3', 'order-2');
    const answer = c.router.placeOrder({ name: 'Tux', quantity: 1 }, { idempotencyKey: 'K' }).then(
      () => 'ok',
      (e: AppError) => e,
    );
    await c.until('K is in the old leader log', () => c.log(3).some((e) => e.key === 'K'));
    await c.crash(3);
    // 2 is elected with 1's promise, but none of its appends reach 1: it has no quorum (nor has
    // 1 later, the other way round), so no leader can commit anything for a while.
    c.cut('order-2', 'order-1', /\/internal\/append$/);
    c.cut('order-1', 'order-2', /\/internal\/append$/);
    const got = await c.settle(answer);
    expect(got).toBeInstanceOf(AppError);
    expect((got as AppError).status).toBe(504);
    expect((got as AppError).reason).toBe('outcome_unknown');
  });
});

describe('when a client retries its key at a frontend that knows nothing of the first attempt', () => {
  it('a refusal for lack of a leader is 504 (unknown), because the first attempt may still commit, and it does', async () => {
    const { c } = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    // 2 is down first, so no newer view can form without 3 (1 alone is no quorum): K's fate stays
    // with 3's log. (Were a newer view to form without K, K would rightly be cut:
    // order/view-change.ts.)
    await c.crash(2);
    c.cut('order-3', 'order-1');
    void c.router.placeOrder({ name: 'Tux', quantity: 1 }, { idempotencyKey: 'K' }).catch(() => {});
    await c.until('K is in the leader log', () => c.log(3).some((e) => e.key === 'K'));
    await c.crash(3);
    // The client's retry reaches another frontend (or this one restarted): no leader anywhere.
    const other = c.addFrontend('frontend-b');
    const retry = await c.settle(
      other.placeOrder({ name: 'Tux', quantity: 1 }, { idempotencyKey: 'K' }).then(
        () => 'ok',
        (e: AppError) => e,
      ),
    );
    expect(retry).toBeInstanceOf(AppError);
    expect({ status: (retry as AppError).status, reason: (retry as AppError).reason }).toEqual({
      status: 504,
      reason: 'outcome_unknown',
    });
    // And rightly so: once 3 is back, its log (with K) wins and K commits.
    c.heal();
    await c.restart(3);
    await c.restart(2);
    await c.converged();
    expect(c.log(1).filter((e) => e.key === 'K')).toHaveLength(1);
  });
});

describe('when a replica lost its log while it was down', () => {
  it('it neither votes nor leads until rebuilt, so the replica that still holds the orders is waited for', async () => {
    const { c } = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    for (let i = 0; i < 3; i++) await order(c, acked);
    // Kill 1; kill and restart 3 (a new epoch on {2, 3}); more orders, on {2, 3} only.
    await c.crash(1);
    await c.crash(3);
    await c.restart(3);
    for (let i = 0; i < 3; i++) await order(c, acked, 'Lego');
    await c.converged([2, 3]);
    // Kill 2 and delete its log; kill 3; start 1 and 2.
    await c.crash(2);
    await c.crash(3);
    await c.restart(1);
    await c.restart(2, { lose: 'log' });
    expect(c.replica(2).status().storage).toBe('recovering');
    await c.pass(2_000);
    expect(c.leaderId()).toBeNull();
    expect(c.log(1)).toHaveLength(3);
    // Then 3, which holds every acknowledged order: it leads, and 2 is rebuilt from it.
    await c.restart(3);
    await c.until(
      'replica 2 is intact again',
      () => c.replica(2).status().storage === 'intact',
      10_000,
    );
    await order(c, acked);
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
  });

  it('a replica restarted with no files at all learns the newest epoch from its peers and is rebuilt before it counts', async () => {
    const { c } = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    for (let i = 0; i < 3; i++) await order(c, acked);
    await c.crash(2);
    await c.restart(2, { lose: 'both' });
    await c.until(
      'replica 2 is intact again',
      () => c.replica(2).status().storage === 'intact',
      10_000,
    );
    expect(c.replica(2).status().promisedEpoch).toBe(c.replica(3).status().promisedEpoch);
    await c.converged();
    expect(checkConvergedCluster(logsOf(c), acked)).toEqual([]);
  });

  it('a restarted follower still knows what was committed (the commit point survives restarts)', async () => {
    const { c } = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const acked: Acknowledged[] = [];
    for (let i = 0; i < 4; i++) await order(c, acked);
    await c.until(
      'follower 1 knows order 3 committed',
      () => c.replica(1).status().commitIndex >= 3,
    );
    await c.crash(1);
    await c.restart(1);
    expect(c.replica(1).status().commitIndex).toBeGreaterThanOrEqual(3);
  });
});

describe('when the leader is cut off from both followers but the frontend still reaches it', () => {
  it('it steps down within a few heartbeats and the healthy majority takes the orders', async () => {
    const { c } = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    for (const f of ['order-1', 'order-2']) {
      c.cut('order-3', f);
      c.cut(f, 'order-3');
    }
    let placed: number | null = null;
    await c.until(
      'an order is acknowledged',
      async () => {
        placed = await c.settle(
          c.router.placeOrder({ name: 'Tux', quantity: 1 }).then(
            (r) => r.order_number,
            () => null,
          ),
        );
        return placed !== null;
      },
      10_000,
    );
    expect(c.leaderId()).not.toBe(3);
    expect(c.replica(3).isLeader()).toBe(false);
  });

  it('a second frontend still routing to the deposed leader never answers "no such order" for one the first acknowledged', async () => {
    const { c } = cluster3();
    const b = c.addFrontend('frontend-b');
    await c.until(
      'both frontends route to replica 3',
      () => c.leaderId() === 3 && b.view().leaderId === 3,
    );
    // Frontend b reaches only replica 3; replica 3 reaches no follower.
    c.cut('frontend-b', 'order-1');
    c.cut('frontend-b', 'order-2');
    for (const f of ['order-1', 'order-2']) {
      c.cut('order-3', f);
      c.cut(f, 'order-3');
    }
    let n: number | null = null;
    await c.until(
      'frontend a gets an order acknowledged',
      async () => {
        n = await c.settle(
          c.router.placeOrder({ name: 'Tux', quantity: 1 }).then(
            (r) => r.order_number,
            () => null,
          ),
        );
        return n !== null;
      },
      10_000,
    );
    const read = await c.settle(
      b.getOrder(n!).then(
        (o) => o,
        (e: AppError) => e,
      ),
    );
    expect(read instanceof AppError ? read.reason : 'found').not.toBe('order_not_found');
  });
});

describe('when a new leader is elected while the old one does not know it yet', () => {
  it('the old leader answers no order read until a quorum confirms it still leads', async () => {
    const { c } = cluster3();
    const b = c.addFrontend('frontend-b');
    await c.until(
      'both frontends route to replica 3',
      () => c.leaderId() === 3 && b.view().leaderId === 3,
    );
    // Frontend a reaches only replica 3, frontend b only replicas 1 and 2; 3 reaches no follower.
    c.cut('frontend', 'order-1');
    c.cut('frontend', 'order-2');
    c.cut('frontend-b', 'order-3');
    for (const f of ['order-1', 'order-2']) {
      c.cut('order-3', f);
      c.cut(f, 'order-3');
    }
    await c.until(
      'frontend b elected a new leader',
      () => b.view().leaderId !== null && b.view().leaderId !== 3,
    );
    const { order_number } = await c.settle(b.placeOrder({ name: 'Tux', quantity: 1 }));
    expect(c.replica(3).isLeader()).toBe(true); // it has not noticed yet
    const read = await c.settle(
      c.router.getOrder(order_number).then(
        (o) => o,
        (e: AppError) => e,
      ),
    );
    expect(read instanceof AppError ? read.reason : 'found').not.toBe('order_not_found');
  });
});

describe("when another frontend elects a new leader behind this one's back", () => {
  it('this frontend follows the newer epoch at its next heartbeat, before the old leader even knows', async () => {
    const { c } = cluster3();
    const b = c.addFrontend('frontend-b');
    await c.until(
      'both frontends route to replica 3',
      () => c.leaderId() === 3 && b.view().leaderId === 3,
    );
    c.cut('frontend-b', 'order-3');
    for (const f of ['order-1', 'order-2']) {
      c.cut('order-3', f);
      c.cut(f, 'order-3');
    }
    await c.until(
      'frontend b elected a new leader',
      () => b.view().leaderId !== null && b.view().leaderId !== 3,
    );
    const newer = b.view();
    await c.until('frontend a follows it', () => c.leaderId() === newer.leaderId, 100);
    expect(c.router.view().epoch).toBe(newer.epoch);
    expect(c.replica(3).isLeader()).toBe(true);
  });
});

describe('when the leader answers one heartbeat too late (a slow link, a busy machine)', () => {
  it('the frontend keeps it: one silent beat is not a failure, a second one or a refusal is', async () => {
    const { c } = cluster3({ heartbeatIntervalMs: 100 });
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    const epoch = c.router.view().epoch;
    c.cut('frontend', 'order-3', /\/internal\/status$/, 'silent');
    await c.pass(150); // one heartbeat, unanswered
    c.heal();
    await c.pass(300);
    expect(c.router.view()).toMatchObject({ leaderId: 3, epoch });
    c.cut('frontend', 'order-3', /\/internal\/status$/, 'silent');
    await c.until('a second silent beat moves the lead', () => c.leaderId() !== 3, 1_000);
  });
});

describe('when too few replicas are left to elect anyone', () => {
  it('the frontend asks none of them to lead, burning no epoch, and elects at once when a quorum is back', async () => {
    const { c } = cluster3();
    await c.until('replica 3 leads', () => c.leaderId() === 3);
    await c.crash(2);
    await c.crash(1);
    await c.until(
      'the leader stepped down',
      () => !c.replica(3).isLeader() && c.leaderId() === null,
      5_000,
    );
    const epoch = c.replica(3).status().promisedEpoch;
    for (let i = 0; i < 20; i++)
      await c.settle(c.router.placeOrder({ name: 'Tux', quantity: 1 }).catch(() => null));
    await c.pass(2_000);
    expect(c.replica(3).status().promisedEpoch).toBe(epoch);
    await c.restart(2);
    await c.until('a leader again', () => c.leaderId() !== null, 2_000);
    expect(c.replica(c.leaderId()!).status().promisedEpoch).toBe(epoch + 1);
  });
});

/** A meta store whose next `failures` saves fail as a full disk would. */
class FullDiskMeta implements MetaStore {
  failures = 0;
  constructor(private readonly inner: MetaStore) {}
  load(): Meta {
    return this.inner.load();
  }
  async save(meta: Meta): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return this.inner.save(meta);
  }
}

describe('when a meta write fails (a full disk) as a replica promises a new epoch', () => {
  it('the replica stops instead of going on with a promise the disk may not hold, and its memory keeps the old one', async () => {
    const { c } = cluster3({ startRouter: false });
    await c.until('all three are intact', () =>
      [1, 2, 3].every((id) => c.replica(id).status().storage === 'intact'),
    );
    const disk = new FullDiskMeta(c.metas.get(1)!);
    c.metas.set(1, disk as never);
    await c.crash(1);
    await c.restart(1);
    const before = c.replica(1).status().promisedEpoch;
    disk.failures = 1;
    await expect(
      c.settle(c.replica(1).handlePromise({ epoch: before + 5, candidateId: 3 })),
    ).rejects.toThrow(/ENOSPC|durable/);
    expect(c.fatals.map((f) => f.replica)).toEqual([1]);
    expect(c.replica(1).status().promisedEpoch).toBe(before);
  });
});
