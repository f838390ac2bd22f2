/**
 * The pure replication and election decisions (order/core.ts): promises, picking the most
 * up-to-date log, what a follower does with an append, and the leader's bookkeeping.
 */
import { describe, expect, it } from 'vitest';
import type { AppendRequest, LogHead, OrderEntry } from '../../shared/contracts.ts';
import {
  CommittedTruncationError,
  commitIndexFor,
  compareHeads,
  decideAppend,
  decidePromise,
  initialProgress,
  MAX_APPENDS_IN_FLIGHT,
  maySendAppend,
  onAppendSent,
  rewindTo,
  mostUpToDate,
  onAppendAccepted,
  onAppendMismatch,
  quorumSize,
  type AppendDecision,
} from '../../order/core.ts';
import { MemoryLogStore, signEntry } from '../../order/log.ts';
import type { Meta } from '../../order/meta.ts';

/**
 * `n` records continuing (startIndex - 1, prevCrc); `tag` makes records from different leaders
 * differ.
 */
function records(
  n: number,
  opts: { startIndex?: number; prevCrc?: number; epoch?: number; tag?: string } = {},
): OrderEntry[] {
  const out: OrderEntry[] = [];
  let crc = opts.prevCrc ?? 0;
  const start = opts.startIndex ?? 0;
  for (let i = 0; i < n; i++) {
    const index = start + i;
    const e = signEntry(crc, {
      index,
      epoch: opts.epoch ?? 1,
      name: 'Tux',
      quantity: 1,
      key: `${opts.tag ?? 'a'}-${index}`,
    });
    out.push(e);
    crc = e.crc;
  }
  return out;
}

const meta = (m: Partial<Meta> = {}): Meta => ({
  promisedEpoch: 2,
  votedFor: 3,
  logEpoch: 1,
  storage: 'intact',
  ...m,
});

/**
 * An append from leader 3 in epoch 2 carrying `entries` after prevIndex, by default with nothing
 * else pending.
 */
function req(
  leaderLog: readonly OrderEntry[],
  prevIndex: number,
  count: number,
  r: Partial<AppendRequest> = {},
): AppendRequest {
  const entries = leaderLog.slice(prevIndex + 1, prevIndex + 1 + count);
  return {
    epoch: 2,
    leaderId: 3,
    prevIndex,
    prevCrc: prevIndex === -1 ? 0 : leaderLog[prevIndex]!.crc,
    entries,
    commitIndex: -1,
    viewStartIndex: -1,
    leaderLastIndex: leaderLog.length - 1,
    established: true,
    ...r,
  };
}

function accepted(d: AppendDecision): Extract<AppendDecision, { kind: 'accept' }> {
  expect(d.kind).toBe('accept');
  return d as Extract<AppendDecision, { kind: 'accept' }>;
}

describe('quorumSize', () => {
  it('is a strict majority', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(quorumSize)).toEqual([1, 2, 2, 3, 3, 4, 4]);
  });
});

describe('decidePromise', () => {
  it('grants a newer epoch and records the candidate', () => {
    const m = meta({ promisedEpoch: 2, votedFor: 3, logEpoch: 1 });
    expect(decidePromise(m, 3, 2)).toEqual({
      grant: true,
      meta: { promisedEpoch: 3, votedFor: 2, logEpoch: 1, storage: 'intact' },
      changed: true,
    });
    expect(m).toEqual({ promisedEpoch: 2, votedFor: 3, logEpoch: 1, storage: 'intact' });
  });

  it('re-grants the same epoch to the same candidate without change', () => {
    const m = meta({ promisedEpoch: 4, votedFor: 2 });
    expect(decidePromise(m, 4, 2)).toEqual({ grant: true, meta: m, changed: false });
  });

  it('refuses the same epoch to another candidate', () => {
    expect(decidePromise(meta({ promisedEpoch: 4, votedFor: 2 }), 4, 3)).toEqual({
      grant: false,
      promisedEpoch: 4,
    });
  });

  it('refuses the same epoch when it was reached without a vote (votedFor null)', () => {
    expect(decidePromise(meta({ promisedEpoch: 4, votedFor: null }), 4, 3)).toEqual({
      grant: false,
      promisedEpoch: 4,
    });
  });

  it('refuses an older epoch, even to the candidate it once voted for', () => {
    expect(decidePromise(meta({ promisedEpoch: 4, votedFor: 2 }), 3, 2)).toEqual({
      grant: false,
      promisedEpoch: 4,
    });
    expect(decidePromise(meta({ promisedEpoch: 4, votedFor: 2 }), 3, 1)).toEqual({
      grant: false,
      promisedEpoch: 4,
    });
  });
});

