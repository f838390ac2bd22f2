/**
 * Elects the order leader and routes orders and order queries to it.
 *
 * Every `heartbeatIntervalMs` it asks every replica for its status (the leader's answer is the
 * heartbeat; the others feed /health and the next election). When the leader stops answering,
 * says it no longer leads, or a routed request cannot reach it, one election runs: concurrent
 * failures join the election already running instead of starting their own (single flight).
 *
 * Each client order gets a key once, here, and keeps it across every retry, so an order whose
 * first attempt died with the leader is retried at the next leader without buying twice: the new
 * leader finds the key in its log if the order got there, and the catalog decrements once per key.
 */
import { randomUUID } from 'node:crypto';
import { OrderPlacedSchema, OrderSchema, REPLAYED_HEADER, ReplicaStatusSchema, type Order, type OrderPlaced, type OrderRequest, type ReplicaStatus } from '../shared/contracts.ts';
import type { ReplicaAddress } from '../shared/config.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, noLeader, outcomeUnknown } from '../shared/errors.ts';
import { expectData, NetworkError, type HttpClient } from '../shared/http.ts';
import { LeadResponseSchema } from '../shared/contracts.ts';
import { candidatesInPriorityOrder, existingLeader, nextEpoch, stillLeads, type Probe } from './election.ts';
import type { ElectionView, OrderRouter, ReplicaView } from './types.ts';

export interface OrderRouterOptions {
  http: HttpClient;
  replicas: ReplicaAddress[];
  clock: Clock;
  heartbeatIntervalMs: number;
  /** How long one client request may spend retrying across failovers before giving up. */
  requestDeadlineMs?: number;
  log?: (msg: string) => void;
}

export interface LeaderChange {
  atMs: number;
  leaderId: number | null;
  epoch: number | null;
}

