/**
 * Live loading over HTTP: each replica's GET /internal/log and the catalog's GET /internal/ledger
 * and /products, paged. Only meaningful on a quiescent store. Takes an `HttpClient`, so tests
 * serve fakes in-process; these are internal routes, so the CLI passes one that carries the
 * cluster credential (shared/auth.ts `withClusterCredential`).
 *
 * Paths, methods and the log's schema come from the route tables (shared/protocol/). The ledger
 * and the stock are read with the tables' schemas widened to any integer stock: an auditor reads
 * what the store sent, so a negative stock is reported as a violation, not refused at the door.
 */
import { z } from 'zod';
import { ProductSchema, type OrderEntry, type Product } from '../../../shared/contracts.ts';
import { expectData, type HttpClient, type HttpResponse } from '../../../shared/http.ts';
import { catalogRoutes } from '../../../shared/protocol/catalog.ts';
import { createRouteClient } from '../../../shared/protocol/client.ts';
import { orderRoutes } from '../../../shared/protocol/order.ts';
import { parseReplicaList as parseReplicas } from '../../../shared/replica-list.ts';
import type { LedgerRecord } from '../invariants/index.ts';
import { CheckInputError, type ReplicaLog, type Snapshot } from './snapshot.ts';

export const LOG_PAGE_SIZE = 2_000;
export const LEDGER_PAGE_SIZE = 2_000;
const LIVE_TIMEOUT_MS = 15_000;

export interface ReplicaTarget {
  id: number;
  url: string;
}

/**
 * Parses `1=http://127.0.0.1:8011,2=...` (the ORDER_REPLICAS format, shared/replica-list.ts),
 * lowest id first.
 */
export function parseReplicaList(s: string): ReplicaTarget[] {
  const { replicas, problems } = parseReplicas(s, '--replicas');
  if (problems.length) throw new CheckInputError(problems[0]!);
  return replicas.map(({ id, url }) => ({ id, url })).sort((a, b) => a.id - b.id);
}

export function httpOrigin(flag: string, raw: string): string {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    return u.origin;
  } catch {
    throw new CheckInputError(`${flag}: ${JSON.stringify(raw)} is not an http:// URL`);
  }
}

const timeout = { timeoutMs: LIVE_TIMEOUT_MS };

/** Sends one call; a network failure is an input error naming what and where. */
async function reach(
  send: () => Promise<HttpResponse>,
  what: string,
  where: string,
): Promise<HttpResponse> {
  try {
    return await send();
  } catch (err) {
    throw new CheckInputError(`${what}: ${where}: ${(err as Error).message}`);
  }
}

function dataOf<T>(
  res: HttpResponse,
  read: (res: HttpResponse) => T,
  what: string,
  where: string,
): T {
  try {
    return read(res);
  } catch (err) {
    const hint =
      res.status === 401 || res.status === 403
        ? " (set CLUSTER_SECRET or CLUSTER_SECRET_FILE to the cluster's secret)"
        : '';
    throw new CheckInputError(
      `${what}: ${where}: HTTP ${res.status}: ${(err as Error).message}${hint}`,
    );
  }
}

/**
 * Pages through `GET {url}/internal/log?from=N&limit=…` until past `lastIndex`. If a page does not
 * continue the previous one (its prevCrc differs: the log was cut meanwhile), starts over.
 */
