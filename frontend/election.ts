/**
 * The frontend's leader choice as pure functions: given what the replicas last said about
 * themselves, who should lead and in which epoch. The monitor in order-router.ts does the pinging
 * and calls these, so the rules can be tested (and simulated) without any network.
 *
 * Priority decides who leads, never whose orders survive: the chosen replica runs a view change
 * that adopts the most up-to-date log of a quorum before it serves. The next epoch comes from the
 * replicas' promises (max + 1), not from the frontend's memory, so a restarted frontend, or a
 * second one, can never reuse an epoch.
 */
import type { ReplicaStatus } from '../shared/contracts.ts';
import { nextEpoch as nextEpochAfter } from '../shared/fields.ts';

export type Probe = {
  id: number;
  status: ReplicaStatus | null;
  /**
   * Why there is no status: the process refused the connection (it is down), or did not answer in
   * time.
   */
  failure?: 'refused' | 'silent';
};

/**
 * Live replicas that may lead, in priority order (highest id first). A replica whose own state is
 * not intact (order/recovery.ts) would refuse: asking it only delays the election.
 */
export function candidatesInPriorityOrder(probes: readonly Probe[]): number[] {
  const intact = probes.filter((p) => p.status !== null && p.status.storage === 'intact');
  // One that just failed to reach a quorum (a leader cut off from its followers) goes last: asking
  // it first would cost an RPC timeout before the replicas that can lead are asked.
  return intact
    .sort((a, b) => Number(a.status!.isolated) - Number(b.status!.isolated) || b.id - a.id)
    .map((p) => p.id);
}

export function nextEpoch(probes: readonly Probe[], atLeast = 0): number {
  // The field's rule (shared/fields.ts): never an epoch the logs could not write.
  return nextEpochAfter(Math.max(atLeast, ...probes.map((p) => p.status?.promisedEpoch ?? 0)));
}

/**
 * A replica that already leads the newest epoch any live replica has promised is kept (after a
 * frontend restart, say): re-electing would cost a failover for nothing.
 */
export function existingLeader(probes: readonly Probe[]): { id: number; epoch: number } | null {
  const newest = Math.max(0, ...probes.map((p) => p.status?.promisedEpoch ?? 0));
  for (const p of probes) {
    const s = p.status;
    if (s && s.role === 'leader' && s.leaderEpoch === newest && newest > 0)
      return { id: p.id, epoch: newest };
  }
  return null;
}

/**
 * A leader of a newer epoch than the one we route to (elected by another frontend, or after we
 * lost sight of the cluster): our leader is deposed or about to be, so we follow the newer one.
 */
export function newerLeader(
  probes: readonly Probe[],
  current: { epoch: number } | null,
): { id: number; epoch: number } | null {
  const found = existingLeader(probes);
  return found && (current === null || found.epoch > current.epoch) ? found : null;
}

/**
 * A view change in progress for the newest epoch any live replica promised (another frontend is
 * electing, or ours outran its probes): starting a newer one would depose whoever wins it.
 */
export function electionInProgress(probes: readonly Probe[]): boolean {
  const newest = Math.max(0, ...probes.map((p) => p.status?.promisedEpoch ?? 0));
  return probes.some(
    (p) => p.status?.role === 'candidate' && p.status.promisedEpoch === newest && newest > 0,
  );
}

/**
 * Heartbeats a leader may miss by not answering in time before an election (a refusal counts at
 * once).
 */
export const SILENT_BEATS_BEFORE_ELECTION = 2;

/** Does this heartbeat answer still show the replica leading the epoch we routed to it? */
export function stillLeads(status: ReplicaStatus | null, epoch: number): boolean {
  return status !== null && status.role === 'leader' && status.leaderEpoch === epoch;
}
