/**
 * The catalog's pending purchases as a reconcile names them (key and ledger seq), so a story can
 * say "these committed" or "release these" without knowing the seqs the ledger gave them.
 */
import type { PendingResponse, PurchaseRef } from '../../shared/contracts.ts';

export function pendingRefs(
  store: { pending(): PendingResponse },
  ...keys: string[]
): PurchaseRef[] {
  return store
    .pending()
    .entries.filter((p) => keys.length === 0 || keys.includes(p.key))
    .map(({ key, seq }) => ({ key, seq }));
}
