/**
 * Stories about the view change (order/view-change.ts) told with one replica and peers that are
 * scripted: what a candidate does when the log that won the comparison is not there any more.
 */
import { describe, expect, it } from 'vitest';
import type { FetchLogResponse, LogHead, OrderEntry } from '../../shared/contracts.ts';
import { ManualClock } from '../../shared/clock.ts';
import { NetworkError } from '../../shared/http.ts';
import { MemoryLogStore, signEntry } from '../../order/log.ts';
import { MemoryMetaStore } from '../../order/meta.ts';
import type { PeerTransport } from '../../order/peers.ts';
import { Replica } from '../../order/replica.ts';

function records(n: number, epoch: number): OrderEntry[] {
  const out: OrderEntry[] = [];
  let crc = 0;
  for (let i = 0; i < n; i++) {
    const e = signEntry(crc, { index: i, epoch, name: 'Tux', quantity: 1, key: `k-${i}` });
    out.push(e);
    crc = e.crc;
  }
  return out;
}

/** Replica 1 of three, its log empty; replica 2 promises with `head` and then serves `fetch`. */
function candidate(head: LogHead, fetch: () => FetchLogResponse) {
  const refused = () => Promise.reject(new NetworkError('refused', 'http://order-3'));
  const peers: PeerTransport = {
    promise: async (peer) => (peer === 2 ? { granted: true, promisedEpoch: 2, head } : refused()),
    // A healthy follower: it takes what it is sent (and answers after a macrotask, like a socket).
    append: (peer, req) =>
      peer === 2
        ? new Promise((resolve) =>
            setImmediate(() =>
              resolve({
                ok: true,
                matchIndex: req.prevIndex + req.entries.length,
                logEpoch: req.epoch,
                storage: 'intact',
              }),
            ),
          )
        : refused(),
    fetchLog: async (peer) => (peer === 2 ? fetch() : refused()),
    status: async () => refused(),
    catchup: async () => {},
  };
  const log = new MemoryLogStore([]);
  const replica = new Replica({
    id: 1,
    peerIds: [2, 3],
    log,
    meta: new MemoryMetaStore({ promisedEpoch: 1, votedFor: 3, logEpoch: 1, storage: 'intact' }),
    peers,
    catalog: { purchase: async (r) => ({ name: r.name, quantity: 100 }) },
    clock: new ManualClock(),
    heartbeatIntervalMs: 50,
    commitQuorum: 2,
  });
  return { replica, log };
}

describe('when the replica whose log won loses it before the candidate fetches it', () => {
  it('the candidate does not lead with what is left: the view change fails and its log is untouched', async () => {
    // Replica 2 promised with 5 orders of epoch 2 (some committed on 2 and 3), then its disk was
    // wiped and it restarted: it now serves an empty log. Found by the simulator (seed 20 with
    // the release rule reverted): the candidate led epoch 2 with 0 orders, committed ones lost.
    const held = records(5, 2);
    const head: LogHead = { logEpoch: 2, lastIndex: 4, lastCrc: held[4]!.crc };
    const { replica, log } = candidate(head, () => ({ prevCrc: null, entries: [], lastIndex: -1 }));
    await expect(replica.lead(3)).rejects.toMatchObject({ status: 503, reason: 'no_quorum' });
    expect(replica.isLeader()).toBe(false);
    expect(log.lastIndex()).toBe(-1);
  });

  it('with the log still there, the candidate adopts it whole and leads', async () => {
    const held = records(5, 2);
    const head: LogHead = { logEpoch: 2, lastIndex: 4, lastCrc: held[4]!.crc };
    const { replica, log } = candidate(head, () => ({
      prevCrc: null,
      entries: held,
      lastIndex: 4,
    }));
    await expect(replica.lead(3)).resolves.toMatchObject({ epoch: 3, lastIndex: 4 });
    expect(log.slice(0, 5)).toEqual(held);
    await replica.stop();
  });
});
