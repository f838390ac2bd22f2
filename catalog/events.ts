/**
 * What the catalog reports about itself, as typed events (the replica's are order/events.ts, the
 * router's frontend/router-events.ts): the restocker's rounds and a torn ledger tail cut on open.
 * The invalidator's push failures and recoveries are its own `InvalidatorEvent`s
 * (catalog/invalidator.ts). Logs and metrics (catalog/observe.ts) and tests consume these; nothing
 * parses text.
 *
 * `describeCatalogEvent` is the one place an event becomes a sentence and a log level.
 */
export type CatalogEvent =
  /**
   * A restock round refilled these sold-out toys (a round that refilled nothing reports nothing).
   */
  | { type: 'restocked'; toys: string[] }
  /** A restock round failed; the next one is scheduled all the same. */
  | { type: 'restock_failed'; reason: string }
  /** Opening the ledger cut an incomplete last record (a crash mid-write), keeping a copy. */
  | { type: 'torn_tail'; bytes: number; savedAs: string };

export type CatalogEventType = CatalogEvent['type'];

export function describeCatalogEvent(e: CatalogEvent): {
  level: 'info' | 'warn' | 'error';
  msg: string;
} {
  switch (e.type) {
    case 'restocked':
      return { level: 'info', msg: `restocked ${e.toys.join(', ')}` };
    case 'restock_failed':
      return { level: 'error', msg: `restock failed: ${e.reason}` };
    case 'torn_tail':
      return {
        level: 'warn',
        msg: `cut a torn last ledger record (${e.bytes} bytes, saved as ${e.savedAs})`,
      };
  }
}
