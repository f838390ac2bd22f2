/**
 * The duelling and error figures of the multi-host run, computed on made-up samples: what a
 * fault cost in epochs and leader changes, a restarted replica taking the lead back, how often
 * the two frontends disagreed, and which client errors fall in which fault's window.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../shared/contracts.ts';
import {
  duelSummary,
  frontendAgreement,
  measureFaults,
  startupElection,
  type FaultRecord,
  type Sample,
} from '../../scripts/lib/hosts/measure.ts';
import { REPLICA_FAULTS } from '../../scripts/lib/hosts/schedule.ts';

/** A sample where `leader` leads `epoch` and the frontends name `f1`/`f2` (id@epoch, or null). */
function sample(
  atMs: number,
  leader: number | null,
  epoch: number,
  f1: [number, number] | null = leader ? [leader, epoch] : null,
  f2 = f1,
): Sample {
  const view = (v: [number, number] | null) => ({
    leaderId: v?.[0] ?? null,
    epoch: v?.[1] ?? null,
  });
  return {
    atMs,
    frontends: { 'frontend-1': view(f1), 'frontend-2': view(f2) },
    replicas: [1, 2, 3].map((id) => ({
      id,
      role: id === leader ? 'leader' : 'follower',
      promisedEpoch: epoch,
      leaderEpoch: id === leader ? epoch : null,
    })),
  };
}
const event = (
  type: HistoryEvent['type'],
  timeMs: number,
  status: number | null,
): HistoryEvent => ({
  type,
  op: 0,
  client: 0,
  f: 'order',
  key: 'k',
  request: {},
  response: status === null ? null : { status, body: null },
  timeMs,
});

describe("a fault's cost", () => {
  it('counts the epochs and leader changes of a duel after a leader kill, and when the leader moved', () => {
    const samples = [
      sample(0, 3, 1),
      sample(100, 3, 1),
      sample(200, null, 4),
      sample(300, 2, 5),
      sample(400, 1, 7),
      sample(500, 2, 9),
      sample(900, 2, 9),
    ];
    const faults: FaultRecord[] = [
      { kind: 'kill-leader', target: 'order-3', appliedAtMs: 150, healedAtMs: 600, detail: '' },
    ];
    const [m] = measureFaults(faults, samples, [], [], 1_000);
    expect(m).toMatchObject({
      epochs: 8,
      leaderChanges: 3,
      leaderMovedAfterMs: 150,
      tookLeadBack: false,
      windowMs: 850,
    });
  });

  it('sees a restarted replica take the lead back from a working leader', () => {
    const samples = [sample(0, 3, 1), sample(200, 2, 2), sample(700, 2, 2), sample(800, 3, 3)];
    const faults: FaultRecord[] = [
      { kind: 'kill-leader', target: 'order-3', appliedAtMs: 100, healedAtMs: 600, detail: '' },
    ];
    const [m] = measureFaults(faults, samples, [], [], 1_000);
    expect(m).toMatchObject({ epochs: 2, leaderChanges: 2, tookLeadBack: true });
  });

  it('a fault before a later re-election of the same leader did not move it', () => {
    const samples = [sample(0, 3, 1), sample(400, 3, 1), sample(1_200, 3, 2), sample(1_500, 3, 2)];
    const faults: FaultRecord[] = [
      { kind: 'delay', target: 'order-3', appliedAtMs: 100, healedAtMs: 300, detail: '' },
      {
        kind: 'partition-leader',
        target: 'order-3',
        appliedAtMs: 1_000,
        healedAtMs: 1_300,
        detail: '',
      },
    ];
    const [delay, partition] = measureFaults(faults, samples, [], [], 1_600);
    expect(delay).toMatchObject({ epochs: 0, leaderChanges: 0, leaderMovedAfterMs: null });
    expect(partition).toMatchObject({ epochs: 1, leaderChanges: 0, leaderMovedAfterMs: 200 });
  });

  it('a fault that leaves the leader alone costs nothing', () => {
    const samples = [sample(0, 3, 1), sample(500, 3, 1)];
    const [m] = measureFaults(
      [{ kind: 'kill-follower', target: 'order-1', appliedAtMs: 100, healedAtMs: 300, detail: '' }],
      samples,
      [],
      [],
      600,
    );
    expect(m).toMatchObject({
      epochs: 0,
      leaderChanges: 0,
      leaderMovedAfterMs: null,
      tookLeadBack: false,
    });
  });

  it('puts failed attempts and failed operations in the window of the fault they happened in; a 409 is not a failure', () => {
    const faults: FaultRecord[] = [
      {
        kind: 'kill-frontend',
        target: 'frontend-1',
        appliedAtMs: 100,
        healedAtMs: 200,
        detail: '',
      },
      { kind: 'kill-leader', target: 'order-3', appliedAtMs: 500, healedAtMs: 600, detail: '' },
    ];
    const errors = [
      { atMs: 50, method: 'GET', what: 'reset' },
      { atMs: 150, method: 'POST', what: 'reset' },
      { atMs: 550, method: 'POST', what: '503 no_leader' },
      { atMs: 560, method: 'POST', what: '503 no_leader' },
    ];
    const history = [
      event('fail', 150, 409),
      event('info', 160, null),
      event('fail', 520, 503),
      event('ok', 530, 200),
    ];
    const [f, l] = measureFaults(faults, [sample(0, 3, 1)], errors, history, 1_000);
    expect(f).toMatchObject({ attemptErrors: 1, errorKinds: { 'POST reset': 1 }, opFailures: 1 });
    expect(l).toMatchObject({
      attemptErrors: 2,
      errorKinds: { 'POST 503 no_leader': 2 },
      opFailures: 1,
    });
  });
});

