/**
 * The deterministic simulation in CI (scripts/lib/sim/): a fixed set of seeds, each a few
 * hundred steps of crashes, pauses, partitions, frontend and catalog restarts and lossy,
 * duplicating, reordering links around three real replicas, the real frontend router and the
 * real catalog, with the invariants checked after every step.
 *
 * Also here: one seed replays the same trace (determinism is what makes a failing seed a bug
 * report); every rule of the checkers does fail when a piece is broken on purpose; the fault
 * classes the code does not survive yet (issue 9) run against it and find only the known bugs;
 * and the checker's rules on hand-made histories. Seeds that hit known bugs of the code under
 * test are kept out of the CI sets (KNOWN_BUG_SEEDS). Run thousands more with
 * `npm run sim -- --seeds 5000`.
 */
import { describe, expect, it } from 'vitest';
import type { OrderEntry, ReplicaStatus } from '../../shared/contracts.ts';
import { signEntry } from '../../order/log.ts';
import { Checker, type ReplicaSnapshot } from '../../scripts/lib/sim/checker.ts';
import { describeFailure, runSimulation, type SimMode, type SimOptions } from '../../scripts/lib/sim/simulation.ts';
import type { FaultClass } from '../../scripts/lib/sim/options.ts';

const STEPS = 300;

/**
 * The fault classes the code at fe93bb9 survives (but for KNOWN_BUG_SEEDS). Once issue 9 is
 * fixed, add AWAITING_ISSUE_9 here, run the 'overlap' mode too, and drop the known-bug test below.
 */
const CI_FAULTS: FaultClass[] = ['crash', 'pause', 'partition', 'frontend', 'storm', 'catalog'];
/** The new fault classes, each of which finds issue 9's bugs in today's code. */
const AWAITING_ISSUE_9: FaultClass[] = ['leader-isolation', 'disk-loss', 'corruption', 'write-errors'];

/**
 * Seeds of the CI sets that currently fail because of known bugs in the code under test (not in
 * the simulator); they are left out until the bug is fixed. `npm run sim -- --seed N [--mode
 * chaos]` replays one. Any change to the replicas, the router or the simulator reshuffles the
 * schedules, so until those bugs are fixed a CI seed may land on one of them again: the failure
 * message says which invariant broke and how to replay it.
 */
const BUG_2 = 'issue 9 item 2: a 503 after an attempt whose outcome was unknown (definite-after-unknown)';
const KNOWN_BUG_SEEDS: Record<SimMode, Record<number, string>> = {
  majority: { 37: BUG_2 },
  overlap: {},
  chaos: {},
};

function seedsFrom(start: number, count: number, mode: SimMode): number[] {
  const skip = new Set(Object.keys(KNOWN_BUG_SEEDS[mode]).map(Number));
  const out: number[] = [];
  for (let s = start; out.length < count; s++) if (!skip.has(s)) out.push(s);
  return out;
}

async function failuresOf(seeds: number[], mode: SimMode): Promise<string[]> {
  const failures: string[] = [];
  for (const seed of seeds) {
    const r = await runSimulation({ seed, steps: STEPS, mode, faults: CI_FAULTS });
    if (!r.ok) failures.push(describeFailure(r, `npm run sim -- --seed ${seed} --faults ${CI_FAULTS.join(',')}${mode === 'chaos' ? ' --mode chaos' : ''}`));
  }
  return failures;
}

