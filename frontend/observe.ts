/**
 * What the frontend shows about itself, wired by frontend/build.ts without changing the cache, the
 * router or the apps:
 *
 * - `ObservedProductCache`: the ProductCache, plus a short memory of what happened to it (fills,
 *   LRU evictions, invalidations, with times) for the status page, and one log line per
 *   invalidation. An eviction is seen as a toy leaving the cache other than through
 *   `invalidate`: every change to the LRU happens inside `get` or `invalidate`, so comparing the
 *   cached names with the last snapshot after each of them attributes every change.
 * - `frontendMetrics`: cache counters and the leader election view as Prometheus metrics, read
 *   from cache.stats() and router.view()/history() at scrape time.
 * - `routerEventLogger`: the order router's events as structured lines (leader changes, elections).
 * - `freshnessEventLogger`: the catalog feed's silences, recoveries and gaps as lines.
 */
import type { Logger } from 'pino';
import { ProductCache, type ProductCacheOptions } from './cache.ts';
import type { Product } from '../shared/contracts.ts';
import type { FreshnessEvent } from './freshness.ts';
import { describeRouterEvent, type RouterEvent } from './router-events.ts';
import { counterFrom, gaugeFrom, METRIC_PREFIX, type Registry } from '../shared/metrics.ts';
import type { OrderRouter } from './types.ts';

export type CacheEventKind = 'fill' | 'evict' | 'invalidate';
export interface CacheEvent {
  /** Wall-clock ms (Date.now()). */
  atMs: number;
  kind: CacheEventKind;
  name: string;
  /** For an eviction: the toy whose arrival pushed it out. */
  by?: string;
}

export interface ObservedCacheOptions {
  logger?: Logger;
  /** How many events to remember. Default 50. */
  maxEvents?: number;
  now?: () => number;
}

export class ObservedProductCache extends ProductCache {
  private readonly recent: CacheEvent[] = [];
  private snapshot = new Set<string>();
  private readonly logger: Logger | undefined;
  private readonly maxEvents: number;
  private readonly now: () => number;

  constructor(opts: ProductCacheOptions, observe: ObservedCacheOptions = {}) {
    super(opts);
    this.logger = observe.logger;
    this.maxEvents = observe.maxEvents ?? 50;
    this.now = observe.now ?? Date.now;
  }

  override async get(name: string, requestId?: string): Promise<Product> {
    // A disabled cache never holds a toy: nothing can change, nothing to compare.
    if (!this.enabled) return super.get(name, requestId);
    // A hit changes no membership (no fill, no eviction), so only a miss needs the comparison,
    // which lists every key: doing it on every hit cost about 5 % of a cached query's CPU.
    const hit = this.peek(name) !== undefined;
    try {
      return await super.get(name, requestId);
    } finally {
      if (!hit || this.peek(name) === undefined) this.noteChanges();
    }
  }

  /**
   * `requestId`: the request that caused it (a catalog notice, an operator's call), for the log
   * line.
   */
  override invalidate(name: string, requestId?: string): void {
    this.noteChanges();
    const wasCached = this.snapshot.has(name);
    super.invalidate(name);
    this.snapshot.delete(name);
    this.push('invalidate', name);
    // Dropping a toy that was not cached changes nothing a person could see (each order causes
    // two invalidations: the frontend's own and the catalog's notice): debug, not a line each.
    const level = wasCached ? 'info' : 'debug';
    if (this.logger?.isLevelEnabled(level)) {
      this.logger[level](
        {
          event: 'cache_invalidate',
          toy: name,
          wasCached,
          ...(requestId !== undefined && { reqId: requestId }),
        },
        `cache: invalidated ${name}${wasCached ? '' : ' (was not cached)'}`,
      );
    }
  }

  /** What happened lately, oldest first. */
  events(): CacheEvent[] {
    return [...this.recent];
  }

  /**
   * Compares the cached names with the last snapshot: new ones were filled, missing ones evicted.
   */
  private noteChanges(): void {
    const now = new Set(this.keys());
    const added = [...now].filter((name) => !this.snapshot.has(name));
    for (const name of this.snapshot) {
      if (!now.has(name)) {
        this.push('evict', name, added[0]);
        this.logger?.debug(
          { event: 'cache_evict', toy: name, by: added[0] },
          `cache: evicted ${name} (least recently used)`,
        );
      }
    }
    for (const name of added) this.push('fill', name);
    this.snapshot = now;
  }

