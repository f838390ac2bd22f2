/**
 * Catch-up: a cluster whose three replicas hold the same synthesized log; a follower is stopped,
 * its log cut back to a prefix (its "base"), and it is started again; the time is from spawn to
 * `listening`, then to a log byte-identical to the leader's.
 *
 * The cases are chosen so each line of the plot has one base: the same lagging log, more and
 * more missed orders (a series needs a leader log per point, hence a cluster per leader log).
 * Comparing points with different bases would mix two costs: reading one's own log at start, and
 * fetching what was missed.
 *
 * The clusters run the production build (`builtDir`), as a production host restarts a replica:
 * under tsx the restarted replica spends most of its start compiling TypeScript, a cost of the
 * development loop and not of catching up. Each row says which runtime it measured.
 */
import type { Cluster, ServiceName, StartClusterOptions } from '../../cluster/index.ts';
import type { Pids } from '../procfs.ts';
import { waitForLeader } from '../store-probe.ts';
import { cutReplicaLog, orderLogPath, waitIdentical, writeReplicaDirs } from '../synth-log.ts';
import { round, type Say } from '../util.ts';

export interface CatchUpRow {
  /** node: the production build (`npm run build`); tsx: the sources, compiled at every start. */
  runtime: 'node' | 'tsx';
  /** Why a row ran under tsx: the production build failed with this. */
  buildError?: string;
  /** Orders in the leader's log. */
  logOrders: number;
  /** Orders the restarted replica still had (its base). */
  laggingOrders: number;
  missed: number;
  /** Spawn to `listening`. */
  startMs: number;
  /** `listening` to byte-identical logs. */
  catchUpMs: number | null;
  /** Spawn to byte-identical logs. */
  totalMs: number | null;
}

/** One cluster: a leader log of `logOrders`, and the bases its follower is cut back to, in turn. */
export interface CatchUpCase {
  logOrders: number;
  bases: number[];
}

/**
 * Full run: bases 1,000 (missed 1k, 10k, 100k) and 100,000 (missed 1k, 10k). Quick run (CI's
 * smoke run, kept short): one cluster, the target's point (100k missed on a base of 1,000) and
 * 1k missed on a base of 100,000.
 */
export function catchUpCases(quick: boolean): CatchUpCase[] {
  return quick
    ? [{ logOrders: 101_000, bases: [1_000, 100_000] }]
    : [
        { logOrders: 2_000, bases: [1_000] },
        { logOrders: 11_000, bases: [1_000] },
        { logOrders: 101_000, bases: [1_000, 100_000] },
        { logOrders: 110_000, bases: [100_000] },
      ];
}

export async function catchUp(
  dataDir: string,
  c: CatchUpCase,
  /** Starts a cluster (the suite's, which it can stop when interrupted). */
  start: (opts: StartClusterOptions) => Promise<Cluster>,
  clusterOpts: Omit<StartClusterOptions, 'dataDir'>,
  say: Say,
  /** Told the processes after the start and after each restart (to name their profiles). */
  observe?: (what: string, pids: Pids) => void,
): Promise<CatchUpRow[]> {
  await writeReplicaDirs(dataDir, [1, 2, 3], c.logOrders);
  const cluster = await start({ ...clusterOpts, dataDir });
  observe?.('start', cluster.pids());
  const runtime = clusterOpts.builtDir ? 'node' : 'tsx';
  const ran = runtime === 'node' ? 'production build, node' : 'tsx';
  const rows: CatchUpRow[] = [];
  try {
    const leader = await waitForLeader(cluster.urls.frontend, 30_000);
    const lag = [1, 2, 3].find((id) => id !== leader)!;
    const files = [orderLogPath(dataDir, lag), orderLogPath(dataDir, leader)];
    if ((await waitIdentical(files, 30_000, 10)) === null)
      throw new Error('the synthesized logs differ after the cluster started');
    const service = `order-${lag}` as ServiceName;
    for (const base of c.bases) {
      await cluster.kill(service, 'SIGTERM');
      await cutReplicaLog(dataDir, lag, base);
      const t0 = performance.now();
      await cluster.restart(service);
      const t1 = performance.now();
      const t2 = await waitIdentical(files, 60_000, 2);
      observe?.(`${c.logOrders - base} missed`, { [service]: cluster.pids()[service] });
      const row: CatchUpRow = {
        runtime,
        logOrders: c.logOrders,
        laggingOrders: base,
        missed: c.logOrders - base,
        startMs: round(t1 - t0),
        catchUpMs: t2 === null ? null : round(t2 - t1),
        totalMs: t2 === null ? null : round(t2 - t0),
      };
      rows.push(row);
      say(
        `  catch-up (${ran}): ${row.missed} missed on top of ${base}: start ${row.startMs} ms + catch-up ${row.catchUpMs ?? 'never'} ms = ${row.totalMs ?? '-'} ms`,
      );
    }
  } finally {
    await cluster.stop();
  }
  return rows;
}
