/**
 * The bare servers the store's reads are compared with (ceiling-server.ts): an origin, an order
 * hop and a frontend hop, started like services and stopped by PID.
 */
import { spawnTs, type Spawned } from './spawn.ts';

export interface Ceilings {
  /** The bare Hono app serving products from a Map (the cached-GET ceiling). */
  origin: string;
  /** The frontend hop: two-hop product and order reads, the three-hop order chain. */
  frontend: string;
  pids: { origin: number; order: number; frontend: number };
  stop(): Promise<void>;
}

const FILE = 'scripts/lib/bench/ceiling-server.ts';

/** `env` is added to every ceiling's environment (the profiler's hook). */
export async function startCeilings(env: Record<string, string> = {}): Promise<Ceilings> {
  const procs: Spawned[] = [];
  const start = async (role: string, e: Record<string, string> = {}) => {
    const p = spawnTs(FILE, { env: { PORT: '0', HOST: '127.0.0.1', ROLE: role, ...e, ...env } });
    procs.push(p);
    return { pid: p.pid, url: (await p.ready).url };
  };
  const stop = async () => void (await Promise.all(procs.map((p) => p.stop())));
  try {
    const origin = await start('origin');
    const order = await start('order', { UPSTREAM_URL: origin.url });
    const frontend = await start('frontend', { UPSTREAM_URL: origin.url, ORDER_URL: order.url });
    return {
      origin: origin.url,
      frontend: frontend.url,
      pids: { origin: origin.pid, order: order.pid, frontend: frontend.pid },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
