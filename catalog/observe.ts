/**
 * What the catalog shows about itself, wired by catalog/build.ts around its typed events, without
 * changing the store, the restocker or the app:
 *
 * - `catalogEventLogger`: each catalog event (catalog/events.ts) as one structured line: `event`
 *   is its type (a restock is `event: "restock"` with its `toys`), level and sentence from
 *   `describeCatalogEvent`;
 * - `invalidatorEventLogger`: the invalidator's push failures and recoveries as lines;
 * - `restockMetrics`: counts `toystore_catalog_restocks_total` per toy from `restocked` events;
 * - `registerCatalogMetrics`: stock per toy, read from store.list() at scrape time.
 */
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { gaugeFrom, METRIC_PREFIX, type Registry } from '../shared/metrics.ts';
import { describeCatalogEvent, type CatalogEvent } from './events.ts';
import type { InvalidatorEvent } from './invalidator.ts';
import type { CatalogStore } from './store.ts';

const p = METRIC_PREFIX;

/** The name a catalog event's line carries in `event` (kept from before events were typed). */
const LINE_EVENT: Record<CatalogEvent['type'], string> = {
  restocked: 'restock',
  restock_failed: 'restock_failed',
  torn_tail: 'torn_tail',
};

export function catalogEventLogger(logger: Logger): (e: CatalogEvent) => void {
  return (e) => {
    const { level, msg } = describeCatalogEvent(e);
    const { type, ...fields } = e;
    logger[level]({ event: LINE_EVENT[type], ...fields }, msg);
  };
}

export function invalidatorEventLogger(logger: Logger): (e: InvalidatorEvent) => void {
  return (e) =>
    e.kind === 'push_failed'
      ? logger.warn(
          {
            event: 'invalidation_failed',
            frontend: e.frontend,
            reason: e.reason,
            pending: e.pending,
          },
          `invalidations to ${e.frontend} failing (${e.reason}); retrying until it answers`,
        )
      : logger.info(
          {
            event: 'invalidation_recovered',
            frontend: e.frontend,
            failures: e.failures,
            ms: e.ms,
            seq: e.seq,
          },
          `invalidations reach ${e.frontend} again after ${e.failures} failed attempts (${e.ms} ms)`,
        );
}

/** Restocks per toy, counted from the restocker's events. */
export function restockMetrics(registry: Registry): (e: CatalogEvent) => void {
  const restocks = new Counter({
    name: `${p}catalog_restocks_total`,
    help: 'Times a sold-out toy was restocked, by toy',
    labelNames: ['toy'],
    registers: [registry],
  });
  return (e) => {
    if (e.type === 'restocked') for (const toy of e.toys) restocks.inc({ toy });
  };
}

export function registerCatalogMetrics(
  registry: Registry,
  store: Pick<CatalogStore, 'list'>,
): void {
  gaugeFrom(registry, `${p}catalog_stock`, 'Units in stock, by toy', ['toy'], () =>
    store.list().map((t) => [{ toy: t.name }, t.quantity] as const),
  );
  gaugeFrom(registry, `${p}catalog_toys`, 'Toys in the catalog', [], () => store.list().length);
}
