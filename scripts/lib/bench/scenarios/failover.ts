/**
 * Failover: SIGKILL the leader under a steady order load, time from the kill to the next
 * acknowledged order, count what clients saw; restart the replica and wait until the three logs
 * are byte-identical before the next kill. `OrderLoad` is the steady load (5 keep-alive clients,
 * a fresh key per order, no client retries, so every fault the store lets through is counted).
 */
import { TOY_NAMES } from '../../../../catalog/toys.ts';
import type { Cluster, ServiceName } from '../../cluster/index.ts';
import { createPooledHttp, type HttpClient } from '../../../../shared/http.ts';
import { orderRequest, waitForLeader } from '../store-probe.ts';
import { orderLogPath, waitIdentical } from '../synth-log.ts';
import { median, round, sleep, type Say } from '../util.ts';

export interface FailoverKill {
  killed: number;
  newLeader: number | null;
  /** SIGKILL to the first 200 answer to an order sent after it (null: none within the limit). */
  failoverMs: number | null;
  /**
   * Client-visible errors (anything but 200/409, or no answer) from the kill until the replica
   * rejoined.
   */
  errors: number;
  /** Restart of the killed replica to the three logs byte-identical (orders paused meanwhile). */
  convergeMs: number | null;
}

export interface FailoverResult {
  kills: FailoverKill[];
  clients: number;
  ordersAcknowledged: number;
  ordersRejected: number;
  errors: number;
  errorKinds: Record<string, number>;
  failoverMsMax: number | null;
  failoverMsMedian: number | null;
}

/** Bound on the acknowledgements and errors kept (a 10-kill run has a few thousand). */
const MAX_EVENTS = 1_000_000;

class OrderLoad {
  readonly acks: Array<{ start: number; end: number }> = [];
  readonly errors: Array<{ at: number; what: string }> = [];
  rejected = 0;
  paused = false;
  private stopped = false;
  private inflight = 0;
  private readonly http: HttpClient & { close(): Promise<void> };
  private readonly loops: Promise<void>[];

  constructor(
    private readonly frontendUrl: string,
    readonly clients: number,
  ) {
    this.http = createPooledHttp({ connectionsPerOrigin: clients });
    this.loops = Array.from({ length: clients }, (_, c) => this.run(c));
  }

  private async run(c: number): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      if (this.paused) {
        await sleep(5);
        continue;
      }
      this.inflight++;
      const start = performance.now();
      try {
        const res = await this.http(
          orderRequest(this.frontendUrl, TOY_NAMES[(c * 3 + i) % TOY_NAMES.length], 15_000),
        );
        if (res.status === 200) this.record(this.acks, { start, end: performance.now() });
        else if (res.status === 409) this.rejected++;
        else this.record(this.errors, { at: performance.now(), what: `HTTP ${res.status}` });
      } catch (err) {
        this.record(this.errors, {
          at: performance.now(),
          what: (err as Error).message.split(':')[0] ?? 'network',
        });
      } finally {
        this.inflight--;
      }
    }
  }

  private record<T>(list: T[], item: T): void {
    if (list.length < MAX_EVENTS) list.push(item);
  }

  /** The first acknowledged order sent at or after `t`, waiting up to `limitMs`. */
  async ackAfter(t: number, limitMs: number): Promise<{ start: number; end: number } | null> {
    const deadline = performance.now() + limitMs;
    while (performance.now() < deadline) {
      const a = this.acks.find((x) => x.start >= t);
      if (a) return a;
      await sleep(1);
    }
    return null;
  }

  async drain(): Promise<void> {
    while (this.inflight > 0) await sleep(2);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await this.http.close();
  }
}

async function killOnce(cluster: Cluster, load: OrderLoad): Promise<FailoverKill> {
  const leader = await waitForLeader(cluster.urls.frontend, 20_000);
  await load.ackAfter(performance.now(), 10_000); // orders are flowing
  await sleep(100);
  const errorsBefore = load.errors.length;
  const tKill = performance.now();
  await cluster.kill(`order-${leader}` as ServiceName, 'SIGKILL');
  const ack = await load.ackAfter(tKill, 20_000);
  const newLeader = await waitForLeader(cluster.urls.frontend, 20_000, leader).catch(() => null);
  await cluster.restart(`order-${leader}` as ServiceName);
  load.paused = true;
  await load.drain();
  const t0 = performance.now();
  const same = await waitIdentical(
    [1, 2, 3].map((id) => orderLogPath(cluster.dataDir, id)),
    30_000,
    5,
  );
  load.paused = false;
  return {
    killed: leader,
    newLeader,
    failoverMs: ack ? round(ack.end - tKill, 1) : null,
    errors: load.errors.length - errorsBefore,
    convergeMs: same === null ? null : round(same - t0, 1),
  };
}

/** `kills` rounds of: SIGKILL the leader under load, time the next ack, restart it, converge. */
export async function failover(cluster: Cluster, kills: number, say: Say): Promise<FailoverResult> {
  const load = new OrderLoad(cluster.urls.frontend, 5);
  const result: FailoverKill[] = [];
  try {
    for (let k = 0; k < kills; k++) {
      const kill = await killOnce(cluster, load);
      result.push(kill);
      say(
        `  kill ${k + 1}/${kills}: leader ${kill.killed} -> ${kill.newLeader}, next ack after ${kill.failoverMs ?? 'none'} ms, ${kill.errors} client errors, logs identical ${kill.convergeMs ?? 'never'} ms after restart`,
      );
    }
  } finally {
    await load.stop();
  }
  const times = result.map((r) => r.failoverMs).filter((v): v is number => v !== null);
  const errorKinds: Record<string, number> = {};
  for (const e of load.errors) errorKinds[e.what] = (errorKinds[e.what] ?? 0) + 1;
  return {
    kills: result,
    clients: load.clients,
    ordersAcknowledged: load.acks.length,
    ordersRejected: load.rejected,
    errors: load.errors.length,
    errorKinds,
    failoverMsMax: times.length === result.length && times.length ? Math.max(...times) : null,
    failoverMsMedian: times.length ? median(times) : null,
  };
}
