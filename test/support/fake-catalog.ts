/**
 * The one catalog twin of the tests: products in memory, answering both sides a catalog has. As
 * the frontend's `CatalogClient` it serves product reads (held back on request, or failing); as
 * the order leader's `CatalogPurchaser` it decrements stock once per key and records every call,
 * with a hook to intercept a purchase (crash the leader in the middle of an order). Tests that
 * need the real catalog's rules (fencing, accounting, the ledger) run the real app over its
 * memory store instead (test/support/stack.ts).
 */
import type { Product, PurchaseRequest, PurchaseResult } from '../../shared/contracts.ts';
import { insufficientStock, productNotFound } from '../../shared/errors.ts';
import type { CatalogClient } from '../../frontend/catalog-client.ts';
import type { CatalogPurchaser } from '../../order/peers.ts';
import { deferred, type Deferred } from './async.ts';

export class FakeCatalog implements CatalogClient, CatalogPurchaser {
  readonly stock = new Map<string, Product>();
  getCalls: string[] = [];
  listCalls = 0;
  /** Product reads throw this while set. */
  failWith: unknown = null;
  /** Every purchase asked for, in order (replays included). */
  calls: PurchaseRequest[] = [];
  /** The outcome of each key's purchase: a replay gets the same answer. */
  readonly seen = new Map<string, PurchaseResult>();
  /** Set to intercept a purchase (e.g. to crash the leader in the middle of an order). */
  before: ((req: PurchaseRequest) => Promise<void>) | null = null;
  private held: Deferred<Product>[] = [];

  constructor(products: Product[] = []) {
    for (const p of products) this.stock.set(p.name, { ...p });
  }

  /** Units of `name` in stock (0 for an unknown toy). */
  quantity(name: string): number {
    return this.stock.get(name)?.quantity ?? 0;
  }

  setQuantity(name: string, quantity: number): void {
    const p = this.stock.get(name);
    this.stock.set(name, { name, price: p?.price ?? 1, quantity });
  }

  /** The next getProduct call waits for the returned deferred instead of answering at once. */
  hold(): Deferred<Product> {
    const d = deferred<Product>();
    this.held.push(d);
    return d;
  }

  async getProduct(name: string): Promise<Product> {
    this.getCalls.push(name);
    const held = this.held.shift();
    if (held) return held.promise;
    if (this.failWith) throw this.failWith;
    const p = this.stock.get(name);
    if (!p) throw productNotFound();
    return { ...p };
  }

  async listProducts(): Promise<Product[]> {
    this.listCalls++;
    if (this.failWith) throw this.failWith;
    return [...this.stock.values()].map((p) => ({ ...p }));
  }

  async purchase(req: PurchaseRequest): Promise<PurchaseResult> {
    this.calls.push(req);
    if (this.before) await this.before(req);
    const done = this.seen.get(req.key);
    if (done) return done;
    const left = this.quantity(req.name);
    if (left < req.quantity) throw insufficientStock(req.name, left);
    this.setQuantity(req.name, left - req.quantity);
    const result = { name: req.name, quantity: left - req.quantity };
    this.seen.set(req.key, result);
    return result;
  }
}
