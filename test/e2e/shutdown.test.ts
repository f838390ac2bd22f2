/**
 * Graceful shutdown and request tracing on real processes (startCluster).
 *
 * - One order's request id (x-request-id) shows up in the log lines of every service it passed
 *   through: frontend, order leader, catalog, a follower's append.
 * - A follower that missed orders while down is caught up on restart, and the leader's log line
 *   says from which order, how many and how long.
 * - Each service in turn gets SIGTERM while orders are in flight through it, exits 0 (read from
 *   the launcher's onExit), and is restarted; at the end the three order logs converge and every
 *   order that was answered 200 is in them, as answered.
 *
 * Orders are held in flight on purpose where that can be done without timing: with the catalog
 *   paused (SIGSTOP), orders wait inside the frontend and the leader until it resumes, and the
 *   services' own in-flight gauge (toystore_http_requests_in_flight) says when they are there
 *   (at the leader it counts batches, not orders).
 *   For the catalog and the followers, whose requests are short, the test fires a burst and
 *   signals once the gauge shows a request being served, giving up on that wait after a few
 *   bursts (it then reports 0 seen in flight; the assertions hold either way). Nothing asserts
 *   how long anything took.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLog } from '../../order/file-log.ts';
import { checkAcknowledged, type Acknowledged } from '../../scripts/lib/invariants/index.ts';
import {
  startCluster,
  type Cluster,
  type ExitInfo,
  type ServiceName,
} from '../../scripts/lib/cluster/index.ts';
import { until as pollUntil } from '../support/async.ts';

let dataDir: string;
let cluster: Cluster;
const output: string[] = [];
const exits: ExitInfo[] = [];

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-shutdown-'));
  cluster = await startCluster({
    dataDir,
    heartbeatIntervalMs: 100,
    output: (service, line) => output.push(`[${service}] ${line}`),
    onExit: (info) => exits.push(info),
  });
});

afterAll(async () => {
  await cluster?.stop();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

const until = (what: string, cond: () => Promise<boolean>, deadlineMs = 20_000) =>
  pollUntil(what, cond, { deadlineMs, everyMs: 20, context: () => output.slice(-40).join('\n') });

const health = async () =>
  ((await (await fetch(`${cluster.urls.frontend}/health`)).json()) as any).data;

/** The JSON log lines of one service. */
function linesOf(service: ServiceName): any[] {
  const prefix = `[${service}] `;
  return output
    .filter((l) => l.startsWith(prefix))
    .flatMap((l) => {
      try {
        return [JSON.parse(l.slice(prefix.length))];
      } catch {
        return [];
      }
    });
}

/** Where a service serves /metrics. */
function metricsUrl(service: ServiceName): string {
  if (service === 'frontend') return `${cluster.urls.frontendInternal}/metrics`;
  if (service === 'catalog') return `${cluster.urls.catalog}/metrics`;
  return `${cluster.urls.replicas[Number(service.slice('order-'.length)) as 1 | 2 | 3]}/metrics`;
}

/** Requests the service is serving now, not counting the scrape asking. */
async function inFlight(service: ServiceName): Promise<number> {
  const text = await (
    await fetch(metricsUrl(service), { signal: AbortSignal.timeout(2_000) })
  ).text();
  const line = text.split('\n').find((l) => l.startsWith('toystore_http_requests_in_flight '));
  return line ? Number(line.split(' ')[1]) - 1 : 0;
}

interface Outcome {
  status: number;
  name: string;
  quantity: number;
  orderNumber?: number;
}

const TOYS = ['Tux', 'Lego', 'Barbie', 'Slinky', 'Yo-Yo', 'Frisbee'];
let seq = 0;
function placeOrder(): Promise<Outcome> {
  const name = TOYS[seq++ % TOYS.length]!;
  return fetch(`${cluster.urls.frontend}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, quantity: 1 }),
    signal: AbortSignal.timeout(20_000),
  }).then(
    async (res) => {
      const body = (await res.json().catch(() => null)) as any;
      return { status: res.status, name, quantity: 1, orderNumber: body?.data?.order_number };
    },
    () => ({ status: 0, name, quantity: 1 }),
  );
}

/** The store is whole again: every service running, a leader, all three replicas up. */
async function healthy(): Promise<void> {
  await until('the store is whole again', async () => {
    const h = await health();
    return h.leaderId !== null && !h.electing && h.replicas.every((r: any) => r.state === 'up');
  });
}

describe('request ids across services', () => {
  it("one order's id is in the log lines of the frontend, the leader, the catalog and a follower", async () => {
    await healthy();
    const leader = (await health()).leaderId as 1 | 2 | 3;
    const followers = ([1, 2, 3] as const).filter((id) => id !== leader);
    const res = await fetch(`${cluster.urls.frontend}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-e2e-1' },
      body: JSON.stringify({ name: 'Tux', quantity: 1 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('trace-e2e-1');
    const has = (service: ServiceName, route: string) =>
      linesOf(service).some(
        (l) =>
          l.route === route &&
          typeof l.reqId === 'string' &&
          l.reqId.split(',').includes('trace-e2e-1'),
      );
    await until(
      "the id is in every service's log",
      async () =>
        has('frontend', '/orders') &&
        has(`order-${leader}`, '/orders/batch') &&
        has('catalog', '/purchases/batch') &&
        followers.some((f) => has(`order-${f}`, '/internal/append')),
    );
    const line = linesOf('frontend').find(
      (l) => l.reqId === 'trace-e2e-1' && l.route === '/orders',
    );
    expect(line).toMatchObject({
      method: 'POST',
      path: '/orders',
      status: 200,
      service: 'frontend',
    });
    expect(typeof line.ms).toBe('number');
  });
});

