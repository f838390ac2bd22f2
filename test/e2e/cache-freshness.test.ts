/**
 * Cache freshness after a partition, on real processes (issue 10): the catalog → frontend link
 * (invalidation pushes) runs through a fault proxy; while it is cut, stock changes under the
 * frontend's cached entries (orders placed at the leader directly, as another frontend would,
 * and restocks of sold-out toys), then the link heals and we time how long until every cached
 * entry matches the catalog. Before this fix a lost push left an entry stale until the next
 * order of that toy (60+ s in the run).
 *
 * The figures are printed (they are what the README reports); the test asserts convergence
 * within a generous deadline, not speed. Three kinds of cut: a blackhole (pushes hang until the
 * catalog's timeout), resets (pushes fail at once), and one longer than the frontend's silence
 * bound (it must stop answering from its cache during the cut).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../scripts/lib/cluster/index.ts';
import {
  PASS,
  startFaultProxy,
  type FaultMode,
  type FaultProxy,
} from '../../scripts/lib/fault-proxy/proxy.ts';
import { CHANGE_SILENCE_MS } from '../../shared/contracts.ts';
import { until as pollUntil } from '../support/async.ts';
import { clusterCredential } from '../../shared/auth.ts';

const TOYS = ['Tux', 'Barbie', 'Lego', 'Monopoly', 'Frisbee', 'Slinky', 'Yo-Yo']; // = CACHE_SIZE: no evictions
const CONVERGE_DEADLINE_MS = 15_000;

let dir: string;
let proxy: FaultProxy;
let cluster: Cluster;
const output: string[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-freshness-'));
  proxy = await startFaultProxy({ target: null });
  cluster = await startCluster({
    dataDir: dir,
    heartbeatIntervalMs: 100,
    restockIntervalMs: 500,
    env: { CACHE_SIZE: String(TOYS.length), LOG_LEVEL: 'warn' },
    output: (s, l) => output.push(`[${s}] ${l}`),
    links: (from, to, realUrl) => {
      if (from !== 'catalog' || to !== 'frontend') return realUrl;
      proxy.setTarget(realUrl);
      return proxy.url;
    },
  });
  await until(
    'the frontend trusts its cache',
    async () => (await json(`${cluster.urls.frontend}/health`)).data.cache.trusted === true,
  );
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  await proxy?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/**
 * The launcher's cluster secret: the catalog's products and a leader's orders are internal routes.
 */
const credential = () => ({ authorization: clusterCredential(cluster.clusterSecret!).header });

async function json(url: string, init?: RequestInit): Promise<any> {
  const res = await fetch(url, { ...init, headers: { ...credential(), ...init?.headers } });
  return res.json();
}

const until = (what: string, cond: () => Promise<boolean>, timeoutMs = 20_000) =>
  pollUntil(what, cond, {
    deadlineMs: timeoutMs,
    everyMs: 10,
    context: () => output.slice(-30).join('\n'),
  });

/**
 * Cached entries (from the status page's LRU view, which touches nothing) that differ from the
 * catalog.
 */
async function staleEntries(): Promise<{ cached: number; stale: string[] }> {
  const [status, catalog] = await Promise.all([
    json(`${cluster.urls.frontend}/status.json`),
    json(`${cluster.urls.catalog}/products`),
  ]);
  const stock = new Map<string, number>(
    catalog.data.map((p: { name: string; quantity: number }) => [p.name, p.quantity]),
  );
  const lru = status.data.cache.lru as Array<{ name: string; quantity: number }>;
  return {
    cached: lru.length,
    stale: lru.filter((e) => e.quantity !== stock.get(e.name)).map((e) => e.name),
  };
}

let keys = 0;
/**
 * An order placed at the leader directly, as another frontend would: this frontend hears of it only
 * by push.
 */
