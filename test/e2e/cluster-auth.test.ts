/**
 * Internal traffic is authenticated, on real processes (issue 13): the launcher gives its cluster
 * a fresh secret, and every internal route of every service (read from the route tables, so a
 * new route is covered without touching this test) refuses a request without the credential
 * (401) or with a wrong one (403), including the forgeries that moved the whole cluster before:
 * an append with epoch + 1 and a valid crc chain, a lead and a fence with a big epoch, a purchase
 * and its reconciliation. Afterwards every byte on disk and every replica's state is as before.
 * The public API and the probes stay open; a service bound to a non-loopback address will not
 * start without a secret.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORGED_CATALOG_BODIES, forgedAppend, HUGE_EPOCH } from '../support/forgeries.ts';
import { startCluster, type Cluster } from '../../scripts/lib/cluster/index.ts';
import { clusterCredential, withClusterCredential } from '../../shared/auth.ts';
import { createPooledHttp } from '../../shared/http.ts';
import {
  catalogRoutes,
  createRouteClient,
  frontendInternalRoutes,
  orderRoutes,
  pathOf,
  type RouteTable,
} from '../../shared/protocol/index.ts';

let dir: string;
let cluster: Cluster;
const output: string[] = [];
const pool = createPooledHttp({ connectionsPerOrigin: 2 });

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-auth-'));
  cluster = await startCluster({
    dataDir: dir,
    heartbeatIntervalMs: 100,
    output: (s, l) => output.push(`[${s}] ${l}`),
  });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  await pool.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function until(
  what: string,
  cond: () => Promise<boolean>,
  deadlineMs = 20_000,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > end)
      throw new Error(`timed out waiting until ${what}\n${output.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The operator's view, with the cluster's own secret. */
const operator = () => withClusterCredential(pool, clusterCredential(cluster.clusterSecret!));
const replicas = () => createRouteClient(operator(), orderRoutes);
const statusOf = (id: 1 | 2 | 3) =>
  replicas().call(cluster.urls.replicas[id], 'status', {}, { timeoutMs: 2_000 });

/** Every file of the data dir, byte for byte. */
async function disk(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await fs.readdir(dir, { recursive: true })).map(String).sort()) {
    const p = path.join(dir, f);
    if ((await fs.stat(p)).isFile()) out[f] = (await fs.readFile(p)).toString('base64');
  }
  return out;
}

/** What each replica holds and has promised. */
async function state() {
  const st = await Promise.all(([1, 2, 3] as const).map(statusOf));
  return st.map((s) => ({
    role: s.role,
    promisedEpoch: s.promisedEpoch,
    leaderEpoch: s.leaderEpoch,
    leaderId: s.leaderId,
    head: s.head,
    commitIndex: s.commitIndex,
  }));
}

