/**
 * What the catalog shows about itself, wired by catalog/main.ts without changing the store, the
 * restocker or the app:
 *
 * - `observeRestocks`: the store as the restocker sees it, so every restock round that refilled
 *   something writes one structured line (which toys) and counts `toystore_catalog_restocks_total`
 *   per toy; `restockerLog` routes the restocker's own messages (its "restocked" line is then a
 *   debug duplicate, its failures are errors).
 * - `registerCatalogMetrics`: stock per toy, read from store.list() at scrape time.
 */
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { messageLogger } from '../shared/logger.ts';
import { gaugeFrom, METRIC_PREFIX, type Registry } from '../shared/metrics.ts';
import type { CatalogStore } from './store.ts';

const p = METRIC_PREFIX;

export function observeRestocks(store: Pick<CatalogStore, 'restockEmpty'>, o: { logger: Logger; registry: Registry }): Pick<CatalogStore, 'restockEmpty'> {
  const restocks = new Counter({ name: `${p}catalog_restocks_total`, help: 'Times a sold-out toy was restocked, by toy', labelNames: ['toy'], registers: [o.registry] });
  return {
    async restockEmpty() {
      const names = await store.restockEmpty();
      for (const toy of names) restocks.inc({ toy });
      if (names.length) o.logger.info({ event: 'restock', toys: names }, `restocked ${names.join(', ')}`);
      return names;
    },
  };
}

/** The restocker's messages: restock failures are errors. (The invalidator reports typed events; catalog/main.ts logs them.) */
export function restockerLog(logger: Logger): (msg: string) => void {
  return messageLogger(logger, [
    { pattern: /^catalog: restocked /, level: 'debug', fields: () => ({ event: 'restock_round' }) },
    { pattern: /^catalog: restock failed: (.*)$/, level: 'error', fields: (m) => ({ event: 'restock_failed', reason: m[1] }) },
  ]);
}

export function registerCatalogMetrics(registry: Registry, store: Pick<CatalogStore, 'list'>): void {
  gaugeFrom(registry, `${p}catalog_stock`, 'Units in stock, by toy', ['toy'], () => store.list().map((t) => [{ toy: t.name }, t.quantity] as const));
  gaugeFrom(registry, `${p}catalog_toys`, 'Toys in the catalog', [], () => store.list().length);
}
