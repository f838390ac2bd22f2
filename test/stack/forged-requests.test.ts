/**
 * Forged internal requests (issue 13), against the whole store in one process as a secured
 * cluster (test/support/stack.ts): someone who can reach an internal port but has no cluster
 * credential sends what moved the whole cluster before. Each is refused, 401 without a
 * credential and 403 with a wrong one, and nothing changes anywhere: no log record, no epoch, no
 * fence, no stock, no ledger record, no cache entry.
 *
 * The forged append is a valid one (epoch + 1, a crc chain that continues the follower's log):
 * the last story sends it with the credential and it is taken, so only the credential refused it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FORGED_CATALOG_BODIES, forgedAppend, HUGE_EPOCH } from '../support/forgeries.ts';
import type { AppendRequest } from '../../shared/contracts.ts';
import type { HttpResponse } from '../../shared/http.ts';
import {
  CATALOG_URL,
  createStack,
  FRONTEND_INTERNAL_URL,
  STACK_SECRET,
  type Stack,
} from '../support/stack.ts';
import { replicaUrl } from '../support/order-cluster.ts';
import { formatRecord, recordsText } from '../../order/record-codec.ts';
import { signEntry } from '../../order/log.ts';

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.stopAll();
  stack = null;
});

const WRONG = 'not-the-cluster-secret-but-long-enough-to-be-one';

async function ready(): Promise<Stack> {
  const s = (stack = createStack());
  await s.until('a leader is elected', () => s.leaderId() !== null);
  for (const [name, quantity] of [
    ['Tux', 2],
    ['Lego', 1],
    ['Barbie', 3],
  ] as const)
    expect((await s.request('POST', '/orders', { name, quantity })).status).toBe(200);
  await s.converged();
  // Quiescent: every replica knows everything committed and the leader has accounted for every
  // purchase.
  await s.until(
    'the store is quiescent',
    () =>
      [1, 2, 3].every((id) => s.replica(id).status().commitIndex === s.log(id).length - 1) &&
      s.store.pending().entries.length === 0,
  );
  return s;
}

/**
 * Everything a forged request could have changed, in memory (the in-memory stores are this stack's
 * disk).
 */
function everything(s: Stack) {
  return JSON.stringify({
    logs: [1, 2, 3].map((id) => s.log(id)),
    metas: [1, 2, 3].map((id) => s.metas.get(id)!.load()),
    replicas: [1, 2, 3].map((id) => {
      const st = s.replica(id).status();
      return {
        role: st.role,
        promisedEpoch: st.promisedEpoch,
        leaderEpoch: st.leaderEpoch,
        leaderId: st.leaderId,
        head: st.head,
        commitIndex: st.commitIndex,
      };
    }),
    stock: s.store.list(),
    pending: s.store.pending(),
    ledger: s.store.ledger(0, 10_000),
    cached: s.cache.keys(),
  });
}

/** The forged append: the follower's next record, in a newer epoch, chained to its last one. */
function forgedAppendTo(s: Stack, follower: number): AppendRequest {
  const log = s.log(follower);
  const epoch = s.replica(follower).status().promisedEpoch + 1;
  return forgedAppend(log[log.length - 1]!, epoch, s.leaderId()!);
}

/** The same append with its records as the log's own text, as a leader sends a catch-up page. */
function asRecords(req: AppendRequest, text = recordsText(req.entries)): AppendRequest {
  return { ...req, entries: [], records: text };
}

/**
 * Sends a request straight onto the network, as a stranger would: no credential, or
 * `authorization`.
 */
async function forge(
  s: Stack,
  method: 'GET' | 'POST',
  url: string,
  body: unknown,
  authorization?: string,
): Promise<HttpResponse> {
  return s.net.http({
    method,
    url,
    body,
    headers: authorization === undefined ? {} : { authorization },
  });
}

