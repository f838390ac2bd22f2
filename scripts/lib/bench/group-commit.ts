/**
 * What group commit buys: durable orders per second with batched fdatasyncs (the default) versus
 * one fdatasync per append, in one run on this machine. Each mode gets its own cluster (temporary
 * data dir, ephemeral ports, loopback only) and the same bounded load: `--clients` concurrent
 * keep-alive clients ordering for `--seconds`. Prints one line per mode and the ratio; a benchmark,
 * not a test (it asserts nothing). `measureGroupCommit` is also one scenario of the full suite
 * (scripts/bench.ts); run alone: `npx tsx scripts/lib/bench/group-commit.ts [--clients N] [--seconds S] [--json]`.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { createPooledHttp } from '../../../shared/http.ts';
import { startCluster } from '../../cluster.ts';

export interface GroupCommitRun {
  groupCommit: boolean;
  orders: number;
  ordersPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

async function measure(groupCommit: boolean, clients: number, seconds: number): Promise<GroupCommitRun> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-gc-bench-'));
  const cluster = await startCluster({ dataDir, env: { GROUP_COMMIT: String(groupCommit), LOG_LEVEL: 'warn', RESTOCK_INTERVAL_MS: '100' }, output: () => {} });
  const http = createPooledHttp({ connectionsPerOrigin: clients });
  try {
    const end = Date.now() + 20_000;
    while (Date.now() < end) {
      const h = await http({ method: 'GET', url: `${cluster.urls.frontend}/health` }).catch(() => null);
      if ((h?.body as any)?.data?.leaderId) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const names = ((await http({ method: 'GET', url: `${cluster.urls.frontend}/products` })).body as any).data.map((p: any) => p.name);
    const latencies: number[] = [];
    const stopAt = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; performance.now() < stopAt; i++) {
          const t0 = performance.now();
          const res = await http({
            method: 'POST',
            url: `${cluster.urls.frontend}/orders`,
            headers: { 'idempotency-key': randomUUID() },
            body: { name: names[(c + i) % names.length], quantity: 1 },
          }).catch(() => null);
          if (res?.status === 200) latencies.push(performance.now() - t0);
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    const q = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN) * 10) / 10;
    return { groupCommit, orders: latencies.length, ordersPerSecond: Math.round(latencies.length / seconds), p50Ms: q(0.5), p99Ms: q(0.99) };
  } finally {
    await http.close();
    await cluster.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

/** Both modes, batched first; `ratio` is batched orders/s over one-fdatasync-per-append orders/s. */
export async function measureGroupCommit(clients: number, seconds: number): Promise<{ clients: number; seconds: number; batched: GroupCommitRun; single: GroupCommitRun; ratio: number }> {
  const batched = await measure(true, clients, seconds);
  const single = await measure(false, clients, seconds);
  return { clients, seconds, batched, single, ratio: single.ordersPerSecond > 0 ? batched.ordersPerSecond / single.ordersPerSecond : 0 };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { clients: { type: 'string', default: '32' }, seconds: { type: 'string', default: '5' }, json: { type: 'boolean', default: false } } });
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  if (!(clients >= 1 && clients <= 1000) || !(seconds > 0 && seconds <= 120)) {
    console.error('usage: group-commit [--clients 1..1000] [--seconds 1..120] [--json]');
    process.exit(2);
  }
  const { batched, single } = await measureGroupCommit(clients, seconds);
  if (values.json) console.log(JSON.stringify({ clients, seconds, batched, single, ratio: batched.ordersPerSecond / single.ordersPerSecond }));
  else {
    for (const r of [batched, single]) {
      console.log(`${r.groupCommit ? 'group commit     ' : 'fsync per append '} ${String(r.ordersPerSecond).padStart(6)} orders/s  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  (${r.orders} orders, ${clients} clients, ${seconds} s)`);
    }
    console.log(`group commit: ${(batched.ordersPerSecond / single.ordersPerSecond).toFixed(2)}x the orders/s of one fdatasync per append`);
  }
}