describe('compareHeads and mostUpToDate', () => {
  const head = (logEpoch: number, lastIndex: number): LogHead => ({
    logEpoch,
    lastIndex,
    lastCrc: 0,
  });

  it('a higher logEpoch wins over a longer log', () => {
    expect(compareHeads(head(3, 1), head(2, 50))).toBeGreaterThan(0);
    expect(compareHeads(head(2, 50), head(3, 1))).toBeLessThan(0);
    const best = mostUpToDate([
      { id: 1, head: head(2, 50) },
      { id: 2, head: head(3, 1) },
      { id: 3, head: head(1, 99) },
    ]);
    expect(best.id).toBe(2);
  });

  it('with the same logEpoch, the longer log wins', () => {
    expect(compareHeads(head(2, 7), head(2, 5))).toBeGreaterThan(0);
    expect(compareHeads(head(2, 5), head(2, 7))).toBeLessThan(0);
    expect(
      mostUpToDate([
        { id: 1, head: head(2, 5) },
        { id: 2, head: head(2, 7) },
        { id: 3, head: head(2, 6) },
      ]).id,
    ).toBe(2);
  });

  it('ties keep the first', () => {
    expect(compareHeads(head(2, 5), head(2, 5))).toBe(0);
    expect(
      mostUpToDate([
        { id: 3, head: head(2, 5) },
        { id: 1, head: head(2, 5) },
        { id: 2, head: head(1, 9) },
      ]).id,
    ).toBe(3);
    expect(
      mostUpToDate([
        { id: 2, head: head(1, 3) },
        { id: 3, head: head(2, 5) },
        { id: 1, head: head(2, 5) },
      ]).id,
    ).toBe(3);
  });
});

