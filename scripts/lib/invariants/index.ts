/**
 * The store's safety invariants as plain functions over parsed data: replica order logs, client
 * acknowledgements and histories, the catalog's stock ledger and product list. One module, used by
 * the tests, the end-to-end tier, the consistency checker (scripts/lib/check) and the chaos
 * tools, so "correct" means the same thing everywhere.
 *
 * Why it is shaped so: every check is pure (no disk, no network, no clock) and returns a list of
 * violations, empty when the invariant holds. Loading, choosing which log is "the" committed one
 * and printing are the caller's job, so each rule can be tested with a few hand-built records.
 * Each violation carries a stable `kind` (scripts and tests match on it), a one-line `message`
 * naming the place, and the offending `records` themselves (log entries, ledger entries, history
 * events) so a report shows the evidence, not just the verdict.
 */
export type { Violation, ViolationKind } from './types.ts';
export * from './log.ts';
export * from './history.ts';
export * from './ledger.ts';
export * from './freshness.ts';
