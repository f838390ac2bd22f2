/**
 * The frontend's read-through product cache: an LRU of at most `maxSize` toys, filled on demand
 * by an injected loader (the catalog client) and emptied per toy by invalidations.
 *
 * Why it is shaped so:
 * - A true LRU (lru-cache v11, `max` entries): a hit moves the toy to the front, the least
 *   recently used toy is evicted. Evictions are counted from lru-cache's `dispose` with reason
 *   'evict' (not 'delete' or 'set', which are invalidations and replacements).
 * - Only successful loads are stored. A 404 or a network failure is thrown to the caller and
 *   forgotten, so a toy that appears later, or a catalog that comes back, is seen at once.
 * - Single flight: concurrent misses for one toy share one load, so a burst of queries for a
 *   cold toy costs the catalog one request.
 * - The stale-fill race: a load that was in flight when an invalidation for the same toy arrived
 *   may carry the stock from before the change, and must not be stored. This is the per-name
 *   generation check, with the generation held on the load itself: `invalidate` marks the
 *   toy's current load as superseded and detaches it, and a load stores its value only if it
 *   was never superseded. (Keeping the mark on the in-flight record rather than in a map of
 *   counters keyed by name keeps memory bounded by the loads in flight, whatever names clients
 *   send.) A caller whose load was superseded while it waited loads again (joining any newer
 *   load), a few times at most, so a query that began before the invalidation but finishes
 *   after it still returns post-invalidation stock in the common case.
 * - `enabled: false` turns it into a pass-through: every get calls the loader, nothing is kept.
 * - `trusted` (frontend/freshness.ts) is the same pass-through, switched at run time: while the
 *   frontend cannot vouch that it hears about the catalog's changes (nothing heard lately), a
 *   get goes to the loader, stores nothing and empties what was kept, so no answer can be staler
 *   than the freshness rule allows. `invalidateAll` is what a detected gap calls.
 */
import { LRUCache } from 'lru-cache';
import type { Product } from '../shared/contracts.ts';

/** `requestId`: the client request that needs the toy (the first, when several share one load). */
export type ProductLoader = (name: string, requestId?: string) => Promise<Product>;

export interface ProductCacheOptions {
  /** Most toys kept at once (lru-cache `max`); a positive integer. */
  maxSize: number;
  /** False: every get goes to the loader and nothing is stored. Default true. */
  enabled?: boolean;
  /** Fetches one toy from the source of truth; throws (e.g. a 404 AppError) when it cannot. */
  loader: ProductLoader;
  /**
   * False while entries may not be served or kept (see the module comment). Default: always true.
   */
  trusted?: () => boolean;
}

export interface ProductCacheStats {
  size: number;
  capacity: number;
  enabled: boolean;
  /** False while the cache is bypassed because the catalog has not been heard lately. */
  trusted: boolean;
  hits: number;
  misses: number;
  evictions: number;
  invalidations: number;
}

/** One load in flight. `superseded` flips when an invalidation for the toy arrives meanwhile. */
interface Flight {
  promise: Promise<Product>;
  superseded: boolean;
}

/** How many loads one get may run when invalidations keep superseding them. */
const MAX_LOAD_ATTEMPTS = 3;

export class ProductCache {
  readonly capacity: number;
  readonly enabled: boolean;
  private readonly loader: ProductLoader;
  private readonly isTrusted: () => boolean;
  private readonly lru: LRUCache<string, Product>;
  private readonly inflight = new Map<string, Flight>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private invalidations = 0;

  constructor(opts: ProductCacheOptions) {
    if (!Number.isInteger(opts.maxSize) || opts.maxSize < 1) {
      throw new RangeError(`cache maxSize must be a positive integer, got ${opts.maxSize}`);
    }
    this.capacity = opts.maxSize;
    this.enabled = opts.enabled ?? true;
    this.loader = opts.loader;
    this.isTrusted = opts.trusted ?? (() => true);
    this.lru = new LRUCache<string, Product>({
      max: opts.maxSize,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.evictions++;
      },
    });
  }

  /**
   * The toy if the cache may answer for it now (a hit: counted, and its recency refreshed);
   * undefined otherwise, and then nothing is counted: `get` is what a miss calls. Synchronous,
   * so a cached answer needs no promise (frontend/app.ts).
   */
  hit(name: string): Product | undefined {
    if (!this.enabled || !this.isTrusted()) return undefined;
    const cached = this.lru.get(name);
    if (cached !== undefined) this.hits++;
    return cached;
  }

  /** The toy, from the cache if present (a hit refreshes its recency), else from the loader. */
  async get(name: string, requestId?: string): Promise<Product> {
    if (!this.enabled) {
      this.misses++;
      return this.loader(name, requestId);
    }
    if (!this.isTrusted()) {
      this.misses++;
      if (this.lru.size > 0 || this.inflight.size > 0) this.invalidateAll();
      return this.loader(name, requestId);
    }
    const cached = this.hit(name);
    if (cached !== undefined) return cached;
    this.misses++;
    for (let attempt = 1; ; attempt++) {
      const flight = this.inflight.get(name) ?? this.startLoad(name, requestId);
      const value = await flight.promise;
      if (!flight.superseded || attempt >= MAX_LOAD_ATTEMPTS) return value;
      // Superseded while we waited: the value may predate the change. A newer load may already
      // have filled the cache; otherwise join or start one.
      const fresh = this.lru.get(name);
      if (fresh !== undefined) return fresh;
    }
  }

  /** Drops the toy and supersedes any load of it in flight, so that load stores nothing. */
  invalidate(name: string, _requestId?: string): void {
    this.invalidations++;
    const flight = this.inflight.get(name);
    if (flight) {
      flight.superseded = true;
      this.inflight.delete(name);
    }
    this.lru.delete(name);
  }

  /** Drops every toy and supersedes every load in flight (a gap in the catalog's change feed). */
  invalidateAll(): void {
    // One invalidate per toy, so a subclass that observes invalidations sees each of them.
    for (const name of new Set([...this.lru.keys(), ...this.inflight.keys()]))
      this.invalidate(name);
  }

  /** The cached value without touching recency or counters (for inspection and tests). */
  peek(name: string): Product | undefined {
    return this.lru.peek(name);
  }

  /** Cached toy names, most recently used first. */
  keys(): string[] {
    return [...this.lru.keys()];
  }

  stats(): ProductCacheStats {
    return {
      size: this.lru.size,
      capacity: this.capacity,
      enabled: this.enabled,
      trusted: !this.enabled || this.isTrusted(),
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      invalidations: this.invalidations,
    };
  }

  private startLoad(name: string, requestId?: string): Flight {
    // Registered before the loader runs, so even a loader that throws synchronously unregisters it.
    const flight = { superseded: false } as Flight;
    this.inflight.set(name, flight);
    flight.promise = this.load(name, flight, requestId);
    return flight;
  }

  private async load(name: string, flight: Flight, requestId?: string): Promise<Product> {
    try {
      const value = Object.freeze({ ...(await this.loader(name, requestId)) });
      // Store only if no invalidation for this toy arrived since the load began, and the cache
      // may still keep entries.
      if (!flight.superseded && this.isTrusted()) this.lru.set(name, value);
      return value;
    } finally {
      if (this.inflight.get(name) === flight) this.inflight.delete(name);
    }
  }
}
