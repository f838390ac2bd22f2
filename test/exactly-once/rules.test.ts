/**
 * Exactly-once orders, one rule per test, on the whole store in one process: the same
 * Idempotency-Key and body always get the same outcome, through retries, concurrent duplicates,
 * failovers and frontend restarts; and stock is conserved when a leader dies between the
 * catalog's decrement and the commit. On logical time (a ManualClock): every heartbeat, timeout
 * and retry fires only as a story lets time pass, so each is deterministic and takes no real time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { checkConvergedCluster } from '../../scripts/lib/invariants/index.ts';
import { ManualClock } from '../../shared/clock.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { createOrderCluster, type OrderCluster } from '../support/order-cluster.ts';

let stack: Stack | null = null;
let cluster: OrderCluster | null = null;
afterEach(async () => {
  await stack?.stopAll();
  await cluster?.stop();
  stack = null;
  cluster = null;
});

async function ready(opts: Parameters<typeof createStack>[0] = {}): Promise<Stack> {
  const s = (stack = createStack({ clock: new ManualClock(), ...opts }));
  await s.until('a leader is elected', () => s.leaderId() !== null);
  return s;
}

const order = (s: Stack, body: unknown, key?: string) =>
  s.request('POST', '/orders', body, key ? { 'idempotency-key': key } : {});
const stock = (s: Stack, name: string) => s.store.get(name)?.quantity;
const logsOf = (s: Stack) => new Map([1, 2, 3].map((id) => [`order-${id}`, s.log(id)]));

describe('Idempotency-Key', () => {
  it('same key, same body → same order number, one decrement, and the replay says so', async () => {
    const s = await ready();
    const first = await order(s, { name: 'Tux', quantity: 2 }, 'key-1');
    const again = await order(s, { name: 'Tux', quantity: 2 }, 'key-1');
    expect(first.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(stock(s, 'Tux')).toBe(98);
    expect(s.log(3)).toHaveLength(1);
  });

  it('same key, different body → 422 and nothing changes', async () => {
    const s = await ready();
    await order(s, { name: 'Tux', quantity: 2 }, 'key-1');
    const res = await order(s, { name: 'Tux', quantity: 3 }, 'key-1');
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe(422);
    expect(stock(s, 'Tux')).toBe(98);
    expect(s.log(3)).toHaveLength(1);
  });

  it('concurrent duplicates of one key → one order, one decrement, all get its number', async () => {
    const s = await ready();
    const results = await s.settle(
      Promise.all(Array.from({ length: 8 }, () => order(s, { name: 'Lego', quantity: 3 }, 'dup'))),
    );
    expect(new Set(results.map((r) => r.status))).toEqual(new Set([200]));
    expect(new Set(results.map((r) => r.body.data.order_number))).toEqual(new Set([0]));
    expect(stock(s, 'Lego')).toBe(97);
  });

  it('requests without a key still work, once each', async () => {
    const s = await ready();
    await order(s, { name: 'Tux', quantity: 1 });
    await order(s, { name: 'Tux', quantity: 1 });
    expect(s.log(3).map((e) => e.index)).toEqual([0, 1]);
    expect(stock(s, 'Tux')).toBe(98);
  });

  it('a malformed key → 400 before anything happens', async () => {
    const s = await ready();
    for (const key of ['x'.repeat(256), 'caf\u00e9', 'tab\tinside']) {
      const res = await order(s, { name: 'Tux', quantity: 1 }, key);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(400);
    }
    expect(stock(s, 'Tux')).toBe(100);
  });

  it('a key refused for lack of stock gets the same 409 after a restock', async () => {
    const s = await ready();
    await order(s, { name: 'Slinky', quantity: 100 }, 'all');
    const refused = await order(s, { name: 'Slinky', quantity: 1 }, 'late');
    expect(refused.status).toBe(409);
    await s.settle(s.store.restockEmpty());
    const again = await order(s, { name: 'Slinky', quantity: 1 }, 'late');
    expect(again.status).toBe(409);
    expect(again.body.error.message).toBe(refused.body.error.message);
    expect(stock(s, 'Slinky')).toBe(100);
  });

  it('same key after the leader that took it dies → same order number from the new leader', async () => {
    const s = await ready();
    const first = await order(s, { name: 'Barbie', quantity: 1 }, 'k');
    await s.crash(3);
    const again = await order(s, { name: 'Barbie', quantity: 1 }, 'k');
    expect(again.body).toEqual(first.body);
    expect(s.leaderId()).toBe(2);
    expect(stock(s, 'Barbie')).toBe(99);
  });

  it('same key after a frontend restart → same order number (the dedup record is in the replicated log)', async () => {
    const s = await ready();
    const first = await order(s, { name: 'Monopoly', quantity: 4 }, 'k');
    const fresh = s.restartFrontend();
    const res = await s.settle(
      Promise.resolve(
        fresh.request('/orders', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': 'k' },
          body: JSON.stringify({ name: 'Monopoly', quantity: 4 }),
        }),
      ),
    );
    expect(await res.json()).toEqual(first.body);
    expect(stock(s, 'Monopoly')).toBe(96);
  });
});

describe('stock conservation', () => {
  it('a leader that dies between the decrement and the commit: the next leader releases the stock', async () => {
    const s = await ready();
    await order(s, { name: 'Scrabble', quantity: 1 }, 'ok');
    // Cut the leader off from its followers: its next order is decremented and logged locally only.
    s.setLink(1, 'blackhole');
    s.setLink(2, 'blackhole');
    const epoch = s.replica(3).status().leaderEpoch!;
    const stranded = s
      .replica(3)
      .placeOrder({ name: 'Scrabble', quantity: 5, key: 'stranded', epoch })
      .catch((e) => e);
    await s.until('the stranded purchase took stock', () => stock(s, 'Scrabble') === 94);
    await s.crash(3);
    s.setLink(1, 'up');
    s.setLink(2, 'up');
    await s.settle(stranded);
    // The client gave up on 'stranded'. The new leader accounts for it: never committed, released.
    await order(s, { name: 'Tux', quantity: 1 }, 'after');
    await s.until('the stranded decrement is released', () => stock(s, 'Scrabble') === 99);
    await s.until('every purchase is accounted for', () => s.store.pending().entries.length === 0);
    const kinds = s.store
      .ledger(0, 100)
      .entries.filter((e) => e.key === 'stranded')
      .map((e) => e.kind);
    expect(kinds).toEqual(['purchase', 'release']);
    await s.restart(3);
    await s.converged();
    expect(s.log(3).some((e) => e.key === 'stranded')).toBe(false);
    expect(checkConvergedCluster(logsOf(s), [])).toEqual([]);
  });

  it('every committed order has exactly one net decrement, and the ledger adds up to the stock', async () => {
    const s = await ready();
    await s.settle(
      Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          order(s, { name: 'Hot Wheels', quantity: 1 + (i % 3) }, `k${i % 20}`),
        ),
      ),
    );
    await s.until('every purchase is accounted for', () => s.store.pending().entries.length === 0);
    const ledger = s.store.ledger(0, 1000).entries.filter((e) => e.name === 'Hot Wheels');
    const net = ledger.reduce((sum, e) => sum + e.delta, 0);
    const ordered = s
      .log(3)
      .filter((e) => e.name === 'Hot Wheels')
      .reduce((sum, e) => sum + e.quantity, 0);
    expect(-net).toBe(ordered);
    expect(stock(s, 'Hot Wheels')).toBe(100 - ordered);
    expect(s.log(3)).toHaveLength(20);
  });

  it('a deposed leader is fenced at the catalog: its late purchase is refused', async () => {
    const s = await ready();
    await order(s, { name: 'Tux', quantity: 1 }, 'a');
    const oldEpoch = s.replica(3).status().leaderEpoch!;
    s.setLink(3, 'blackhole'); // paused
    await order(s, { name: 'Tux', quantity: 1 }, 'b'); // the frontend fails over to replica 2
    expect(s.leaderId()).toBe(2);
    const late = await s.settle(
      s
        .replica(3)
        .placeOrder({ name: 'Tux', quantity: 7, key: 'late', epoch: oldEpoch })
        .catch((e) => e),
    );
    expect(late.status).not.toBe(200);
    expect(stock(s, 'Tux')).toBe(98);
  });
});

describe('duplicates in flight', () => {
  it('a duplicate waits for the first and gets its number; past the bound it gets 409', async () => {
    const c = (cluster = createOrderCluster({ startRouter: false, clock: new ManualClock() }));
    await c.settle(c.replica(3).lead(1));
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    c.catalog.before = () => gate;
    const first = c.replica(3).order({ name: 'Tux', quantity: 1, key: 'k', epoch: 1 });
    const waiting = c
      .replica(3)
      .order({ name: 'Tux', quantity: 1, key: 'k', epoch: 1 })
      .catch((e) => e);
    // the 1 s bound passed
    expect(await c.settle(waiting)).toMatchObject({ status: 409, reason: 'request_in_progress' });
    const patient = c.replica(3).order({ name: 'Tux', quantity: 1, key: 'k', epoch: 1 });
    release();
    expect(await c.settle(first)).toEqual({ orderNumber: 0, replayed: false });
    expect(await c.settle(patient)).toEqual({ orderNumber: 0, replayed: true });
    expect(c.catalog.quantity('Tux')).toBe(1_000_000 - 1);
  });
});