describe('a stranger who reaches an internal port', () => {
  it("cannot append 10,000 Barbies to a follower's log, lead, fence, promise, buy, reconcile or drop the cache: 401 without a credential, 403 with a wrong one, nothing changed", async () => {
    const s = await ready();
    const leader = s.leaderId()!;
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    expect((await s.request('GET', '/products/Tux')).status).toBe(200); // cached now
    const before = everything(s);
    const huge = HUGE_EPOCH;
    const forged: Array<[string, 'GET' | 'POST', string, unknown]> = [
      [
        'append to a follower',
        'POST',
        `${replicaUrl(follower)}/internal/append`,
        forgedAppendTo(s, follower),
      ],
      [
        'append to a follower as records',
        'POST',
        `${replicaUrl(follower)}/internal/append`,
        asRecords(forgedAppendTo(s, follower)),
      ],
      ['lead with a big epoch', 'POST', `${replicaUrl(follower)}/internal/lead`, { epoch: huge }],
      [
        'promise a big epoch',
        'POST',
        `${replicaUrl(leader)}/internal/promise`,
        { epoch: huge, candidateId: follower },
      ],
      [
        'announce a leader',
        'POST',
        `${replicaUrl(leader)}/internal/leader`,
        { epoch: huge, leaderId: follower },
      ],
      [
        'order at the leader',
        'POST',
        `${replicaUrl(leader)}/orders`,
        {
          name: 'Lego',
          quantity: 100,
          key: 'forged-order',
          epoch: s.replica(leader).status().leaderEpoch,
        },
      ],
      [
        'fence the catalog with a big epoch',
        'POST',
        `${CATALOG_URL}/internal/fence`,
        FORGED_CATALOG_BODIES.fence,
      ],
      ['buy 100 Lego', 'POST', `${CATALOG_URL}/purchases`, FORGED_CATALOG_BODIES.purchase],
      [
        'mark the purchase committed',
        'POST',
        `${CATALOG_URL}/internal/reconcile`,
        FORGED_CATALOG_BODIES.reconcile,
      ],
      [
        'push a change notice that empties the cache',
        'POST',
        `${FRONTEND_INTERNAL_URL}/internal/changes`,
        { seq: 1_000, sinceSeq: 999, names: ['Tux'] },
      ],
      [
        'drop a toy from the cache',
        'POST',
        `${FRONTEND_INTERNAL_URL}/internal/invalidate`,
        { name: 'Tux' },
      ],
      ["read a replica's log", 'GET', `${replicaUrl(follower)}/internal/log?from=0`, undefined],
      ['read the ledger', 'GET', `${CATALOG_URL}/internal/ledger`, undefined],
    ];
    for (const [what, method, url, body] of forged) {
      const missing = await forge(s, method, url, body);
      expect(missing.status, `${what}, no credential`).toBe(401);
      expect(missing.headers['www-authenticate'], what).toBe('Bearer realm="toystore-cluster"');
      expect(missing.body, what).toMatchObject({ error: { code: 401, reason: 'unauthenticated' } });
      const wrong = await forge(s, method, url, body, `Bearer ${WRONG}`);
      expect(wrong.status, `${what}, wrong credential`).toBe(403);
      expect(wrong.body, what).toMatchObject({ error: { code: 403, reason: 'forbidden' } });
      expect(everything(s), `${what} changed nothing`).toBe(before);
    }
    // The store still works, with the same leader and epoch.
    await s.pass(100);
    expect(everything(s)).toBe(before);
    expect((await s.request('POST', '/orders', { name: 'Tux', quantity: 1 })).body).toEqual({
      data: { order_number: 3 },
    });
  });

  it('the forged append was a valid one: with the credential the follower takes it (so the credential alone stood in the way)', async () => {
    const s = await ready();
    s.router.stop(); // no heartbeat from the real leader may race the forged epoch
    const follower = [1, 2, 3].find((id) => id !== s.leaderId())!;
    const req = forgedAppendTo(s, follower);
    const taken = await forge(
      s,
      'POST',
      `${replicaUrl(follower)}/internal/append`,
      req,
      `Bearer ${STACK_SECRET}`,
    );
    expect(taken.status).toBe(200);
    expect(taken.body).toMatchObject({ data: { ok: true, matchIndex: req.entries[0]!.index } });
    expect(s.log(follower).at(-1)).toMatchObject({
      name: 'Barbie',
      quantity: 10_000,
      key: 'forged-barbies',
    });
  });

  it('with the credential, an append whose records are not whole, sound records continuing the log is a 400 and changes nothing', async () => {
    const s = await ready();
    s.router.stop(); // no heartbeat from the real leader may race the forged epoch
    const follower = [1, 2, 3].find((id) => id !== s.leaderId())!;
    const req = forgedAppendTo(s, follower);
    const [e] = req.entries;
    const text = recordsText(req.entries);
    const quoted = `${e!.index},${e!.epoch},"${e!.name}",${e!.quantity},${e!.key},${e!.crc}\n`;
    const forgeries: Array<[string, AppendRequest]> = [
      ['entries and records both', { ...asRecords(req), entries: req.entries }],
      ['a torn last record', asRecords(req, text.slice(0, -1))],
      ['a broken chain', asRecords({ ...req, prevCrc: (req.prevCrc + 1) >>> 0 })],
      ['out of sequence', asRecords({ ...req, prevIndex: req.prevIndex - 1 })],
      [
        'a field out of bounds',
        asRecords(req, formatRecord(signEntry(req.prevCrc, { ...e!, quantity: 0 }))),
      ],
      ['quoted where the log would not quote', asRecords(req, quoted)],
      ['not CSV at all', asRecords(req, '{"name":"Barbie"}\n')],
    ];
    const before = everything(s);
    for (const [what, body] of forgeries) {
      const res = await forge(
        s,
        'POST',
        `${replicaUrl(follower)}/internal/append`,
        body,
        `Bearer ${STACK_SECRET}`,
      );
      expect(res.status, what).toBe(400);
      expect(res.body, what).toMatchObject({ error: { code: 400, reason: 'bad_request' } });
    }
    expect(everything(s)).toBe(before);
    // The same append as sound records is taken: only what was wrong with each refused it.
    const taken = await forge(
      s,
      'POST',
      `${replicaUrl(follower)}/internal/append`,
      asRecords(req),
      `Bearer ${STACK_SECRET}`,
    );
    expect(taken.status).toBe(200);
    expect(s.log(follower).at(-1)).toEqual(e);
  });

  it('the public API and every probe stay open: /health, /ready and /metrics need no credential', async () => {
    const s = await ready();
    expect((await forge(s, 'GET', `${replicaUrl(1)}/health`, undefined)).status).toBe(200);
    expect((await forge(s, 'GET', `${CATALOG_URL}/health`, undefined)).status).toBe(200);
    expect((await s.request('GET', '/products/Lego')).status).toBe(200);
    expect((await s.request('GET', '/health')).status).toBe(200);
  });
});
