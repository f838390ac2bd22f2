/**
 * The frontend's leader choice as pure rules (frontend/election.ts): who may be asked to lead,
 * which epoch comes next, when a leader is already there to follow, and when another frontend's
 * election is still running (so starting a newer one would only depose its winner).
 */
import { describe, expect, it } from 'vitest';
import type { ReplicaStatus } from '../../shared/contracts.ts';
import {
  candidatesInPriorityOrder,
  electionInProgress,
  existingLeader,
  newerLeader,
  nextEpoch,
  type Probe,
} from '../../frontend/election.ts';

function status(id: number, s: Partial<ReplicaStatus> = {}): ReplicaStatus {
  return {
    id,
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
    ...s,
  };
}
const probe = (id: number, s: Partial<ReplicaStatus> | null = {}): Probe => ({
  id,
  status: s === null ? null : status(id, s),
});

describe('frontend election rules', () => {
  it('asks live, intact replicas in priority order; a recovering one would refuse', () => {
    expect(
      candidatesInPriorityOrder([probe(1), probe(2, { storage: 'recovering' }), probe(3, null)]),
    ).toEqual([1]);
    expect(candidatesInPriorityOrder([probe(1), probe(2), probe(3)])).toEqual([3, 2, 1]);
    // One that just failed to reach a quorum (a leader cut off from its followers) is asked last.
    expect(candidatesInPriorityOrder([probe(1), probe(2), probe(3, { isolated: true })])).toEqual([
      2, 1, 3,
    ]);
  });

  it('opens the epoch after the newest any replica promised, never one the frontend remembers', () => {
    expect(nextEpoch([probe(1, { promisedEpoch: 7 }), probe(2), probe(3, null)])).toBe(8);
    expect(nextEpoch([probe(1)], 9)).toBe(10);
  });

  it('follows a leader of the newest epoch, and one newer than the epoch it routes to', () => {
    const probes = [
      probe(1),
      probe(2, { role: 'leader', leaderEpoch: 5, promisedEpoch: 5 }),
      probe(3, { promisedEpoch: 5 }),
    ];
    expect(existingLeader(probes)).toEqual({ id: 2, epoch: 5 });
    expect(newerLeader(probes, { epoch: 4 })).toEqual({ id: 2, epoch: 5 });
    expect(newerLeader(probes, { epoch: 5 })).toBeNull();
    // A leader of an epoch older than someone's promise is being deposed: not one to follow.
    expect(
      existingLeader([
        probe(1, { promisedEpoch: 6 }),
        probe(2, { role: 'leader', leaderEpoch: 5, promisedEpoch: 5 }),
      ]),
    ).toBeNull();
  });

  it('sees a view change of another frontend for the newest epoch as an election in progress', () => {
    expect(
      electionInProgress([
        probe(1, { promisedEpoch: 6 }),
        probe(2, { role: 'candidate', promisedEpoch: 6 }),
      ]),
    ).toBe(true);
    expect(
      electionInProgress([
        probe(1, { promisedEpoch: 7 }),
        probe(2, { role: 'candidate', promisedEpoch: 6 }),
      ]),
    ).toBe(false);
    expect(electionInProgress([probe(1), probe(2)])).toBe(false);
  });
});
