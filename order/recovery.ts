/**
 * When a replica's durable state can be trusted, as pure rules (Viewstamped Replication's
 * recovery, and Protocol-Aware Recovery's "a damaged node must not vote as if it were whole").
 *
 * A replica that lost or damaged its files must count toward no quorum until it has been rebuilt
 * from its peers: its log head would understate what it acknowledged (so an election could adopt
 * a log missing committed orders), and if its meta is gone it could promise one epoch twice. So:
 *
 * - On open, `storageOnOpen` classifies what the disk showed. No meta at all is 'unverified': a
 *   brand-new replica and a wiped one look the same from inside.
 * - `decideUnverified`: a replica with no meta asks its peers. If enough of them (n - q + 1, so
 *   that every quorum contains one) hold no orders, nothing was ever committed: it starts intact
 *   above every epoch they report. Any order anywhere makes it 'amnesiac'.
 * - `amnesiaFloor`: an amnesiac replica learns the newest epoch from q peers that remember their
 *   promises (every quorum that could have used its lost promise intersects them), and from then
 *   on accepts nothing older; it is then 'recovering'.
 * - `completesRecovery`: a recovering replica becomes intact on an append from a leader whose
 *   epoch is established (its start-of-epoch log is durable on a quorum of intact replicas, so it
 *   holds everything committed) once its log equals that leader's up to the leader's commit index.
 */
import type { ReplicaStatus } from '../shared/contracts.ts';
import type { Meta, StorageState } from './meta.ts';

export interface OpenedStorage {
  /** The meta file existed and was readable. */
  metaFound: boolean;
  /** The meta file existed but could not be read. */
  metaUnreadable: boolean;
  /** Damage the log store reported on open (lost records, corruption, a missing file), if any. */
  logDamage: string | null;
  /** Records in the (possibly repaired) log. */
  logRecords: number;
}

export function storageOnOpen(
  meta: Meta,
  s: OpenedStorage,
): { storage: StorageState; why: string } {
  if (s.metaUnreadable)
    return { storage: 'amnesiac', why: 'the meta file is unreadable: promises lost' };
  if (!s.metaFound) {
    if (s.logRecords > 0 || s.logDamage)
      return {
        storage: 'amnesiac',
        why: 'the meta file is missing but the log is not empty: promises lost',
      };
    return {
      storage: 'unverified',
      why: 'no meta file: a new replica, or one whose files were wiped',
    };
  }
  if (s.logDamage)
    return { storage: meta.storage === 'amnesiac' ? 'amnesiac' : 'recovering', why: s.logDamage };
  return {
    storage: meta.storage,
    why:
      meta.storage === 'intact'
        ? 'meta and log intact'
        : `still ${meta.storage} from before the restart`,
  };
}

/**
 * Peers whose word on "I never promised anything" counts: not known to have lost state themselves.
 */
function remembers(s: ReplicaStatus): boolean {
  return s.storage === 'intact' || s.storage === 'recovering';
}

export type UnverifiedDecision =
  /**
   * No orders anywhere a quorum could have put them: start intact, promising nothing up to `floor`.
   */
  { kind: 'new-cluster'; floor: number } | { kind: 'history' } | { kind: 'undecided' };

/**
 * A replica with no meta and an empty log, and enough peers that still know their own state
 * (n - q + 1: every quorum contains one of them) all with empty logs: no order was ever
 * committed, so there is nothing it could have lost but promises. Those it may have made were
 * to candidates, one of which is among the peers and reports that epoch or a newer one: starting
 * from the newest epoch any of them reports (and promising none of it again) is safe. Any order
 * in any log means history: it must be rebuilt as an amnesiac.
 */
export function decideUnverified(
  self: { lastIndex: number; promisedEpoch: number },
  peers: ReadonlyArray<ReplicaStatus | null>,
  replicaCount: number,
  quorum: number,
  /**
   * The candidate whose promise request prompted the question, if any. Its own epoch does not
   * raise the floor: a promise we may have lost to it is one we may give it again, and a promise
   * lost to any other candidate shows in that candidate's own report.
   */
  candidate?: number,
): UnverifiedDecision {
  if (self.lastIndex >= 0) return { kind: 'history' };
  const answered = peers.filter((p): p is ReplicaStatus => p !== null);
  if (answered.some((p) => p.head.lastIndex >= 0)) return { kind: 'history' };
  const witnesses = answered.filter((p) => p.storage === 'intact' || p.storage === 'unverified');
  // With q = 1, n - q + 1 is more peers than exist; all of them is the most there is to ask
  // (COMMIT_QUORUM=1 cannot survive a lost disk anyway).
  if (witnesses.length < Math.min(replicaCount - quorum + 1, replicaCount - 1))
    return { kind: 'undecided' };
  const floor = Math.max(
    self.promisedEpoch,
    ...witnesses.filter((p) => p.id !== candidate).map((p) => p.promisedEpoch),
  );
  return { kind: 'new-cluster', floor };
}

/** The epoch an amnesiac replica must not go below, or null until enough peers answered. */
export function amnesiaFloor(
  peers: ReadonlyArray<ReplicaStatus | null>,
  replicaCount: number,
  quorum: number,
): number | null {
  const known = peers.filter((p): p is ReplicaStatus => p !== null && remembers(p));
  if (known.length < Math.min(quorum, replicaCount - 1)) return null;
  return Math.max(0, ...known.map((p) => p.promisedEpoch));
}

export function completesRecovery(
  storage: StorageState,
  req: { established: boolean; commitIndex: number },
  matchIndex: number,
  claimsLogEpoch: boolean,
): boolean {
  return (
    storage === 'recovering' && req.established && claimsLogEpoch && matchIndex >= req.commitIndex
  );
}

/** Only an intact replica may promise, lead, or have its acknowledgements counted. */
export function countsTowardQuorum(storage: StorageState): boolean {
  return storage === 'intact';
}
