/**
 * Start-up: one replica process alone (its peers and the catalog are ports nothing listens on)
 * over a synthesized log, spawn to its `listening` line and to a 200 from /health: what reading
 * a long log costs, with nothing else competing.
 *
 * Measured twice: as `npm start` runs it (tsx compiles the TypeScript at every start, most of a
 * second here), and as a production host runs it (`npm run build`, then plain `node`). The target
 * is judged on the production build, where a replica restarts in production; both are printed.
 */
import { orderRoutes } from '../../../../shared/protocol/index.ts';
import { freePorts } from '../../cluster/index.ts';
import { readRss, type Rss } from '../procfs.ts';
import { SERVICE_ENTRIES } from '../../build/build.ts';
import path from 'node:path';
import { spawnBuilt, spawnTs, type SpawnServiceOptions } from '../spawn.ts';
import { writeReplicaDirs } from '../synth-log.ts';
import { round, sleep, type Say } from '../util.ts';

export interface StartupResult {
  /** tsx: TypeScript compiled at start (npm start); node: the production build (npm run build). */
  runtime: 'tsx' | 'node';
  logOrders: number;
  logMiB: number;
  /** Spawn to the `listening on` line. */
  listeningMs: number | null;
  /** Spawn to a 200 from GET /health. */
  healthMs: number | null;
  rss: Rss | null;
  error?: string;
}

async function firstHealthy(url: string, timeoutMs: number): Promise<number | null> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const ok = await fetch(`${url}${orderRoutes.health.path}`, {
      signal: AbortSignal.timeout(2_000),
    }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return performance.now();
    await sleep(2);
  }
  return null;
}

/** `builtDir`: a production build (scripts/lib/build) to start from; null: start under tsx. */
export async function startup(
  dataDir: string,
  logOrders: number,
  nodeArgs: string[],
  say: Say,
  builtDir: string | null = null,
): Promise<StartupResult> {
  const { logBytes } = await writeReplicaDirs(dataDir, [1], logOrders);
  const [self, p2, p3, catalog] = await freePorts(4);
  const opts: SpawnServiceOptions = {
    nodeArgs,
    env: {
      ORDER_ID: '1',
      ORDER_REPLICAS: `1=http://127.0.0.1:${self},2=http://127.0.0.1:${p2},3=http://127.0.0.1:${p3}`,
      CATALOG_URL: `http://127.0.0.1:${catalog}`,
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    },
    timeoutMs: 60_000,
  };
  const proc = builtDir
    ? spawnBuilt(path.join(builtDir, SERVICE_ENTRIES.order), opts)
    : spawnTs('order/main.ts', opts);
  const runtime = builtDir ? 'node' : 'tsx';
  const result: StartupResult = {
    runtime,
    logOrders,
    logMiB: round(logBytes / 2 ** 20, 1),
    listeningMs: null,
    healthMs: null,
    rss: null,
  };
  try {
    const ready = await proc.ready;
    result.listeningMs = round(ready.at - proc.spawnedAt);
    const healthy = await firstHealthy(ready.url, 30_000);
    result.healthMs = healthy === null ? null : round(healthy - proc.spawnedAt);
    result.rss = await readRss(proc.pid);
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    await proc.stop('SIGTERM');
  }
  say(
    `  start-up (${runtime === 'node' ? 'production build, node' : 'tsx'}) with ${logOrders} orders (${result.logMiB} MiB): listening after ${result.listeningMs ?? '-'} ms, /health after ${result.healthMs ?? '-'} ms, RSS ${result.rss?.rssMiB ?? '-'} MiB`,
  );
  return result;
}