describe('decideAppend', () => {
  const leader = records(6, { epoch: 2, tag: 'L' });

  it('an older epoch is stale', () => {
    const log = new MemoryLogStore(leader.slice(0, 2));
    expect(
      decideAppend(meta({ promisedEpoch: 3 }), log, -1, req(leader, 1, 1, { epoch: 2 })),
    ).toEqual({ kind: 'stale', promisedEpoch: 3 });
  });

  it('appends from the leader of an epoch promised to another candidate are accepted (that leader had a quorum without us)', () => {
    // The simulator found the old rule stranding a replica whose own failed view change had
    // promised the epoch to itself: it refused the real leader of that epoch forever.
    const log = new MemoryLogStore(leader.slice(0, 2));
    const d = decideAppend(
      meta({ promisedEpoch: 2, votedFor: 1 }),
      log,
      -1,
      req(leader, 1, 1, { leaderId: 3 }),
    );
    expect(d.kind).toBe('accept');
  });

  it('entries with a broken chain are invalid', () => {
    const log = new MemoryLogStore(leader.slice(0, 2));
    const broken = leader.slice(2, 4).map((e) => ({ ...e }));
    broken[1]!.crc = (broken[1]!.crc + 1) >>> 0;
    expect(decideAppend(meta(), log, -1, { ...req(leader, 1, 0), entries: broken }).kind).toBe(
      'invalid',
    );
    // Entries out of index sequence are invalid too.
    expect(
      decideAppend(meta(), log, -1, { ...req(leader, 1, 0), entries: [leader[3]!] }).kind,
    ).toBe('invalid');
  });

  it('prevIndex past the end is a mismatch that reports the follower lastIndex', () => {
    const log = new MemoryLogStore(leader.slice(0, 2));
    const d = decideAppend(meta(), log, -1, req(leader, 3, 1));
    expect(d).toMatchObject({ kind: 'mismatch', lastIndex: 1 });
  });

  it('a different crc at prevIndex is a mismatch pointing before prevIndex', () => {
    const other = records(4, { epoch: 1, tag: 'X' });
    const log = new MemoryLogStore(other);
    const d = decideAppend(meta(), log, -1, req(leader, 2, 1));
    expect(d).toMatchObject({ kind: 'mismatch', lastIndex: 1 });
  });

  it('a mismatch from a newer epoch still carries the new promise', () => {
    const log = new MemoryLogStore(leader.slice(0, 1));
    const d = decideAppend(
      meta({ promisedEpoch: 1, votedFor: 2, logEpoch: 1 }),
      log,
      -1,
      req(leader, 3, 1, { epoch: 2, leaderId: 3 }),
    );
    expect(d).toEqual({
      kind: 'mismatch',
      lastIndex: 0,
      meta: { promisedEpoch: 2, votedFor: 3, logEpoch: 1, storage: 'intact' },
    });
  });

  it('entries already held are skipped: nothing to cut, nothing to append', () => {
    const log = new MemoryLogStore(leader.slice(0, 5));
    const d = accepted(decideAppend(meta(), log, -1, req(leader, 1, 3, { leaderLastIndex: 4 })));
    expect(d.truncateFrom).toBeNull();
    expect(d.append).toEqual([]);
    expect(d.matchIndex).toBe(4);
  });

  it('only the entries past the follower end are appended', () => {
    const log = new MemoryLogStore(leader.slice(0, 3));
    const d = accepted(decideAppend(meta(), log, -1, req(leader, 0, 5)));
    expect(d.truncateFrom).toBeNull();
    expect(d.append).toEqual(leader.slice(3, 6));
    expect(d.matchIndex).toBe(5);
  });

  it('a conflicting entry cuts the log at the conflict and appends the rest', () => {
    // Follower holds 0..1 from the leader, then 2..4 from an older leader that never committed
    // them.
    const follower = [
      ...leader.slice(0, 2),
      ...records(3, { startIndex: 2, prevCrc: leader[1]!.crc, epoch: 1, tag: 'old' }),
    ];
    const log = new MemoryLogStore(follower);
    const d = accepted(decideAppend(meta(), log, 1, req(leader, 0, 4, { leaderLastIndex: 5 })));
    expect(d.truncateFrom).toBe(2);
    expect(d.append).toEqual(leader.slice(2, 5));
    expect(d.matchIndex).toBe(4);
  });

  it('a follower not yet synced in this epoch drops records past the leader last index and claims logEpoch', () => {
    const follower = [
      ...leader.slice(0, 3),
      ...records(2, { startIndex: 3, prevCrc: leader[2]!.crc, epoch: 1, tag: 'old' }),
    ];
    const log = new MemoryLogStore(follower);
    // The leader holds only 0..2; it sends a heartbeat at its end.
    const d = accepted(
      decideAppend(
        meta({ logEpoch: 1 }),
        log,
        -1,
        req(leader.slice(0, 3), 2, 0, { viewStartIndex: 2 }),
      ),
    );
    expect(d.truncateFrom).toBe(3);
    expect(d.append).toEqual([]);
    expect(d.matchIndex).toBe(2);
    expect(d.meta.logEpoch).toBe(2);
  });

  it('a follower not yet synced keeps records past matchIndex when the leader holds more (a partial batch)', () => {
    const log = new MemoryLogStore(leader.slice(0, 5));
    const d = accepted(
      decideAppend(meta({ logEpoch: 1 }), log, -1, req(leader, 0, 2, { leaderLastIndex: 5 })),
    );
    expect(d.truncateFrom).toBeNull();
    // Its log past 2 is not known to equal the leader's yet: no logEpoch claim.
    expect(d.meta.logEpoch).toBe(1);
  });

  it('a follower already synced in this epoch does not cut its suffix on a late message', () => {
    const log = new MemoryLogStore(leader.slice(0, 5));
    // A delayed message from when the leader's last index was 2.
    const late = req(leader, 1, 1, { leaderLastIndex: 2, viewStartIndex: 0 });
    const d = accepted(decideAppend(meta({ logEpoch: 2 }), log, -1, late));
    expect(d.truncateFrom).toBeNull();
    expect(d.append).toEqual([]);
    expect(d.matchIndex).toBe(2);
    expect(d.meta.logEpoch).toBe(2);
  });

  it('a follower not synced (recovering, logEpoch 0) keeps the records this leader wrote when a late message says the leader held less', () => {
    // Found by the simulator (seeds 1856, 2141, 2749): the cut records were committed, and the
    // only other replica holding them had lost its disk.
    const log = new MemoryLogStore(leader.slice(0, 5));
    const late = req(leader, 1, 1, { leaderLastIndex: 2, viewStartIndex: 0 });
    const d = accepted(decideAppend(meta({ logEpoch: 0 }), log, -1, late));
    expect(d.truncateFrom).toBeNull();
    expect(d.matchIndex).toBe(2);
  });

  it('logEpoch is claimed only when matchIndex reaches viewStartIndex', () => {
    const log = new MemoryLogStore([]);
    const short = accepted(
      decideAppend(meta({ logEpoch: 1 }), log, -1, req(leader, -1, 3, { viewStartIndex: 4 })),
    );
    expect(short.matchIndex).toBe(2);
    expect(short.meta.logEpoch).toBe(1);

    const log2 = new MemoryLogStore(leader.slice(0, 3));
    const full = accepted(
      decideAppend(meta({ logEpoch: 1 }), log2, -1, req(leader, 2, 2, { viewStartIndex: 4 })),
    );
    expect(full.matchIndex).toBe(4);
    expect(full.meta.logEpoch).toBe(2);
  });

  it('a newer epoch is promised to the leader that sent it', () => {
    const log = new MemoryLogStore(leader.slice(0, 2));
    const d = accepted(
      decideAppend(
        meta({ promisedEpoch: 1, votedFor: 1, logEpoch: 1 }),
        log,
        -1,
        req(leader, 1, 1, { epoch: 2, leaderId: 3 }),
      ),
    );
    expect(d.meta.promisedEpoch).toBe(2);
    expect(d.meta.votedFor).toBe(3);
  });

  it('cutting a conflicting record at or below knownCommitIndex throws CommittedTruncationError', () => {
    const follower = [
      ...leader.slice(0, 2),
      ...records(3, { startIndex: 2, prevCrc: leader[1]!.crc, epoch: 1, tag: 'old' }),
    ];
    expect(() => decideAppend(meta(), new MemoryLogStore(follower), 2, req(leader, 1, 3))).toThrow(
      CommittedTruncationError,
    );
    expect(() => decideAppend(meta(), new MemoryLogStore(follower), 3, req(leader, 1, 3))).toThrow(
      CommittedTruncationError,
    );
    // Just below the conflict is fine.
    expect(
      accepted(decideAppend(meta(), new MemoryLogStore(follower), 1, req(leader, 1, 3)))
        .truncateFrom,
    ).toBe(2);
  });

  it('cutting a suffix past the leader end at or below knownCommitIndex throws CommittedTruncationError', () => {
    // Records 3..4 of an older epoch past the leader's end would be cut; the follower believes 3
    // committed.
    const log = new MemoryLogStore([
      ...leader.slice(0, 3),
      ...records(2, { startIndex: 3, prevCrc: leader[2]!.crc, epoch: 1, tag: 'old' }),
    ]);
    expect(() =>
      decideAppend(meta({ logEpoch: 1 }), log, 3, req(leader.slice(0, 3), 2, 0)),
    ).toThrow(CommittedTruncationError);
  });

  it('knownCommitIndex advances to min(commitIndex, matchIndex) and never goes back', () => {
    const log = new MemoryLogStore(leader.slice(0, 2));
    expect(
      accepted(decideAppend(meta(), log, -1, req(leader, 1, 1, { commitIndex: 5 })))
        .knownCommitIndex,
    ).toBe(2);
    expect(
      accepted(decideAppend(meta(), log, -1, req(leader, 1, 1, { commitIndex: 1 })))
        .knownCommitIndex,
    ).toBe(1);
    expect(
      accepted(decideAppend(meta(), log, 1, req(leader, 0, 0, { commitIndex: 5 })))
        .knownCommitIndex,
    ).toBe(1);
  });

  it('does not change the log it reads', () => {
    const follower = [
      ...leader.slice(0, 2),
      ...records(3, { startIndex: 2, prevCrc: leader[1]!.crc, epoch: 1, tag: 'old' }),
    ];
    const log = new MemoryLogStore(follower);
    decideAppend(meta(), log, -1, req(leader, 1, 3));
    expect(log.entries).toEqual(follower);
  });
});

