/**
 * The real catalog in the simulation: catalog/build.ts's `buildCatalog`, the composition
 * catalog/main.ts serves (every route, the restocker on the catalog node's clock), over
 * `createCatalogStoreWith` (catalog/store.ts) with the in-memory ledger and meta file. Leaders
 * reach it over the simulated network with their real HTTP clients (order/peers.ts), so they
 * really purchase (in batches, `POST /purchases/batch`), fence, list pending purchases,
 * reconcile and release.
 *
 * The memory ledger is durable at once (a record is in it before the purchase resolves), so a
 * crash of the catalog keeps the ledger and meta file as they are; a restart builds a new store
 * from them, as catalog/main.ts rebuilds its stock from the ledger file. The invalidator has no
 * frontend to push to: the simulation has no product cache (the chaos tool checks cached reads).
 */
import { buildCatalog, type BuiltCatalog } from '../../../catalog/build.ts';
import { describeCatalogEvent } from '../../../catalog/events.ts';
import { createMemoryMetaFile, MemoryLedger, type MetaFile } from '../../../catalog/ledger.ts';
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
  private built: BuiltCatalog | null = null;
  readonly initial: ReadonlyMap<string, number>;

  constructor(
    private readonly clock: ManualClock,
    private readonly node: SimNode,
    private readonly net: SimNetwork,
    private readonly products: readonly Product[],
    private readonly restockIntervalMs: number,
    private readonly trace: (line: string) => void,
  ) {
    this.initial = new Map(products.map((p) => [p.name, p.quantity]));
    net.serve(CATALOG_HOST, node.id, () => this.fetch);
    this.boot();
  }

  private boot(): void {
    this.store = createCatalogStoreWith(this.ledger, this.metaFile, {
      initial: this.products.map((p) => ({ ...p })),
    });
    this.built = buildCatalog(
      { frontendUrls: [], restockIntervalMs: this.restockIntervalMs },
      {
        clock: nodeClock(this.clock, this.node),
        http: this.net.httpClient(this.node.id),
        store: this.store,
        onEvent: (e) => this.trace(`catalog: ${describeCatalogEvent(e).msg}`),
      },
    );
    this.fetch = this.built.app.fetch;
    this.built.start();
  }

  crash(): void {
    this.node.crash();
    this.fetch = null;
    // Only its timers end: a killed process flushes nothing (the memory ledger holds what it
    // wrote).
    void this.built?.restocker.stop();
    void this.built?.invalidator.stop();
    this.built = null;
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