describe('a cluster started by the launcher has a secret, and its internal routes refuse strangers', () => {
  it('every internal route of every service answers 401 without the credential and 403 with a wrong one, and nothing on disk or in memory changes', async () => {
    expect(cluster.clusterSecret).toMatch(/^[\x21-\x7e]{32,}$/);
    expect(cluster.envOf('order-1').CLUSTER_SECRET).toBe(cluster.clusterSecret);
    for (const [name, quantity] of [
      ['Tux', 2],
      ['Lego', 1],
    ] as const) {
      const res = await fetch(`${cluster.urls.frontend}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, quantity }),
      });
      expect(res.status).toBe(200);
    }
    await until('the store is quiescent', async () => {
      const st = await state();
      const pending = await createRouteClient(operator(), catalogRoutes).call(
        cluster.urls.catalog,
        'pending',
        {},
      );
      // products.csv is a snapshot the catalog rewrites after a change, not with it: wait for it
      // too, or it lands in the middle of the "nothing changes" window below.
      const products = await fs.readFile(path.join(dir, 'catalog', 'products.csv'), 'utf8');
      return (
        pending.entries.length === 0 &&
        st.every((s) => s.head.lastIndex === 1 && s.commitIndex === 1) &&
        products.includes('\nTux,15.99,98\n') &&
        products.includes('\nLego,49.99,99\n')
      );
    });
    const leader = (await state()).find((s) => s.role === 'leader')!.leaderId as 1 | 2 | 3;
    const follower = ([1, 2, 3] as const).find((id) => id !== leader)!;
    const f = await statusOf(follower);
    const log = await replicas().call(cluster.urls.replicas[follower], 'fetchLog', {
      query: { from: 1, limit: 1 },
    });
    /** The forgeries of the issue; every other route gets an empty body. */
    const bodies: Record<string, unknown> = {
      'POST /internal/append': forgedAppend(log.entries[0]!, f.promisedEpoch + 1, leader),
      'POST /internal/lead': { epoch: HUGE_EPOCH },
      'POST /internal/fence': FORGED_CATALOG_BODIES.fence,
      'POST /purchases': FORGED_CATALOG_BODIES.purchase,
      'POST /internal/reconcile': FORGED_CATALOG_BODIES.reconcile,
    };
    const targets: Array<[string, RouteTable]> = [
      [cluster.urls.catalog, catalogRoutes],
      ...([1, 2, 3] as const).map(
        (id) => [cluster.urls.replicas[id], orderRoutes] as [string, RouteTable],
      ),
      [cluster.urls.frontendInternal, frontendInternalRoutes],
    ];
    const diskBefore = await disk();
    const stateBefore = await state();
    let refused = 0;
    for (const [base, table] of targets) {
      for (const spec of Object.values(table).filter((r) => r.access === 'internal')) {
        const url = `${base}${pathOf(spec, { params: { name: 'Tux', number: 0 } })}`;
        const body =
          spec.method === 'POST' ? (bodies[`${spec.method} ${spec.path}`] ?? {}) : undefined;
        for (const [headers, status] of [
          [{}, 401],
          [{ authorization: 'Bearer not-the-cluster-secret-but-long-enough-anyway' }, 403],
          [{ authorization: cluster.clusterSecret! }, 403],
        ] as const) {
          const res = await pool({ method: spec.method, url, body, headers, timeoutMs: 5_000 });
          expect(
            res.status,
            `${spec.method} ${url} with ${JSON.stringify(headers).slice(0, 40)}`,
          ).toBe(status);
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(3 * 30);
    expect(await disk()).toEqual(diskBefore);
    expect(await state()).toEqual(stateBefore);
    // Still one cluster, serving: the next order is number 2.
    const next = await fetch(`${cluster.urls.frontend}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Tux', quantity: 1 }),
    });
    expect(await next.json()).toEqual({ data: { order_number: 2 } });
  }, 90_000);

  it('the public API, /health, /ready and /metrics need no credential', async () => {
    expect((await fetch(`${cluster.urls.frontend}/products/Tux`)).status).toBe(200);
    for (const url of [
      cluster.urls.catalog,
      ...Object.values(cluster.urls.replicas),
      cluster.urls.frontendInternal,
    ]) {
      expect((await fetch(`${url}/metrics`)).status, `${url}/metrics`).toBe(200);
    }
    for (const url of [
      cluster.urls.catalog,
      ...Object.values(cluster.urls.replicas),
      cluster.urls.frontend,
    ]) {
      expect((await fetch(`${url}/health`)).status, `${url}/health`).toBe(200);
    }
    for (const url of [...Object.values(cluster.urls.replicas), cluster.urls.frontend]) {
      expect([200, 503], `${url}/ready`).toContain((await fetch(`${url}/ready`)).status);
    }
  });
});

describe('a service bound to a non-loopback address', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const tsx = pathToFileURL(createRequire(path.join(root, 'package.json')).resolve('tsx')).href;

  it('refuses to start without a cluster secret, in one line that says why and what to set', async () => {
    // 192.0.2.1 (TEST-NET-1) is never a local address: even a service that did start could not bind
    // it.
    const child = spawn(process.execPath, ['--import', tsx, path.join(root, 'catalog/main.ts')], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOST: '192.0.2.1',
        CATALOG_PORT: '0',
        DATA_DIR: path.join(dir, 'refused'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(2);
    const lines = stderr.split('\n').filter((l) => l.includes('CLUSTER_SECRET'));
    expect(lines).toEqual([
      expect.stringMatching(
        /CLUSTER_SECRET: required because HOST=192\.0\.2\.1 is not a loopback address.*set CLUSTER_SECRET or CLUSTER_SECRET_FILE/,
      ),
    ]);
  }, 30_000);
});
