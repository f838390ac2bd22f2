/**
 * The throughput pairs: the store next to a bare ceiling of the same hops (Hono with no store
 * logic), run alternately, ceiling first, for the median of each side and their ratio. Four
 * pairs: a cached GET (next to one bare Hono), orders (next to the bare three-hop chain), order
 * reads (the bare two-hop) and an uncached GET (the bare two-hop), the first also at
 * LOG_LEVEL=warn. The first round of each side runs inside a profiler window.
 */
import type { Cluster } from '../cluster/index.ts';
import type { Ceilings } from './ceilings.ts';
import { formatCpu } from './markdown.ts';
import type { Pids } from './procfs.ts';
import type { PairKey, ThroughputPair } from './results.ts';
import {
  cannon,
  orderReadRequests,
  orderRequests,
  TUX_PATH,
  type CannonOptions,
  type CannonResult,
} from './scenarios/cannon.ts';
import { placeOrders } from './store-probe.ts';
import { ORDERS_TO_READ, type SuiteContext } from './suite-plan.ts';
import { median, round } from './util.ts';

interface Runner {
  pids: Pids;
  run: () => Promise<CannonResult>;
}

/** What a pair measures and against what. */
interface Pair {
  key: PairKey;
  name: string;
  ceilingName: string;
  logLevel: string;
  ceiling: Runner;
  store: Runner;
}

/** What one side's cannon aims at (the load, the plan's, is added). */
type Target = Omit<CannonOptions, 'connections' | 'durationS' | 'warmupS' | 'cpuPids'>;

/**
 * A side of a pair: the plan's load at `target()` (made afresh for every run), the CPU of the
 * processes `pids()` names at the time of that run.
 */
function runner(ctx: SuiteContext, pids: () => Pids, target: () => Target): Runner {
  return {
    pids: pids(),
    run: () =>
      cannon({
        connections: ctx.o.connections,
        durationS: ctx.plan.cannonS,
        warmupS: ctx.plan.warmupS,
        ...target(),
        cpuPids: pids(),
      }),
  };
}

/** Alternates ceiling and store runs (ceiling first) and keeps the median of each. */
async function pairRuns(ctx: SuiteContext, p: Pair): Promise<void> {
  const rounds: ThroughputPair['rounds'] = [];
  for (let i = 0; i < ctx.plan.rounds; i++) {
    const first = i === 0;
    const c = first
      ? await ctx.profiler.window(`${p.name} - ${p.ceilingName}`, p.ceiling.pids, p.ceiling.run)
      : await p.ceiling.run();
    const s = first
      ? await ctx.profiler.window(`${p.name} - toystore`, p.store.pids, p.store.run)
      : await p.store.run();
    rounds.push({ ceiling: c, store: s });
  }
  const s = median(rounds.map((r) => r.store.okPerSecond));
  const c = median(rounds.map((r) => r.ceiling.okPerSecond));
  const pair: ThroughputPair = {
    key: p.key,
    name: p.name,
    ceilingName: p.ceilingName,
    logLevel: p.logLevel,
    store: s,
    ceiling: c,
    ratio: c > 0 ? round(s / c, 3) : 0,
    rounds,
  };
  ctx.say(
    `  ${p.name} at ${p.logLevel}: ${s} req/s vs ${p.ceilingName} ${c} req/s = ${(pair.ratio * 100).toFixed(1)} %`,
  );
  const last = rounds[rounds.length - 1]!;
  ctx.say(
    `    CPU ms per request: toystore ${formatCpu(last.store.cpuMsPerRequest)}; ceiling ${formatCpu(last.ceiling.cpuMsPerRequest)}`,
  );
  (ctx.results.throughput ??= []).push(pair);
}

/** A cached GET of one toy next to bare Hono answering the same path. */
export function cachedGet(
  ctx: SuiteContext,
  key: 'cached' | 'cached-warn',
  logLevel: string,
  cluster: Cluster,
  c: Ceilings,
): Promise<void> {
  const origin = () => ({ origin: c.pids.origin });
  const url = cluster.urls.frontend;
  return pairRuns(ctx, {
    key,
    name: 'cached GET /products/:name',
    ceilingName: 'bare Hono',
    logLevel,
    ceiling: runner(ctx, origin, () => ({ url: c.origin, path: TUX_PATH })),
    store: runner(
      ctx,
      () => cluster.pids(),
      () => ({ url, path: TUX_PATH }),
    ),
  });
}

/** Orders through the whole store next to the bare three-hop chain. */
export function orders(ctx: SuiteContext, cluster: Cluster, c: Ceilings): Promise<void> {
  return pairRuns(ctx, {
    key: 'orders-chain',
    name: 'POST /orders',
    ceilingName: 'bare three-hop chain',
    logLevel: ctx.o.logLevel,
    ceiling: runner(
      ctx,
      () => c.pids,
      () => ({ url: c.frontend, requests: orderRequests() }),
    ),
    store: runner(
      ctx,
      () => cluster.pids(),
      () => ({ url: cluster.urls.frontend, requests: orderRequests(), okStatuses: [409] }),
    ),
  });
}

/** Reads of placed orders (frontend and replicas) next to the bare two-hop. */
export async function orderReads(ctx: SuiteContext, cluster: Cluster, c: Ceilings): Promise<void> {
  const url = cluster.urls.frontend;
  const numbers = await placeOrders(url, ORDERS_TO_READ);
  const hops = { frontend: c.pids.frontend, order: c.pids.order };
  const storePids = () => ({
    frontend: cluster.pids().frontend,
    ...Object.fromEntries(Object.entries(cluster.pids()).filter(([k]) => k.startsWith('order-'))),
  });
  await pairRuns(ctx, {
    key: 'order-reads',
    name: 'GET /orders/:n',
    ceilingName: 'bare two-hop',
    logLevel: ctx.o.logLevel,
    ceiling: runner(
      ctx,
      () => hops,
      () => ({ url: c.frontend, requests: orderReadRequests(numbers) }),
    ),
    store: runner(ctx, storePids, () => ({ url, requests: orderReadRequests(numbers) })),
  });
}

/** A GET with the cache off (frontend and catalog) next to the bare two-hop. */
export function uncachedGet(ctx: SuiteContext, cluster: Cluster, c: Ceilings): Promise<void> {
  const hops = { frontend: c.pids.frontend, origin: c.pids.origin };
  const storePids = () => ({
    frontend: cluster.pids().frontend,
    catalog: cluster.pids().catalog,
  });
  return pairRuns(ctx, {
    key: 'uncached',
    name: 'uncached GET /products/:name',
    ceilingName: 'bare two-hop',
    logLevel: ctx.o.logLevel,
    ceiling: runner(
      ctx,
      () => hops,
      () => ({ url: c.frontend, path: TUX_PATH }),
    ),
    store: runner(ctx, storePids, () => ({ url: cluster.urls.frontend, path: TUX_PATH })),
  });
}

/** The default cluster's pairs: cached GET, orders, order reads, each attempted on its own. */
export async function storeNextToCeilings(
  ctx: SuiteContext,
  cluster: Cluster,
  c: Ceilings,
): Promise<void> {
  await ctx.attempt('throughput cached GET', () =>
    cachedGet(ctx, 'cached', ctx.o.logLevel, cluster, c),
  );
  await ctx.attempt('throughput orders', () => orders(ctx, cluster, c));
  await ctx.attempt('throughput order reads', () => orderReads(ctx, cluster, c));
}
