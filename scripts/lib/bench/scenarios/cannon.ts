/**
 * One autocannon run (many keep-alive connections, pipelining 1), summarized, and the request
 * lists the throughput scenarios send: cached and uncached product reads, orders (a fresh
 * Idempotency-Key each), order reads of orders that exist, and the mixed workload of the
 * 1000-client run. autocannon is the load generator for reads because it costs the bench process
 * less per request than any fetch loop: the measured side, not the measuring one, should be
 * the bottleneck.
 */
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { measureCpu, perUnit, type Pids } from '../procfs.ts';
import { frontendPublicRoutes, pathOf } from '../../../../shared/protocol/index.ts';
import { pickToy } from '../store-probe.ts';
import { round } from '../util.ts';

export interface CannonResult {
  /** 2xx answers per second: the throughput reported. */
  okPerSecond: number;
  /** Every answer per second. */
  answersPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  connections: number;
  durationS: number;
  statusCodes: Record<string, number>;
  /**
   * Connection errors (timeouts included) plus answers that are neither 2xx nor in `okStatuses`.
   */
  errors: number;
  timeouts: number;
  /** CPU (user + system) each server process spent per answer during the measured run, ms. */
  cpuMsPerRequest?: Record<string, number>;
  /** CPU of the bench process (autocannon) per answer, ms. */
  clientCpuMsPerRequest?: number;
}

export interface CannonOptions {
  url: string;
  connections: number;
  durationS: number;
  /** Discarded run first (JIT, pools); 0 for none. */
  warmupS?: number;
  requests?: autocannon.Request[];
  path?: string;
  /** Statuses that are a normal answer, not an error (default: 2xx only; orders add 409). */
  okStatuses?: readonly number[];
  /** Server processes whose CPU time to measure over the measured run. */
  cpuPids?: Pids;
}

function countStatuses(r: autocannon.Result, okStatuses: readonly number[]) {
  const statusCodes: Record<string, number> = {};
  const stats =
    (r as unknown as { statusCodeStats?: Record<string, { count: number | string }> })
      .statusCodeStats ?? {};
  for (const [code, v] of Object.entries(stats)) statusCodes[code] = Number(v.count);
  const sum = (pred: (code: string) => boolean) =>
    Object.entries(statusCodes)
      .filter(([c]) => pred(c))
      .reduce((a, [, n]) => a + n, 0);
  const normal = new Set(okStatuses.map(String));
  return {
    statusCodes,
    total: sum(() => true),
    ok: sum((c) => c.startsWith('2')),
    bad: sum((c) => !c.startsWith('2') && !normal.has(c)),
  };
}

export async function cannon(o: CannonOptions): Promise<CannonResult> {
  const base: autocannon.Options = {
    url: o.url + (o.path ?? ''),
    connections: o.connections,
    pipelining: 1,
    timeout: 10,
    requests: o.requests,
  };
  if (o.warmupS) await autocannon({ ...base, duration: o.warmupS });
  const {
    value: r,
    cpuMs,
    selfCpuMs,
  } = await measureCpu(o.cpuPids ?? {}, () => autocannon({ ...base, duration: o.durationS }));
  const { statusCodes, total, ok, bad } = countStatuses(r, o.okStatuses ?? []);
  return {
    okPerSecond: Math.round(ok / r.duration),
    answersPerSecond: Math.round(total / r.duration),
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    connections: o.connections,
    durationS: round(r.duration, 2),
    statusCodes,
    errors: r.errors + bad,
    timeouts: r.timeouts,
    ...(o.cpuPids && { cpuMsPerRequest: perUnit(cpuMs, total) }),
    clientCpuMsPerRequest: round(selfCpuMs / Math.max(1, total), 3),
  };
}

// Paths from the frontend's route table (shared/protocol/frontend.ts).
const { placeOrder, getOrder, getProduct } = frontendPublicRoutes;
const ORDERS_PATH = pathOf(placeOrder);
const orderPath = (n: number) => pathOf(getOrder, { params: { order_number: n } });
const productPath = (name = pickToy()) => pathOf(getProduct, { params: { name } });
/** The cached-read figure's one toy. */
export const TUX_PATH = productPath('Tux');

const withKey = (req: autocannon.Request) => ({
  ...req,
  headers: { ...req.headers, 'idempotency-key': randomUUID() },
});
const orderBody = () => JSON.stringify({ name: pickToy(), quantity: 1 });

/** POST /orders of one random toy, each with a fresh Idempotency-Key. */
export function orderRequests(): autocannon.Request[] {
  return [
    {
      method: 'POST',
      path: ORDERS_PATH,
      headers: { 'content-type': 'application/json' },
      setupRequest: (req) => withKey({ ...req, body: orderBody() }),
    },
  ];
}

/** GET /orders/:n of a random one of `numbers` (orders that exist). */
export function orderReadRequests(numbers: readonly number[]): autocannon.Request[] {
  const pick = () => numbers[Math.floor(Math.random() * numbers.length)]!;
  return [
    {
      method: 'GET',
      path: orderPath(0),
      setupRequest: (req) => ({ ...req, path: orderPath(pick()) }),
    },
  ];
}

/**
 * The mixed workload per connection, in a loop: query a random toy, order one (fresh key), read
 * that order back (or, if the order was refused, query another toy).
 */
export function mixedRequests(): autocannon.Request[] {
  type Ctx = { lastOrder?: number };
  return [
    {
      method: 'GET',
      path: productPath('Tux'),
      setupRequest: (req) => ({ ...req, path: productPath() }),
    },
    {
      method: 'POST',
      path: ORDERS_PATH,
      headers: { 'content-type': 'application/json' },
      setupRequest: (req) => withKey({ ...req, body: orderBody() }),
      onResponse: (status, body, context) => {
        if (status !== 200) return;
        try {
          (context as Ctx).lastOrder = (
            JSON.parse(body) as { data: { order_number: number } }
          ).data.order_number;
        } catch {
          // leave the previous one
        }
      },
    },
    {
      method: 'GET',
      path: orderPath(0),
      setupRequest: (req, context) => {
        const last = (context as Ctx).lastOrder;
        return { ...req, path: last === undefined ? productPath() : orderPath(last) };
      },
    },
  ];
}
