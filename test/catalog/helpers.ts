/**
 * Test helpers for the catalog: temp data dirs, a recording fake HttpClient, and a reader for the
 * products file as it is on disk (what a restarted catalog would see).
 */
import fs from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Product } from '../../shared/contracts.ts';
import type { HttpClient, HttpRequest, HttpResponse } from '../../shared/http.ts';
import { PRODUCTS_FILE, parseProductsCsv } from '../../catalog/store.ts';
import { LEDGER_FILE, ledgerCodec } from '../../catalog/ledger.ts';
import { initialToys } from '../../catalog/toys.ts';
import { parseWal } from '../../shared/wal.ts';

export async function makeTempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'toystore-catalog-'));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

/**
 * The stock a restarted catalog would see: the initial toys with the durable ledger replayed over
 * them (the ledger is the truth; products.csv is a snapshot written after it).
 */
export function readDisk(dir: string): Map<string, Product> {
  const products = new Map(initialToys().map((p) => [p.name, p]));
  const file = path.join(dir, LEDGER_FILE);
  if (!existsSync(file)) return products;
  for (const e of parseWal(file, readFileSync(file), ledgerCodec).records)
    products.get(e.name)!.quantity = e.quantityAfter;
  return products;
}

/** The products snapshot file as it is right now, parsed strictly. */
export function readSnapshot(dir: string): Map<string, Product> {
  const products = parseProductsCsv(readFileSync(path.join(dir, PRODUCTS_FILE), 'utf8'));
  return new Map(products.map((p) => [p.name, p]));
}

export function diskQuantity(dir: string, name: string): number | undefined {
  return readDisk(dir).get(name)?.quantity;
}

export interface RecordingHttp {
  http: HttpClient;
  calls: HttpRequest[];
}

/** A fake HttpClient that records every request; `respond` decides the outcome (default 200). */
export function recordingHttp(
  respond: (req: HttpRequest) => Promise<HttpResponse> | HttpResponse = () => ok(),
): RecordingHttp {
  const calls: HttpRequest[] = [];
  const http: HttpClient = async (req) => {
    calls.push(req);
    return respond(req);
  };
  return { http, calls };
}

export function ok(): HttpResponse {
  return { status: 200, headers: {}, body: { data: { ok: true } } };
}

export { deferred, type Deferred } from '../support/async.ts';

export function purchaseBody(name: string, quantity: number, key: string, epoch = 1) {
  return { name, quantity, key, epoch };
}

/** POST /purchases with a JSON (or raw string) body, returning status and parsed body. */
export async function post(
  app: { request(path: string, init?: RequestInit): Response | Promise<Response> },
  body: unknown,
): Promise<{ status: number; body: any }> {
  const res = await app.request('/purchases', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

export async function get(
  app: { request(path: string, init?: RequestInit): Response | Promise<Response> },
  url: string,
): Promise<{ status: number; body: any }> {
  const res = await app.request(url);
  return { status: res.status, body: await res.json() };
}
