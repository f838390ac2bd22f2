/**
 * Start-up: one replica process alone (its peers and the catalog are ports nothing listens on)
 * over a synthesized log, spawn to its `listening` line and to a 200 from /health: what reading
 * a long log costs, with nothing else competing.
 */
import { orderRoutes } from '../../../../shared/protocol/index.ts';
import { freePorts } from '../../cluster/index.ts';
import { readRss, type Rss } from '../procfs.ts';
import { spawnTs } from '../spawn.ts';
import { writeReplicaDirs } from '../synth-log.ts';
import { round, sleep, type Say } from '../util.ts';

export interface StartupResult {
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
    const ok = await fetch(`${url}${orderRoutes.health.path}`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status === 200, () => false);
    if (ok) return performance.now();
    await sleep(2);
  }
  return null;
}

export async function startup(dataDir: string, logOrders: number, nodeArgs: string[], say: Say): Promise<StartupResult> {
  const { logBytes } = await writeReplicaDirs(dataDir, [1], logOrders);
  const [self, p2, p3, catalog] = await freePorts(4);
  const proc = spawnTs('order/main.ts', {
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
  });
  const result: StartupResult = { logOrders, logMiB: round(logBytes / 2 ** 20, 1), listeningMs: null, healthMs: null, rss: null };
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
  say(`  start-up with ${logOrders} orders (${result.logMiB} MiB): listening after ${result.listeningMs ?? '-'} ms, /health after ${result.healthMs ?? '-'} ms, RSS ${result.rss?.rssMiB ?? '-'} MiB`);
  return result;
}