async function orderAtLeader(name: string, quantity: number): Promise<void> {
  let health: any;
  await until(
    'a leader',
    async () => (health = await json(`${cluster.urls.frontend}/health`)).data.leaderId !== null,
  );
  const leader = cluster.urls.replicas[health.data.leaderId as 1 | 2 | 3];
  const res = await fetch(`${leader}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...credential() },
    body: JSON.stringify({ name, quantity, key: `freshness-${++keys}`, epoch: health.data.epoch }),
  });
  await res.text();
  expect([200, 409]).toContain(res.status);
}

const warm = async () => {
  for (const t of TOYS)
    expect((await fetch(`${cluster.urls.frontend}/products/${t}`)).status).toBe(200);
};

/**
 * One cut of `cutMs` in `mode` with changes under the cache; returns ms from heal to every entry
 * fresh.
 */
async function cutAndHeal(
  mode: FaultMode,
  cutMs: number,
): Promise<{ healMs: number; cutMs: number; staleAtHeal: number; trustedAtHeal: boolean }> {
  await warm();
  await until('a fresh cache', async () => (await staleEntries()).stale.length === 0);
  proxy.setMode(mode);
  const cutAt = performance.now();
  const stock = new Map<string, number>(
    (await json(`${cluster.urls.catalog}/products`)).data.map(
      (p: { name: string; quantity: number }) => [p.name, p.quantity],
    ),
  );
  // Sell one toy out (the restocker refills it during the cut) and nibble at three others.
  await orderAtLeader('Frisbee', stock.get('Frisbee')!);
  for (const t of ['Tux', 'Lego', 'Slinky']) await orderAtLeader(t, 1);
  while (performance.now() - cutAt < cutMs) {
    await warm(); // keep the entries cached (and, past the silence bound, see the bypass)
    await new Promise((r) => setTimeout(r, 100));
  }
  const atHeal = await staleEntries();
  const trustedAtHeal = (await json(`${cluster.urls.frontend}/health`)).data.cache
    .trusted as boolean;
  proxy.setMode(PASS);
  const actualCutMs = Math.round(performance.now() - cutAt);
  const healMs = await until(
    'every cached entry matches the catalog',
    async () => (await staleEntries()).stale.length === 0,
    CONVERGE_DEADLINE_MS,
  );
  return {
    healMs: Math.round(healMs),
    cutMs: actualCutMs,
    staleAtHeal: atHeal.stale.length,
    trustedAtHeal,
  };
}

describe('after the catalog → frontend link heals', () => {
  it('every cached entry is fresh again: blackholed pushes, reset pushes, and a cut longer than the silence bound', async () => {
    const figures: Record<
      string,
      Array<{ healMs: number; cutMs: number; staleAtHeal: number }>
    > = {};
    for (const [label, mode, cutMs, rounds] of [
      ['blackhole 1.5 s', { kind: 'blackhole' }, 1_500, 5],
      ['reset 1.5 s', { kind: 'drop' }, 1_500, 3],
      [
        `blackhole ${(CHANGE_SILENCE_MS + 2_000) / 1000} s`,
        { kind: 'blackhole' },
        CHANGE_SILENCE_MS + 2_000,
        2,
      ],
    ] as const) {
      for (let i = 0; i < rounds; i++) {
        const r = await cutAndHeal(mode, cutMs);
        (figures[label] ??= []).push({
          healMs: r.healMs,
          cutMs: r.cutMs,
          staleAtHeal: r.staleAtHeal,
        });
        // A frontend that no longer trusts its cache keeps nothing in it, stale or not.
        if (!r.trustedAtHeal) expect(r.staleAtHeal, label).toBe(0);
        // Past the silence bound it has certainly stopped trusting it (its last notice came before
        // the cut).
        if (cutMs > CHANGE_SILENCE_MS) expect(r.trustedAtHeal, label).toBe(false);
      }
    }
    // Short cuts usually leave stale entries to repair (staleAtHeal > 0); on a loaded machine a
    // "1.5 s" cut can outlast the silence bound, and then the cache was bypassed instead.
    console.log(
      `from heal until every cached entry matched the catalog (ms): ${JSON.stringify(figures)}`,
    );
  }, 180_000);
});