describe('leader bookkeeping', () => {
  it('initialProgress starts just past the leader end with no match, probing', () => {
    expect(initialProgress(9)).toEqual({
      nextIndex: 10,
      matchIndex: -1,
      backoff: 1,
      mode: 'probe',
      rewoundAtSend: 0,
    });
    expect(maySendAppend(initialProgress(9), 0, 1, 100)).toBe(true);
    expect(maySendAppend(initialProgress(9), 1, 500, 100)).toBe(false);
  });

  it('onAppendMismatch backs off in doubling steps from where the append started, never below 0', () => {
    let p = initialProgress(9); // nextIndex 10
    const seen: number[] = [];
    for (let send = 1; send <= 5; send++) {
      p = onAppendMismatch(p, p.nextIndex, 100, send, send);
      seen.push(p.nextIndex);
    }
    expect(seen).toEqual([9, 7, 3, 0, 0]);
    expect(p.backoff).toBe(32);
  });

  it('onAppendMismatch jumps straight to just past a shorter follower log', () => {
    const p = onAppendMismatch(initialProgress(20), 21, 4, 1, 1);
    expect(p.nextIndex).toBe(5);
    expect(onAppendMismatch(initialProgress(20), 21, -1, 1, 1).nextIndex).toBe(0);
  });

  it('onAppendAccepted moves matchIndex only when the acknowledgement counts', () => {
    const start = { ...initialProgress(2), matchIndex: 1, backoff: 8 };
    expect(onAppendAccepted(start, 6, false, 1)).toEqual({
      nextIndex: 7,
      matchIndex: 1,
      backoff: 1,
      mode: 'pipeline',
      rewoundAtSend: 0,
    });
    expect(onAppendAccepted(start, 6, true, 1)).toMatchObject({ nextIndex: 7, matchIndex: 6 });
  });

  it('onAppendAccepted never moves matchIndex back on a late, smaller acknowledgement', () => {
    const p = { ...initialProgress(8), matchIndex: 8 };
    expect(onAppendAccepted(p, 4, true, 1).matchIndex).toBe(8);
  });

  it('pipelined appends: each continues the last one sent, and a late acceptance never moves nextIndex back', () => {
    let p = onAppendAccepted(initialProgress(9), 9, true, 1); // probe accepted: pipeline
    expect(p.mode).toBe('pipeline');
    // Beside appends in flight, only full pages (a follower catching up), and a bounded number.
    expect(maySendAppend(p, 1, 100, 100)).toBe(true);
    expect(maySendAppend(p, 1, 99, 100)).toBe(false);
    expect(maySendAppend(p, MAX_APPENDS_IN_FLIGHT - 1, 500, 100)).toBe(true);
    expect(maySendAppend(p, MAX_APPENDS_IN_FLIGHT, 500, 100)).toBe(false);
    p = onAppendSent(p, 9, 5); // send 2: 10..14
    p = onAppendSent(p, 14, 5); // send 3: 15..19
    expect(p.nextIndex).toBe(20);
    p = onAppendAccepted(p, 14, true, 2);
    expect(p).toMatchObject({ nextIndex: 20, matchIndex: 14, mode: 'pipeline' });
    p = onAppendAccepted(p, 19, true, 3);
    expect(p).toMatchObject({ nextIndex: 20, matchIndex: 19 });
  });

  it('when a pipelined append overtakes the one before it, the leader rewinds once, probes, and ignores the mismatches of appends sent before the rewind', () => {
    let p = onAppendAccepted(initialProgress(9), 9, true, 1);
    p = onAppendSent(p, 9, 5); // send 2: 10..14
    p = onAppendSent(p, 14, 5); // send 3: 15..19
    p = onAppendSent(p, 19, 5); // send 4: 20..24
    // Send 3 arrived first: the follower's log ends at 9.
    p = onAppendMismatch(p, 15, 9, 3, 4);
    expect(p).toMatchObject({ nextIndex: 10, mode: 'probe', rewoundAtSend: 4, backoff: 2 });
    expect(maySendAppend(p, 1, 500, 100)).toBe(false);
    // Send 4 was refused for the same reason: not acted on again.
    expect(onAppendMismatch(p, 20, 9, 4, 4)).toBe(p);
    // Send 2 is accepted after all: the follower holds up to 14, but the leader keeps probing.
    p = onAppendAccepted(p, 14, true, 2);
    expect(p).toMatchObject({ nextIndex: 15, matchIndex: 14, mode: 'probe' });
    // The probe sent after the rewind is accepted: pipeline again.
    p = onAppendSent(p, 14, 10); // send 5
    p = onAppendAccepted(p, 24, true, 5);
    expect(p).toMatchObject({ nextIndex: 25, matchIndex: 24, mode: 'pipeline', backoff: 1 });
  });

  it('rewindTo probes again from an earlier index, never from a later one', () => {
    const p = onAppendSent(onAppendAccepted(initialProgress(9), 9, true, 1), 9, 5);
    expect(rewindTo(p, 10, 2)).toMatchObject({ nextIndex: 10, mode: 'probe', rewoundAtSend: 2 });
    expect(rewindTo(p, 30, 2).nextIndex).toBe(15);
    expect(rewindTo(p, -4, 2).nextIndex).toBe(0);
  });

  it('commitIndexFor with quorum 2 of 3 is the second highest', () => {
    expect(commitIndexFor(5, [3, 7], 2)).toBe(5);
    expect(commitIndexFor(2, [3, 7], 2)).toBe(3);
    expect(commitIndexFor(9, [-1, 4], 2)).toBe(4);
    expect(commitIndexFor(9, [-1, -1], 2)).toBe(-1);
  });

  it("commitIndexFor with quorum 1 is the leader's durable index when it is ahead", () => {
    expect(commitIndexFor(6, [3, -1], 1)).toBe(6);
    expect(commitIndexFor(6, [], 1)).toBe(6);
  });

  it('commitIndexFor with quorum 3 is the lowest of all three', () => {
    expect(commitIndexFor(5, [3, 7], 3)).toBe(3);
    expect(commitIndexFor(1, [3, 7], 3)).toBe(1);
  });

  it('commitIndexFor with fewer replicas than the quorum commits nothing', () => {
    expect(commitIndexFor(5, [4], 3)).toBe(-1);
  });
});
