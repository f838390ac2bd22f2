/**
 * The status page's two slow inputs, the stock (from the catalog) and the recent orders (from the
 * order replicas), each a small class that holds its last good answer.
 *
 * Why apart from frontend/status.ts: these are the only parts of a snapshot that wait on the
 * network, and the page must never make things worse while the store is failing over. So each
 * fetch runs single flight, is bounded by a timeout (`within`: the snapshot stops waiting, the
 * fetch keeps running and still lands for the next one), and a failed or late fetch leaves the
 * last good answer in place, marked stale. Orders are immutable once committed, so each is
 * fetched once and remembered (a bounded window below the leader's last index); none is fetched
 * while the frontend has no live leader.
 */
import type { Order, Product } from '../shared/contracts.ts';
import type { CatalogClient } from './catalog-client.ts';
import type { OrderRouter } from './types.ts';

/** Resolves with `p`'s value, or with `fallback` after `ms` (p keeps running). */
export function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
    timer.unref?.();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export interface StockAnswer {
  products: Product[];
  atMs: number | null;
  stale: boolean;
  error: string | null;
}

/** The stock of every toy: the last good answer, refreshed single flight. */
export class StockView {
  private answer: StockAnswer = { products: [], atMs: null, stale: true, error: null };
  private flight: Promise<void> | null = null;

  constructor(
    private readonly catalog: Pick<CatalogClient, 'listProducts'>,
    private readonly timeoutMs: number,
    private readonly now: () => number,
  ) {}

  /** What a snapshot shows: the latest answer, or the one before it marked stale. */
  current(): StockAnswer {
    return this.answer;
  }

  refresh(): Promise<void> {
    this.flight ??= this.fetch().finally(() => {
      this.flight = null;
    });
    return this.flight;
  }

  private async fetch(): Promise<void> {
    const TIMED_OUT = Symbol('timeout');
    try {
      const products = await within<Product[] | typeof TIMED_OUT>(
        this.catalog.listProducts(),
        this.timeoutMs,
        TIMED_OUT,
      );
      if (products === TIMED_OUT)
        this.answer = {
          ...this.answer,
          stale: true,
          error: `catalog did not answer within ${this.timeoutMs} ms`,
        };
      else this.answer = { products, atMs: this.now(), stale: false, error: null };
    } catch (err) {
      this.answer = { ...this.answer, stale: true, error: (err as Error).message };
    }
  }
}

/** Orders kept below the leader's last index; older ones are forgotten. */
const ORDERS_REMEMBERED = 50;

/** The most recent committed orders: each fetched once and remembered. */
export class RecentOrders {
  private readonly known = new Map<number, Order>();
  private readonly fetching = new Map<number, Promise<void>>();
  private stale = false;

  constructor(
    private readonly orders: Pick<OrderRouter, 'view' | 'getOrder'>,
    private readonly shown: number,
    private readonly timeoutMs: number,
  ) {}

  /**
   * The newest `shown` orders known, newest first, and whether some could not be fetched in time.
   */
  current(): { recent: Order[]; stale: boolean } {
    const recent = [...this.known.values()]
      .sort((a, b) => b.number - a.number)
      .slice(0, this.shown);
    return { recent, stale: this.stale };
  }

  async refresh(): Promise<void> {
    const last = this.leaderLastIndex();
    if (last === null) {
      this.stale = true;
      return;
    }
    const wanted: number[] = [];
    for (let n = last; n >= 0 && n > last - this.shown; n--) if (!this.known.has(n)) wanted.push(n);
    const results = await Promise.all(
      wanted.map((n) =>
        within(
          this.fetchOnce(n).then(() => true),
          this.timeoutMs,
          false,
        ),
      ),
    );
    this.stale = results.includes(false);
    for (const n of this.known.keys()) if (n <= last - ORDERS_REMEMBERED) this.known.delete(n);
  }

  /** The live leader's last index; null while there is none (nothing is fetched then). */
  private leaderLastIndex(): number | null {
    const v = this.orders.view();
    const leader = v.replicas.find((r) => r.id === v.leaderId);
    return leader && leader.state === 'up' && !v.electing ? leader.lastIndex : null;
  }

  /** One flight per order number; a failed fetch is forgotten so the next refresh tries again. */
  private fetchOnce(n: number): Promise<void> {
    let flight = this.fetching.get(n);
    if (!flight) {
      flight = this.orders
        .getOrder(n)
        .then(
          (order) => void this.known.set(n, order),
          () => {},
        )
        .finally(() => this.fetching.delete(n));
      this.fetching.set(n, flight);
    }
    return flight;
  }
}
