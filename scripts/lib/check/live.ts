/**
 * Live loading over HTTP: each replica's GET /internal/log and the catalog's GET /internal/ledger
 * and /products, paged. Only meaningful on a quiescent store. Takes an `HttpClient`, so tests
 * serve fakes in-process.
 */
import { z } from 'zod';
import { FetchLogResponseSchema, LedgerEntrySchema, ProductSchema, type OrderEntry, type Product } from '../../../shared/contracts.ts';
import { expectData, type HttpClient } from '../../../shared/http.ts';
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

/** Parses `1=http://127.0.0.1:8011,2=...` (the ORDER_REPLICAS format, shared/replica-list.ts), lowest id first. */
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

async function getData<T>(http: HttpClient, url: string, schema: z.ZodType<T>, what: string): Promise<T> {
  let res;
  try {
    res = await http({ method: 'GET', url, timeoutMs: LIVE_TIMEOUT_MS });
  } catch (err) {
    throw new CheckInputError(`${what}: ${url}: ${(err as Error).message}`);
  }
  try {
    return expectData(res, schema);
  } catch (err) {
    throw new CheckInputError(`${what}: ${url}: HTTP ${res.status}: ${(err as Error).message}`);
  }
}

/**
 * Pages through `GET {url}/internal/log?from=N&limit=…` until past `lastIndex`. If a page does not
 * continue the previous one (its prevCrc differs: the log was cut meanwhile), starts over.
 */
export async function fetchReplicaLog(http: HttpClient, target: ReplicaTarget, pageSize = LOG_PAGE_SIZE): Promise<ReplicaLog> {
  const name = `order-${target.id}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const entries: OrderEntry[] = [];
    let from = 0;
    let consistent = true;
    for (;;) {
      const page = await getData(http, `${target.url}/internal/log?from=${from}&limit=${pageSize}`, FetchLogResponseSchema, name);
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
  throw new CheckInputError(`${name}: its log kept changing while it was read; check a quiescent store`);
}

/**
 * A live ledger entry may claim a negative stock: let the checker report it rather than refuse the
 * page. If the catalog serves each entry's crc, the chain is checked live too.
 */
const LiveLedgerEntrySchema = LedgerEntrySchema.extend({ quantityAfter: z.number().int(), crc: z.number().int().nonnegative().optional() });
const LedgerPageSchema = z.object({ entries: z.array(LiveLedgerEntrySchema), lastSeq: z.number().int() });

/** Pages through `GET {catalog}/internal/ledger?from=SEQ&limit=N`; null when the catalog has no ledger (404). */
export async function fetchLedger(http: HttpClient, catalog: string, pageSize = LEDGER_PAGE_SIZE): Promise<LedgerRecord[] | null> {
  const out: LedgerRecord[] = [];
  let from = 0;
  for (;;) {
    const url = `${catalog}/internal/ledger?from=${from}&limit=${pageSize}`;
    if (out.length === 0) {
      let res;
      try {
        res = await http({ method: 'GET', url, timeoutMs: LIVE_TIMEOUT_MS });
      } catch (err) {
        throw new CheckInputError(`catalog: ${url}: ${(err as Error).message}`);
      }
      if (res.status === 404) return null;
    }
    const page = await getData(http, url, LedgerPageSchema, 'catalog ledger');
    out.push(...page.entries);
    if (page.entries.length === 0) break;
    from = page.entries[page.entries.length - 1]!.seq + 1;
    if (from > page.lastSeq) break;
  }
  return out;
}

export async function fetchProducts(http: HttpClient, catalog: string): Promise<Product[]> {
  return getData(http, `${catalog}/products`, z.array(ProductSchema.extend({ quantity: z.number().int() })), 'catalog products');
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