describe('the seeded simulation of the replication core', () => {
  const majority = seedsFrom(1, 50, 'majority');
  it.each([1, 2])(`holds every invariant over 50 seeds x ${STEPS} steps with at most one replica impaired (half %i of 2)`, async (half) => {
    const failures = await failuresOf(majority.filter((_, i) => i % 2 === half - 1), 'majority');
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it(`keeps safety, and recovers once healed, with any number of replicas down or cut off (10 seeds x ${STEPS} steps)`, async () => {
    const failures = await failuresOf(seedsFrom(1, 10, 'chaos'), 'chaos');
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it('replays a seed exactly: same seed, same trace; another seed, another trace', async () => {
    const a = await runSimulation({ seed: 4242, steps: 200, mode: 'overlap' });
    const b = await runSimulation({ seed: 4242, steps: 200, mode: 'overlap', keepTrace: true });
    const c = await runSimulation({ seed: 4243, steps: 200, mode: 'overlap' });
    expect(a.traceHash).toBe(b.traceHash);
    expect(a.stats).toEqual(b.stats);
    expect(b.trace!.length).toBeGreaterThan(500);
    expect(c.traceHash).not.toBe(a.traceHash);
  });
});

describe('the checker fails when a piece is broken on purpose', () => {
  /**
   * The first of `seeds` on which the broken run breaks a rule of the kinds `expected` and the
   * honest run of the same seed passes (a broken piece may also show as another rule first).
   */
  async function firstCaught(seeds: number[], broken: SimOptions['broken'], expected: RegExp, faults: FaultClass[] = CI_FAULTS) {
    for (const seed of seeds) {
      const bad = await runSimulation({ seed, steps: STEPS, broken, faults });
      if (!bad.violations.some((v) => expected.test(v.kind))) continue;
      const good = await runSimulation({ seed, steps: STEPS, faults });
      if (good.ok) return bad;
    }
    return null;
  }

  const kindsOf = (r: { violations: { kind: string }[] } | null) => r?.violations.map((v) => v.kind) ?? [];

  it('a log disk that acknowledges appends before fsync is caught: acknowledged orders not durable on a majority', async () => {
    const r = await firstCaught(seedsFrom(1, 10, 'majority'), { lyingLogDisk: true }, /^(ack|committed)-not-durable$/);
    expect(r).not.toBeNull();
    expect(r!.violations.map((v) => v.kind)).toEqual(expect.arrayContaining([expect.stringMatching(/^(ack|committed)-not-durable$/)]));
  });

  it('peers that grant every promise (and hide their logs) are caught: committed orders cut or changed', async () => {
    const r = await firstCaught(seedsFrom(1, 20, 'majority'), { lyingPromises: true }, /^(fatal|committed-lost|committed-changed|two-leaders|lost|wrong-content)$/);
    expect(r).not.toBeNull();
    expect(r!.violations.map((v) => v.kind)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^(fatal|committed-lost|committed-changed|two-leaders|lost|wrong-content)$/)]),
    );
  });

  it('leaders that release the purchases of committed orders are caught: a committed order whose stock went back', async () => {
    const r = await firstCaught(seedsFrom(1, 10, 'majority'), { releasingAccounts: true }, /^(released-committed|stock)$/);
    expect(kindsOf(r)).toEqual(expect.arrayContaining([expect.stringMatching(/^(released-committed|stock)$/)]));
  });

  it('a frontend that answers 503 where the outcome is unknown is caught: a definite failure after an unknown attempt, or one that commits', async () => {
    const r = await firstCaught(seedsFrom(1, 20, 'majority'), { unknownAsFailure: true }, /^(definite-after-unknown|failed-committed)$/);
    expect(kindsOf(r)).toEqual(expect.arrayContaining([expect.stringMatching(/^(definite-after-unknown|failed-committed)$/)]));
  });

  it('a frontend that never elects a second leader is caught: orders refused while a healthy majority waits', async () => {
    const r = await firstCaught(seedsFrom(1, 30, 'majority'), { frontendElectsOnce: true }, /^unavailable$/, ['crash']);
    expect(kindsOf(r)).toContain('unavailable');
  });

  it('a frontend that answers 404 for orders it acknowledged is caught: a stale read', async () => {
    const r = await firstCaught(seedsFrom(1, 10, 'majority'), { lyingReads: true }, /^read-lost$/);
    expect(kindsOf(r)).toContain('read-lost');
  });

  it('a log store that goes on after a failed write is caught: no fail-stop', async () => {
    const r = await firstCaught(seedsFrom(1, 30, 'majority'), { logErrorsKeepGoing: true }, /^no-fail-stop$/, ['write-errors']);
    expect(kindsOf(r)).toContain('no-fail-stop');
  });

  it('a disk that loses committed records with no fault to own the loss is caught, though faults that damage a disk are excused', async () => {
    const r = await firstCaught(seedsFrom(1, 20, 'majority'), { silentDiskLoss: true }, /^(committed-lost|committed-not-durable|ack-not-durable|lost)$/, ['crash']);
    expect(kindsOf(r)).toEqual(expect.arrayContaining([expect.stringMatching(/^(committed-lost|committed-not-durable|ack-not-durable|lost)$/)]));
  });
});

describe('the fault classes issue 9 is about, against the code as it is', () => {
  /** Violation kinds that are issue 9's bugs (items 1, 2, 3, 7, 8) as the simulator reports them. */
  const KNOWN = /^(released-committed|stock|definite-after-unknown|failed-committed|unavailable|read-lost|no-fail-stop|fatal|committed-lost|committed-changed|committed-not-durable|lost|wrong-content|two-leaders|liveness)$/;

  it.each(AWAITING_ISSUE_9)('%s: the fault fires, and whatever breaks is one of the known bugs, never the harness', async (cls) => {
    let fired = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const r = await runSimulation({ seed, steps: STEPS, mode: 'overlap', faults: [cls, 'crash'] });
      const f = r.stats.faults;
      fired += cls === 'leader-isolation' ? Object.values(f.leaderIsolations).reduce((a, b) => a + b, 0)
        : cls === 'disk-loss' ? Object.values(f.diskLosses).reduce((a, b) => a + b, 0)
        : cls === 'corruption' ? Object.values(f.corruptions).reduce((a, b) => a + b, 0)
        : f.writeErrors.log + f.writeErrors.meta;
      for (const v of r.violations) expect(v.kind, `seed ${seed}: ${v.message}`).toMatch(KNOWN);
    }
    expect(fired).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------ the checker's rules by hand

function chain(keys: string[], epoch = 1, from: OrderEntry[] = []): OrderEntry[] {
  const out = [...from];
  for (const key of keys) {
    const i = out.length;
    out.push(signEntry(out[i - 1]?.crc ?? 0, { index: i, epoch, name: 'Tux', quantity: 1, key }));
  }
  return out;
}

function status(id: number, log: readonly OrderEntry[], commitIndex: number, leaderEpoch: number | null = null): ReplicaStatus {
  return {
    id,
    role: leaderEpoch === null ? 'follower' : 'leader',
    promisedEpoch: leaderEpoch ?? 1,
    leaderEpoch,
    leaderId: null,
    storage: 'intact',
    established: leaderEpoch !== null,
    isolated: false,
    head: { logEpoch: 1, lastIndex: log.length - 1, lastCrc: log.at(-1)?.crc ?? 0 },
    commitIndex,
    followers: [],
  };
}

function snap(id: number, log: readonly OrderEntry[], commitIndex: number, durable: readonly OrderEntry[] = log, leaderEpoch: number | null = null): ReplicaSnapshot {
  return { id, status: status(id, log, commitIndex, leaderEpoch), visible: log, durable };
}

describe('the checker rules', () => {
  const kinds = (c: Checker) => c.violations.map((v) => v.kind);

  it('two replicas leading one epoch is a violation, one replica leading it twice is not', () => {
    const c = new Checker(2, () => 0);
    c.onLeading(3, 4);
    c.onLeading(3, 4);
    expect(c.ok).toBe(true);
    c.onLeading(2, 4);
    expect(kinds(c)).toEqual(['two-leaders']);
  });

  it('a committed record that later reads differently is a violation; a stale record past the commit index is not', () => {
    const c = new Checker(2, () => 0);
    const a = chain(['a', 'b']);
    const stale = chain(['a', 'x']);
    c.checkStep([snap(1, a, 1), snap(2, a, 1), snap(3, stale, 0)]);
    expect(c.ok).toBe(true);
    c.checkStep([snap(1, a, 1), snap(2, a, 1), snap(3, stale, 1)]);
    expect(kinds(c)).toEqual(['committed-changed']);
  });

  it('a disk that loses a committed record it held, and a committed prefix on fewer than a quorum of disks, are violations', () => {
    const c = new Checker(2, () => 0);
    const log = chain(['a', 'b', 'c']);
    c.checkStep([snap(1, log, 2), snap(2, log, 2), snap(3, [], -1, [])]);
    expect(c.ok).toBe(true);
    c.checkStep([snap(1, log, 2), snap(2, log.slice(0, 1), -1, log.slice(0, 1)), snap(3, [], -1, [])]);
    expect(kinds(c)).toEqual(expect.arrayContaining(['committed-lost', 'committed-not-durable']));
  });

  it('an acknowledgement not yet durable on a quorum, or missing at the end, is a violation', () => {
    const c = new Checker(2, () => 0);
    const log = chain(['a']);
    const snaps = [snap(1, log, 0), snap(2, [], -1, []), snap(3, [], -1, [])];
    c.onAck({ orderNumber: 0, name: 'Tux', quantity: 1, key: 'a', by: 'client' }, snaps);
    expect(kinds(c)).toEqual(['ack-not-durable']);
    const d = new Checker(2, () => 0);
    d.onAck({ orderNumber: 1, name: 'Lego', quantity: 2, by: 'client' }, [snap(1, chain(['a', 'b']), 1), snap(2, chain(['a', 'b']), 1), snap(3, [], -1, [])]);
    d.checkEnd([snap(1, log, 0), snap(2, log, 0), snap(3, log, 0)]);
    expect(kinds(d)).toEqual(expect.arrayContaining(['ack-not-durable', 'lost']));
  });

  it('a disk a fault damaged may lose what it held; once whole again it may not', () => {
    const c = new Checker(2, () => 0);
    const log = chain(['a', 'b', 'c']);
    c.checkStep([snap(1, log, 2), snap(2, log, 2), snap(3, log, 2)]);
    const wiped = { ...snap(2, [], -1, []), damaged: true };
    c.checkStep([snap(1, log, 2), wiped, snap(3, log, 2)]);
    expect(c.ok).toBe(true);
    c.checkStep([snap(1, log, 2), snap(2, log, 2), snap(3, log, 2)]);
    c.checkStep([snap(1, log, 2), snap(2, log.slice(0, 2), 1, log.slice(0, 2)), snap(3, log, 2)]);
    expect(new Set(kinds(c))).toEqual(new Set(['committed-lost']));
  });

  it('an order whose client was told it certainly did not happen must never commit, unless the network itself sent it twice', () => {
    const c = new Checker(2, () => 0);
    const log = chain(['a', 'b']);
    c.onDefiniteFailure('b', '503 no_quorum');
    c.onDefiniteFailure('a', '409 insufficient stock');
    c.duplicatedKeys.add('a');
    c.checkStep([snap(1, log.slice(0, 1), 0), snap(2, log.slice(0, 1), 0), snap(3, [], -1, [])]);
    expect(c.ok).toBe(true);
    c.checkStep([snap(1, log, 1), snap(2, log, 1), snap(3, [], -1, [])]);
    expect(kinds(c)).toEqual(['failed-committed']);
    expect(c.violations[0]!.message).toContain('503 no_quorum');
  });
});
