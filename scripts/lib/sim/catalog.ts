/**
 * The real catalog in the simulation: `createCatalogStoreWith` (catalog/store.ts) over the
 * in-memory ledger and meta file, behind the real app (`createCatalogApp`), with the real
 * restocker on the catalog node's clock. Leaders reach it over the simulated network with their
 * real HTTP clients (order/peers.ts), so they really purchase, fence, list pending purchases,
 * reconcile and release.
 *
 * The memory ledger is durable at once (a record is in it before the purchase resolves), so a
 * crash of the catalog keeps the ledger and meta file as they are; a restart builds a new store
 * from them, as catalog/main.ts rebuilds its stock from the ledger file. No invalidator follows the
 * store's change feed: the simulation has no product cache (the chaos tool checks cached reads).
 */
import { createCatalogApp } from '../../../catalog/app.ts';
import { createMemoryMetaFile, MemoryLedger, type MetaFile } from '../../../catalog/ledger.ts';
import { createRestocker, type Restocker } from '../../../catalog/restocker.ts';
import { createCatalogStoreWith, type CatalogStore } from '../../../catalog/store.ts';
import type { Product } from '../../../shared/contracts.ts';
import type { ManualClock } from '../../../shared/clock.ts';
import type { FetchHandler, SimNetwork } from './network.ts';
import { nodeClock, type SimNode } from './node.ts';

export const CATALOG_HOST = 'catalog';
export const CATALOG_URL = `http://${CATALOG_HOST}`;

export class SimCatalogService {
  readonly ledger = new MemoryLedger();
  private readonly metaFile: MetaFile = createMemoryMetaFile();
  store!: CatalogStore;
  private fetch: FetchHandler | null = null;
  private restocker: Restocker | null = null;
  readonly initial: ReadonlyMap<string, number>;

  constructor(
    private readonly clock: ManualClock,
    private readonly node: SimNode,
    net: SimNetwork,
    private readonly products: readonly Product[],
    private readonly restockIntervalMs: number,
    private readonly trace: (line: string) => void,
  ) {
    this.initial = new Map(products.map((p) => [p.name, p.quantity]));
    net.serve(CATALOG_HOST, node.id, () => this.fetch);
    this.boot();
  }

  private boot(): void {
    this.store = createCatalogStoreWith(this.ledger, this.metaFile, { initial: this.products.map((p) => ({ ...p })) });
    this.fetch = createCatalogApp({ store: this.store }).fetch;
    this.restocker = createRestocker({
      store: this.store,
      clock: nodeClock(this.clock, this.node),
      intervalMs: this.restockIntervalMs,
      log: (m) => this.trace(m),
    });
    this.restocker.start();
  }

  crash(): void {
    this.node.crash();
    this.fetch = null;
    void this.restocker?.stop();
    this.restocker = null;
    this.trace('CRASH catalog');
  }

  restart(): void {
    this.node.restart();
    this.boot();
    this.trace(`RESTART catalog with ${this.ledger.length} ledger records`);
  }

  get up(): boolean {
    return this.node.up;
  }
}