  private push(kind: CacheEventKind, name: string, by?: string): void {
    this.recent.push(
      by === undefined ? { atMs: this.now(), kind, name } : { atMs: this.now(), kind, name, by },
    );
    if (this.recent.length > this.maxEvents)
      this.recent.splice(0, this.recent.length - this.maxEvents);
  }
}

export interface FrontendMetricsDeps {
  cache: Pick<ProductCache, 'stats'>;
  orders: Pick<OrderRouter, 'view'> & { readonly changeCount: number };
}

/** Registers the frontend's own metrics (the HTTP ones come from shared/observability.ts). */
export function registerFrontendMetrics(registry: Registry, deps: FrontendMetricsDeps): void {
  registerCacheMetrics(registry, deps.cache);
  registerLeaderMetrics(registry, deps.orders);
}

/** Cache counters and size, read from cache.stats() at scrape time. */
function registerCacheMetrics(registry: Registry, cache: FrontendMetricsDeps['cache']): void {
  const p = METRIC_PREFIX;
  const stats = () => cache.stats();
  counterFrom(
    registry,
    `${p}cache_hits_total`,
    'Product queries answered from the cache',
    [],
    () => stats().hits,
  );
  counterFrom(
    registry,
    `${p}cache_misses_total`,
    'Product queries that went to the catalog',
    [],
    () => stats().misses,
  );
  counterFrom(
    registry,
    `${p}cache_evictions_total`,
    'Toys dropped from the cache to make room (least recently used)',
    [],
    () => stats().evictions,
  );
  counterFrom(
    registry,
    `${p}cache_invalidations_total`,
    'Cache invalidations (pushed by the catalog or after an order)',
    [],
    () => stats().invalidations,
  );
  gaugeFrom(registry, `${p}cache_entries`, 'Toys in the cache now', [], () => stats().size);
  gaugeFrom(
    registry,
    `${p}cache_capacity`,
    'Most toys the cache holds',
    [],
    () => stats().capacity,
  );
}

/** The leader election view, read from router.view() at scrape time. */
function registerLeaderMetrics(registry: Registry, orders: FrontendMetricsDeps['orders']): void {
  const p = METRIC_PREFIX;
  const view = () => orders.view();
  gaugeFrom(
    registry,
    `${p}leader_id`,
    'Order replica the frontend routes orders to (0: none)',
    [],
    () => view().leaderId ?? 0,
  );
  gaugeFrom(
    registry,
    `${p}epoch`,
    'Epoch of the current order leader (0: none)',
    [],
    () => view().epoch ?? 0,
  );
  gaugeFrom(registry, `${p}electing`, '1 while the frontend runs an election', [], () =>
    view().electing ? 1 : 0,
  );
  counterFrom(
    registry,
    `${p}leader_changes_total`,
    'Times the frontend saw the order leader change (including to none)',
    [],
    () => orders.changeCount,
  );
  gaugeFrom(
    registry,
    `${p}replica_up`,
    'Whether the order replica answered the last status probe',
    ['replica'],
    () => view().replicas.map((r) => [{ replica: r.id }, r.state === 'up' ? 1 : 0] as const),
  );
  gaugeFrom(
    registry,
    `${p}replica_last_index`,
    "Last order index in each replica's log, as last probed (-1: empty)",
    ['replica'],
    () =>
      view()
        .replicas.filter((r) => r.lastIndex !== null)
        .map((r) => [{ replica: r.id }, r.lastIndex!] as const),
  );
}

/** The order router's events (frontend/router-events.ts) as structured lines. */
export function routerEventLogger(logger: Logger): (e: RouterEvent) => void {
  return (e) => {
    const { level, msg } = describeRouterEvent(e);
    const { type, ...fields } = e;
    logger[level]({ event: type, ...fields }, msg);
  };
}

/** The catalog feed's freshness events (frontend/freshness.ts) as structured lines. */
export function freshnessEventLogger(logger: Logger): (e: FreshnessEvent) => void {
  return (e) => {
    if (e.kind === 'catalog_silent')
      logger.warn(
        { event: e.kind, silentMs: e.silentMs, seq: e.seq },
        `no word from the catalog for ${e.silentMs} ms: answering product queries from the catalog, caching nothing`,
      );
    else if (e.kind === 'catalog_heard')
      logger.info({ event: e.kind, seq: e.seq }, `catalog heard at change ${e.seq}: caching`);
    else
      logger.warn(
        { event: e.kind, heardSeq: e.heardSeq, sinceSeq: e.sinceSeq, seq: e.seq },
        `missed catalog changes (heard up to ${e.heardSeq}, catalog vouches from ${e.sinceSeq}): cache emptied`,
      );
  };
}
