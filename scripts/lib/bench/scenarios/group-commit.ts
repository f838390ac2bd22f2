/**
 * What group commit buys: durable orders per second with batched fdatasyncs (the default) versus
 * one fdatasync per append (`GROUP_COMMIT=false`), in one run on this machine. Each mode gets its
 * own cluster and the same closed-loop load as the etcd comparison (closed-loop.ts).
 */
import type { Cluster, StartClusterOptions } from '../../cluster/index.ts';
import { closedLoop } from '../closed-loop.ts';
import { orderRequest, waitForLeader } from '../store-probe.ts';
import { round } from '../util.ts';

export interface GroupCommitRun {
  groupCommit: boolean;
  orders: number;
  ordersPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface GroupCommitResult {
  clients: number;
  seconds: number;
  batched: GroupCommitRun;
  single: GroupCommitRun;
  /** Batched orders/s over one-fdatasync-per-append orders/s. */
  ratio: number;
}

type Start = (opts: StartClusterOptions) => Promise<Cluster>;
type ClusterOpts = Omit<StartClusterOptions, 'env'> & { env: Record<string, string> };

async function measure(
  groupCommit: boolean,
  clients: number,
  seconds: number,
  start: Start,
  cluster: ClusterOpts,
): Promise<GroupCommitRun> {
  const c = await start({ ...cluster, env: { ...cluster.env, GROUP_COMMIT: String(groupCommit) } });
  try {
    await waitForLeader(c.urls.frontend, 30_000);
    const r = await closedLoop({
      clients,
      durationMs: seconds * 1000,
      warmupMs: 500,
      request: () => orderRequest(c.urls.frontend),
    });
    return {
      groupCommit,
      orders: r.ok,
      ordersPerSecond: r.okPerSecond,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
    };
  } finally {
    await c.stop();
  }
}

/** Both modes, batched first, each on a fresh cluster (started by `start`) in its own data dir. */
export async function measureGroupCommit(
  clients: number,
  seconds: number,
  start: Start,
  clusterFor: (mode: string) => Promise<ClusterOpts>,
): Promise<GroupCommitResult> {
  const batched = await measure(true, clients, seconds, start, await clusterFor('gc-batched'));
  const single = await measure(false, clients, seconds, start, await clusterFor('gc-single'));
  return {
    clients,
    seconds,
    batched,
    single,
    ratio:
      single.ordersPerSecond > 0 ? round(batched.ordersPerSecond / single.ordersPerSecond, 2) : 0,
  };
}