export async function fetchReplicaLog(
  http: HttpClient,
  target: ReplicaTarget,
  pageSize = LOG_PAGE_SIZE,
): Promise<ReplicaLog> {
  const name = `order-${target.id}`;
  const replica = createRouteClient(http, orderRoutes);
  for (let attempt = 0; attempt < 3; attempt++) {
    const entries: OrderEntry[] = [];
    let from = 0;
    let consistent = true;
    for (;;) {
      const where = `${target.url}${orderRoutes.fetchLog.path}?from=${from}`;
      const res = await reach(
        () => replica.send(target.url, 'fetchLog', { query: { from, limit: pageSize } }, timeout),
        name,
        where,
      );
      const page = dataOf(res, (r) => replica.data('fetchLog', r), name, where);
      if (from > 0 && page.prevCrc !== entries[from - 1]!.crc) {
        consistent = false;
        break;
      }
      entries.push(...page.entries);
      from += page.entries.length;
      if (page.entries.length === 0 || from > page.lastIndex) break;
    }
    if (consistent) return { id: target.id, name, entries, raw: null, problems: [], notes: [] };
  }
  throw new CheckInputError(
    `${name}: its log kept changing while it was read; check a quiescent store`,
  );
}

/**
 * A live ledger entry may claim a negative stock: let the checker report it rather than refuse the
 * page. If the catalog serves each entry's crc, the chain is checked live too.
 */
const LedgerPage = catalogRoutes.ledger.response;
const LiveLedgerEntrySchema = LedgerPage.shape.entries.element.extend({
  quantityAfter: z.number().int(),
  crc: z.number().int().nonnegative().optional(),
});
const LiveLedgerPageSchema = LedgerPage.extend({ entries: z.array(LiveLedgerEntrySchema) });
const LiveProductsSchema = z.array(ProductSchema.extend({ quantity: z.number().int() }));

/**
 * Pages through `GET {catalog}/internal/ledger?from=SEQ&limit=N`; null when the catalog has no
 * ledger (404).
 */
export async function fetchLedger(
  http: HttpClient,
  catalog: string,
  pageSize = LEDGER_PAGE_SIZE,
): Promise<LedgerRecord[] | null> {
  const out: LedgerRecord[] = [];
  const client = createRouteClient(http, catalogRoutes);
  let from = 0;
  for (;;) {
    const where = `${catalog}${catalogRoutes.ledger.path}?from=${from}`;
    const res = await reach(
      () => client.send(catalog, 'ledger', { query: { from, limit: pageSize } }, timeout),
      'catalog',
      where,
    );
    if (out.length === 0 && res.status === 404) return null;
    const page = dataOf(res, (r) => expectData(r, LiveLedgerPageSchema), 'catalog ledger', where);
    out.push(...page.entries);
    if (page.entries.length === 0) break;
    from = page.entries[page.entries.length - 1]!.seq + 1;
    if (from > page.lastSeq) break;
  }
  return out;
}

export async function fetchProducts(http: HttpClient, catalog: string): Promise<Product[]> {
  const client = createRouteClient(http, catalogRoutes);
  const where = `${catalog}${catalogRoutes.listProducts.path}`;
  const res = await reach(
    () => client.send(catalog, 'listProducts', {}, timeout),
    'catalog products',
    where,
  );
  return dataOf(res, (r) => expectData(r, LiveProductsSchema), 'catalog products', where);
}

export interface LiveSources {
  replicas: ReplicaTarget[];
  /** Catalog origin; without it the stock checks are skipped. */
  catalog?: string;
  http: HttpClient;
}

export async function loadLive(src: LiveSources): Promise<Snapshot> {
  const replicas = await Promise.all(src.replicas.map((r) => fetchReplicaLog(src.http, r)));
  const snap: Snapshot = {
    mode: 'live',
    source: src.replicas.map((r) => `${r.id}=${r.url}`).join(','),
    replicas,
    ledger: null,
    ledgerSkipped: null,
    catalogProblems: [],
    products: null,
    notes: [],
  };
  if (!src.catalog) {
    snap.ledgerSkipped = 'no catalog given';
    return snap;
  }
  const catalog = httpOrigin('--catalog', src.catalog);
  const ledger = await fetchLedger(src.http, catalog);
  if (ledger === null) {
    snap.ledgerSkipped = 'no ledger';
    return snap;
  }
  snap.ledger = ledger;
  snap.products = await fetchProducts(src.http, catalog);
  return snap;
}