export function createOrderRouter(o: OrderRouterOptions): OrderRouter & { start(): void; stop(): void; history(): LeaderChange[] } {
  const say = o.log ?? (() => {});
  // Generous enough that a slow link is not mistaken for a dead leader (a needless failover);
  // a crashed leader refuses connections at once and is noticed on the next beat regardless.
  const probeTimeoutMs = Math.max(4 * o.heartbeatIntervalMs, 500);
  const rpcTimeoutMs = Math.max(4 * o.heartbeatIntervalMs, 1_000);
  const requestDeadlineMs = o.requestDeadlineMs ?? 10_000;
  const statuses = new Map<number, ReplicaStatus | null>(o.replicas.map((r) => [r.id, null]));
  const probed = new Set<number>();
  let leader: { id: number; epoch: number } | null = null;
  let electing: Promise<void> | null = null;
  let stopped = true;
  let cancelTick: () => void = () => {};
  const changes: LeaderChange[] = [];
  // Called whenever the leader changes, so requests still waiting on a deposed or dead leader stop
  // waiting at once and move to the new one (their key makes the repeat safe). One entry per
  // request in flight, removed when it settles: nothing accumulates between leader changes.
  const onLeaderMoved = new Set<() => void>();
  const urlOf = (id: number) => o.replicas.find((r) => r.id === id)!.url;

  async function probe(id: number): Promise<Probe> {
    try {
      const res = await o.http({ method: 'GET', url: `${urlOf(id)}/internal/status`, timeoutMs: probeTimeoutMs });
      const status = expectData(res, ReplicaStatusSchema);
      statuses.set(id, status);
      probed.add(id);
      return { id, status };
    } catch {
      statuses.set(id, null);
      probed.add(id);
      return { id, status: null };
    }
  }

  const probeAll = () => Promise.all(o.replicas.map((r) => probe(r.id)));

  function setLeader(next: { id: number; epoch: number } | null) {
    if (next?.id === leader?.id && next?.epoch === leader?.epoch) return;
    leader = next;
    for (const abandon of [...onLeaderMoved]) abandon();
    changes.push({ atMs: o.clock.now(), leaderId: next?.id ?? null, epoch: next?.epoch ?? null });
    say(next ? `leader is replica ${next.id} in epoch ${next.epoch}` : 'no leader');
  }

  async function runElection(reason: string): Promise<void> {
    say(`electing a leader: ${reason}`);
    const probes = await probeAll();
    const kept = existingLeader(probes);
    if (kept) return setLeader(kept);
    let floor = 0;
    for (const id of candidatesInPriorityOrder(probes)) {
      for (let attempt = 0; attempt < 3; attempt++) {
        const epoch = nextEpoch(probes, floor);
        try {
          const res = await o.http({ method: 'POST', url: `${urlOf(id)}/internal/lead`, body: { epoch }, timeoutMs: rpcTimeoutMs });
          const led = expectData(res, LeadResponseSchema);
          setLeader({ id, epoch: led.epoch });
          // Tell every replica who leads; the view change already bound a quorum, this reaches the rest.
          for (const r of o.replicas) {
            void o.http({ method: 'POST', url: `${r.url}/internal/leader`, body: { epoch: led.epoch, leaderId: id }, timeoutMs: probeTimeoutMs }).catch(() => {});
          }
          return;
        } catch (err) {
          if (err instanceof AppError && err.reason === 'stale_epoch') {
            floor = Math.max(floor, Number(err.detail?.promisedEpoch ?? 0));
            continue;
          }
          say(`replica ${id} could not take the lead: ${(err as Error).message}`);
          // It may have promised this epoch to itself: the next candidate asks for a newer one,
          // so no two candidates of ours ever compete for the same epoch.
          floor = Math.max(floor, epoch);
          break;
        }
      }
    }
    setLeader(null);
  }

  /** Starts an election unless one is running; everyone who asks waits for the same one. */
  function elect(reason: string): Promise<void> {
    if (!electing) {
      electing = runElection(reason).finally(() => {
        electing = null;
      });
    }
    return electing;
  }

  async function tick(): Promise<void> {
    if (stopped) return;
    const current = leader;
    const probes = await probeAll();
    if (stopped) return;
    if (!electing) {
      if (!current) await elect('no leader yet');
      else if (leader === current && !stillLeads(probes.find((p) => p.id === current.id)!.status, current.epoch)) {
        await elect(`leader ${current.id} stopped answering heartbeats`);
      }
    }
    if (!stopped) cancelTick = o.clock.setTimeout(() => void tick(), o.heartbeatIntervalMs);
  }

  async function currentLeader(): Promise<{ id: number; epoch: number }> {
    if (electing) await electing;
    if (!leader) await elect('a request needs a leader');
    if (!leader) throw noLeader('no order replica could take the lead (a majority must be up)');
    return leader;
  }

  /**
   * Runs `attempt` at the leader, re-electing and retrying when the leader is gone or deposed.
   * `retryUnknown`: whether an attempt with an unknown outcome may be repeated (true for orders,
   * because the key makes the repeat safe; reads are always safe).
   */
  async function routed<T>(attempt: (l: { id: number; epoch: number }) => Promise<T>): Promise<T> {
    const deadline = o.clock.now() + requestDeadlineMs;
    let lastError: unknown;
    while (o.clock.now() < deadline) {
      const l = await currentLeader();
      let abandon = () => {};
      const moved = new Promise<never>((_, reject) => {
        abandon = () => reject(outcomeUnknown(`leadership moved away from replica ${l.id} during the request`));
      });
      onLeaderMoved.add(abandon);
      try {
        return await Promise.race([attempt(l), moved]);
      } catch (err) {
        lastError = err;
        const retryable =
          err instanceof NetworkError ||
          (err instanceof AppError && (err.reason === 'not_leader' || err.reason === 'stale_epoch' || err.reason === 'outcome_unknown'));
        if (!retryable) throw err;
        if (leader === l) await elect(`replica ${l.id} failed a request: ${(err as Error).message}`);
        await o.clock.sleep(Math.min(50, o.heartbeatIntervalMs));
      } finally {
        onLeaderMoved.delete(abandon);
      }
    }
    if (lastError instanceof AppError && lastError.reason === 'outcome_unknown') throw lastError;
    throw noLeader(`no leader answered within ${requestDeadlineMs} ms`);
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      void tick();
    },
    stop() {
      stopped = true;
      cancelTick();
    },
    history: () => [...changes],

    placeOrder(req: OrderRequest, opts: { idempotencyKey?: string } = {}): Promise<OrderPlaced & { replayed: boolean }> {
      // Without a client key, one is made here for this request: the frontend's own retries are
      // still safe, but a client that retries the whole request gets a new order.
      const key = opts.idempotencyKey ?? randomUUID();
      let attempts = 0;
      return routed(async (l) => {
        attempts++;
        const res = await o.http({ method: 'POST', url: `${urlOf(l.id)}/orders`, body: { ...req, key, epoch: l.epoch }, timeoutMs: rpcTimeoutMs + 5_000 });
        const placed = expectData(res, OrderPlacedSchema);
        // Our own retry finding our first attempt's order is not a replay for the client.
        const replayed = res.headers[REPLAYED_HEADER] === 'true' && attempts === 1;
        return { ...placed, replayed };
      });
    },

    getOrder(orderNumber: number): Promise<Order> {
      return routed(async (l) => {
        const res = await o.http({ method: 'GET', url: `${urlOf(l.id)}/orders/${orderNumber}?epoch=${l.epoch}`, timeoutMs: rpcTimeoutMs });
        return expectData(res, OrderSchema);
      });
    },

    view(): ElectionView {
      const replicas: ReplicaView[] = o.replicas.map((r) => {
        const s = statuses.get(r.id) ?? null;
        return {
          id: r.id,
          url: r.url,
          state: !probed.has(r.id) ? 'unknown' : s ? 'up' : 'down',
          role: s?.role ?? null,
          lastIndex: s?.head.lastIndex ?? null,
          promisedEpoch: s?.promisedEpoch ?? null,
        };
      });
      return { leaderId: leader?.id ?? null, epoch: leader?.epoch ?? null, electing: electing !== null, replicas };
    },
  };
}