describe('catch-up log line', () => {
  it('a follower restarted after missing orders is caught up, and the leader says from where, how many, how long', async () => {
    await healthy();
    const leader = (await health()).leaderId as 1 | 2 | 3;
    const follower = ([1, 2, 3] as const).find((id) => id !== leader)!;
    await cluster.kill(`order-${follower}`);
    for (let i = 0; i < 3; i++) expect((await placeOrder()).status).toBe(200);
    await cluster.restart(`order-${follower}`);
    let line: any;
    await until('the leader logs the catch-up', async () => {
      line = linesOf(`order-${leader}`).find(
        (l) => l.event === 'catchup' && l.follower === follower,
      );
      return line !== undefined;
    });
    expect(line.orders).toBeGreaterThanOrEqual(3);
    expect(line.to - line.from + 1).toBe(line.orders);
    expect(typeof line.ms).toBe('number');
    const metrics = await (await fetch(metricsUrl(`order-${leader}`))).text();
    expect(metrics).toMatch(
      new RegExp(`^toystore_order_catchups_total\\{follower="${follower}"\\} [1-9]`, 'm'),
    );
  });
});

describe('graceful shutdown', () => {
  it('each service exits 0 on SIGTERM with orders in flight, and every order answered 200 is in the logs', async () => {
    const outcomes: Outcome[] = [];
    const report: string[] = [];
    for (const service of ['frontend', 'order-3', 'catalog', 'order-1', 'order-2'] as const) {
      await healthy();
      const pid = cluster.pids()[service]!;
      let seen = 0;
      let batch: Promise<Outcome>[] = [];
      if (service === 'frontend' || service === 'order-3') {
        // Hold orders inside the frontend and the leader: they wait on the paused catalog.
        await cluster.pause('catalog');
        batch = Array.from({ length: 4 }, placeOrder);
        // The frontend serves each client order as one request, but it coalesces concurrent
        // orders into batches for the leader (shared/batcher.ts): 4 orders may be 1 to 4
        // requests there. So: all 4 are at the frontend, and at least one batch is at the leader.
        await until(`${service} is serving the orders`, async () => {
          const atFrontend = await inFlight('frontend');
          const atLeader = await inFlight('order-3');
          seen = service === 'frontend' ? atFrontend : atLeader;
          return atFrontend >= 4 && atLeader >= 1;
        });
        const exited = cluster.kill(service, 'SIGTERM');
        await cluster.resume('catalog');
        await exited;
      } else {
        for (let burst = 0; burst < 5 && seen === 0; burst++) {
          const b = Array.from({ length: 6 }, placeOrder);
          batch.push(...b);
          let settled = false;
          void Promise.allSettled(b).then(() => (settled = true));
          while (!settled && seen === 0) seen = await inFlight(service).catch(() => 0);
          if (seen > 0) break;
        }
        await cluster.kill(service, 'SIGTERM');
      }
      const results = await Promise.all(batch);
      outcomes.push(...results);
      const exit = exits.find((e) => e.pid === pid);
      expect(exit, `${service} exit`).toBeDefined();
      expect({ service, code: exit!.code, signal: exit!.signal }).toEqual({
        service,
        code: 0,
        signal: null,
      });
      const lastLines = output
        .filter((l) => l.startsWith(`[${service}]`))
        .slice(-12)
        .join('\n');
      expect(
        output.some((l) => l.startsWith(`[${service}]`) && l.includes('"event":"stopped"')),
        `${service} logged its clean stop; its last lines:\n${lastLines}`,
      ).toBe(true);
      report.push(
        `${service}: ${seen} in flight at SIGTERM, ${results.filter((r) => r.status === 200).length}/${results.length} answered 200`,
      );
      await cluster.restart(service);
    }
    await healthy();

    const acked: Acknowledged[] = outcomes
      .filter((o) => o.status === 200)
      .map((o) => ({ orderNumber: o.orderNumber!, name: o.name, quantity: o.quantity }));
    expect(acked.length).toBeGreaterThan(0);
    const logPath = (id: number) => path.join(dataDir, `order-${id}`, 'orders.csv');
    await until('the three order logs are identical', async () => {
      const files = await Promise.all([1, 2, 3].map((id) => fs.readFile(logPath(id), 'utf8')));
      return files.every((f) => f === files[0]);
    });
    for (const id of [1, 2, 3]) {
      const { entries } = parseLog(logPath(id), await fs.readFile(logPath(id)));
      expect(checkAcknowledged(`order-${id}`, entries, acked)).toEqual([]);
    }
    console.log(`shutdown: ${report.join('; ')}`);
  }, 120_000);
});