describe('the two frontends', () => {
  it('disagree when they name different leaders or epochs; a sample where one has none is counted apart', () => {
    const samples = [
      sample(0, 3, 1),
      sample(100, 3, 1, [3, 1], [2, 2]),
      sample(200, 3, 1, [3, 1], [3, 2]),
      sample(300, 3, 1, [3, 1], null),
      sample(400, 2, 2),
    ];
    samples[3]!.frontends['frontend-2'] = { leaderId: null, epoch: null };
    expect(frontendAgreement(samples, ['frontend-1', 'frontend-2'])).toEqual({
      samples: 4,
      disagreements: 2,
      oneWithout: 1,
      longestDisagreementMs: 200,
    });
  });

  it('a frontend that did not answer is no sample', () => {
    const s = sample(0, 3, 1);
    s.frontends['frontend-1'] = null;
    expect(frontendAgreement([s], ['frontend-1', 'frontend-2']).samples).toBe(0);
  });
});

describe('the summary', () => {
  it('counts epochs per replica fault and the first election', () => {
    const samples = [sample(0, null, 9), sample(100, 1, 18), sample(200, 1, 18)];
    expect(startupElection(samples)).toEqual({ epochs: 18, leaderId: 1 });
    const faults: FaultRecord[] = [
      { kind: 'kill-leader', target: 'order-1', appliedAtMs: 300, healedAtMs: 400, detail: '' },
      {
        kind: 'kill-frontend',
        target: 'frontend-1',
        appliedAtMs: 500,
        healedAtMs: 600,
        detail: '',
      },
    ];
    const more = [...samples, sample(350, 3, 20), sample(700, 3, 20)];
    const d = duelSummary(
      measureFaults(faults, more, [], [], 800),
      REPLICA_FAULTS,
      frontendAgreement(more, ['frontend-1', 'frontend-2']),
      startupElection(more),
    );
    expect(d).toMatchObject({
      startup: { epochs: 18, leaderId: 1 },
      replicaFaults: 1,
      epochs: 2,
      epochsPerReplicaFault: 2,
      leaderChanges: 1,
    });
  });
});
