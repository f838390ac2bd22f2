/**
 * What every invariant returns: a list of violations, each with a stable `kind` (scripts and
 * tests match on it), a one-line `message` naming the place, and the offending `records`
 * themselves, so a report shows the evidence, not just the verdict.
 */
export type ViolationKind =
  | 'gap'
  | 'checksum'
  | 'duplicate-key'
  | 'divergence'
  | 'lost'
  | 'wrong-content'
  | 'epoch-order'
  | 'phantom'
  | 'failed-committed'
  | 'stale-read'
  | 'definite-after-unknown'
  | 'stale-product-read'
  | 'stock';

export interface Violation {
  kind: ViolationKind;
  message: string;
  /**
   * The offending records (order entries, ledger entries, history events, or small descriptors).
   */
  records?: unknown[];
}
