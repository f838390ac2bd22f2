/**
 * The real thing, on real processes: five keep-alive clients order while the leader is SIGKILLed;
 * orders continue on the next replica; the old leader restarts and catches up; the three order
 * logs end byte-identical and every order a client was told about reads back.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLog } from '../../order/file-log.ts';
import { checkConvergedCluster } from '../../scripts/lib/invariants/index.ts';
import { runClients, type RunResult } from '../../scripts/lib/client/index.ts';
import { startCluster, type Cluster } from '../../scripts/lib/cluster/index.ts';
import { until as pollUntil } from '../support/async.ts';

let dataDir: string;
let cluster: Cluster;
const output: string[] = [];

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-failover-'));
  cluster = await startCluster({
    dataDir,
    heartbeatIntervalMs: 100,
    output: (service, line) => output.push(`[${service}] ${line}`),
  });
});

afterAll(async () => {
  await cluster?.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

async function getJson(url: string): Promise<{ status: number; body: any }> {
  try {
    const res = await fetch(url);
    return { status: res.status, body: await res.json() };
  } catch {
    return { status: 0, body: null };
  }
}

const until = (what: string, cond: () => Promise<boolean>, deadlineMs = 20_000) =>
  pollUntil(what, cond, { deadlineMs, context: () => output.slice(-30).join('\n') });

const health = async () => (await getJson(`${cluster.urls.frontend}/health`)).body?.data;
const orderLogPath = (id: number) => path.join(dataDir, `order-${id}`, 'orders.csv');

describe('when the leader is SIGKILLed under load', () => {
  it('orders continue on the next replica, and after the old leader restarts all three logs are identical', async () => {
    await until('a leader is elected', async () => typeof (await health())?.leaderId === 'number');
    const leader = (await health()).leaderId as 1 | 2 | 3;

    const load: Promise<RunResult> = runClients({
      baseUrl: cluster.urls.frontend,
      clients: 5,
      iterations: 120,
      p: 0.8,
      seed: 7,
    });
    // Let orders flow, then kill the leader with orders in flight.
    await until(
      'some orders are acknowledged',
      async () => (await getJson(`${cluster.urls.frontend}/orders/15`)).status === 200,
    );
    const killedAt = performance.now();
    await cluster.kill(`order-${leader}`, 'SIGKILL');

    await until('another replica leads', async () => {
      const id = (await health())?.leaderId;
      return typeof id === 'number' && id !== leader;
    });
    const beforeKill = await getLastOrderNumber();
    await until(
      'an order is acknowledged after the kill',
      async () => (await getLastOrderNumber()) > beforeKill,
    );
    const failoverMs = performance.now() - killedAt;

    const result = await load;
    expect(result.mismatches).toEqual([]);
    expect(result.orders.unknown).toBe(0);
    expect(result.orders.failed).toBe(0);
    expect(result.acknowledgedOrders.length).toBeGreaterThan(16);

    await cluster.restart(`order-${leader}`);
    await until('the three order logs are byte-identical', async () => {
      const files = await Promise.all(
        [1, 2, 3].map((id) => fs.readFile(orderLogPath(id), 'utf8').catch(() => '')),
      );
      return files[0] !== '' && files.every((f) => f === files[0]);
    });

    const logs = new Map(
      await Promise.all(
        [1, 2, 3].map(
          async (id) =>
            [
              `order-${id}`,
              parseLog(orderLogPath(id), await fs.readFile(orderLogPath(id))).entries,
            ] as const,
        ),
      ),
    );
    const acked = result.acknowledgedOrders.map((o) => ({
      orderNumber: o.order_number,
      name: o.name,
      quantity: o.quantity,
    }));
    expect(checkConvergedCluster(logs, acked)).toEqual([]);
    // Every order in the log was acknowledged to some client (no phantom orders).
    expect(logs.get('order-1')!.length).toBe(acked.length);
    console.log(
      `failover: first acknowledged order ${Math.round(failoverMs)} ms after SIGKILL; ${acked.length} orders; client errors ${result.orders.failed + result.orders.unknown}`,
    );
  }, 90_000);
});

/** The highest order number the store will read back, found by probing upward. */
async function getLastOrderNumber(): Promise<number> {
  const h = await health();
  const leader = h?.replicas?.find((r: any) => r.id === h.leaderId);
  return typeof leader?.lastIndex === 'number' ? leader.lastIndex : -1;
}
