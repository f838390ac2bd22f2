/**
 * What a stranger who reaches an internal port would send: one definition for the in-process
 * story (test/stack/forged-requests.test.ts) and the real-process one (test/e2e/cluster-auth), so
 * both attack the store with the same requests.
 */
import type { AppendRequest } from '../../shared/contracts.ts';
import { signEntry } from '../../order/log.ts';

/** An epoch far above any the cluster has reached. */
export const HUGE_EPOCH = 1_000_000_000;

/** A follower's next record, 10,000 Barbies in a newer epoch, chained to its last one. */
export function forgedAppend(
  last: { index: number; crc: number },
  epoch: number,
  leaderId: number,
): AppendRequest {
  const entry = signEntry(last.crc, {
    index: last.index + 1,
    epoch,
    name: 'Barbie',
    quantity: 10_000,
    key: 'forged-barbies',
  });
  return {
    epoch,
    leaderId,
    prevIndex: last.index,
    prevCrc: last.crc,
    entries: [entry],
    commitIndex: entry.index,
    viewStartIndex: last.index,
    leaderLastIndex: entry.index,
    established: true,
  };
}

/** The catalog forgeries: fence it, buy 100 Lego, and say that purchase committed. */
export const FORGED_CATALOG_BODIES = {
  fence: { epoch: HUGE_EPOCH },
  purchase: { name: 'Lego', quantity: 100, key: 'forged-lego', epoch: HUGE_EPOCH },
  reconcile: { epoch: HUGE_EPOCH, committed: [{ key: 'forged-lego', seq: 0 }], release: [] },
} as const;
