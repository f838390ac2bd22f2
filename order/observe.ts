/**
 * What an order replica shows about itself, wired by order/build.ts around the replica's events and
 * injected interfaces:
 *
 * - `replicaEventLogger`: the replica's typed events as structured lines: becoming leader,
 *   stepping down, log adoption, truncation, followers lost and found, storage damage and
 *   recovery, catalog fencing and releases.
 * - `observeMeta`: one line per epoch change, seen where it becomes durable (MetaStore.save).
 * - `watchLeader`: one line per change of the leader this replica follows (or is), read from
 *   replica.status() every heartbeat.
 * - `observePeers` (leader side): catch-ups. A follower is catching up when the leader sends it
 *   orders after its last append in this epoch failed or was refused (log mismatch);
 *   the catch-up ends when it holds everything the leader had when it sent. One line per
 *   catch-up with the follower, where it started, how many orders and how long, and the
 *   `toystore_order_catchups_total` / `_catchup_orders_total` counters.
 *   It also carries request ids to the followers: an append holding orders goes out with the ids
 *   of the client requests that placed them (remembered by `observePurchaser` when the leader
 *   buys from the catalog, which happens in the request's context), and a heartbeat goes out with
 *   none, instead of whatever request happened to start the replication loop.
 * - `registerReplicaMetrics`: epoch, role, leader id, log length, commit index, replication lag
 *   per follower, read from replica.status() at scrape time.
 */
import type { Logger } from 'pino';
import type { Clock } from '../shared/clock.ts';
import type { AppendRequest, ReplicaStatus } from '../shared/contracts.ts';
import { Counter } from 'prom-client';
import { gaugeFrom, METRIC_PREFIX, type Registry } from '../shared/metrics.ts';
import { describeReplicaEvent, type ReplicaEvent } from './events.ts';
import type { MetaStore } from './meta.ts';
import type { CatalogPurchaser, PeerTransport } from './peers.ts';

const p = METRIC_PREFIX;

/**
 * The replica's events (order/events.ts) as structured log lines: `event` is the event's type,
 * its fields ride along, and the level and sentence come from `describeReplicaEvent`.
 */
export function replicaEventLogger(logger: Logger): (e: ReplicaEvent) => void {
  return (e) => {
    const { level, msg } = describeReplicaEvent(e);
    const { type, ...fields } = e;
    logger[level]({ event: type, ...fields }, msg);
  };
}

/** The meta store, logging each change of the promised epoch once it is durable. */
export function observeMeta(meta: MetaStore, logger: Logger): MetaStore {
  let current = meta.load();
  return {
    load: () => meta.load(),
    async save(next) {
      const before = current;
      current = { ...next };
      await meta.save(next);
      if (next.promisedEpoch !== before.promisedEpoch) {
        logger.info(
          {
            event: 'epoch_change',
            from: before.promisedEpoch,
            to: next.promisedEpoch,
            votedFor: next.votedFor,
          },
          `epoch ${before.promisedEpoch} -> ${next.promisedEpoch}`,
        );
      }
      if (next.logEpoch !== before.logEpoch)
        logger.debug(
          { event: 'log_epoch', from: before.logEpoch, to: next.logEpoch },
          `log epoch ${before.logEpoch} -> ${next.logEpoch}`,
        );
    },
  };
}

/**
 * Logs when the leader this replica knows of changes, checked every `everyMs` on `clock`. Returns a
 * stop function.
 */
export function watchLeader(
  status: () => ReplicaStatus,
  logger: Logger,
  everyMs: number,
  clock: Clock,
): () => void {
  let last = status();
  let cancel: (() => void) | null = null;
  const check = () => {
    const now = status();
    if (now.leaderId !== last.leaderId) {
      const epoch = now.leaderEpoch ?? now.promisedEpoch;
      logger.info(
        { event: 'leader_change', from: last.leaderId, to: now.leaderId, epoch, role: now.role },
        now.leaderId === null
          ? `leader ${last.leaderId} is gone`
          : `leader is replica ${now.leaderId}${now.leaderId === now.id ? ' (this one)' : ''} in epoch ${epoch}`,
      );
    }
    last = now;
    cancel = clock.setTimeout(check, everyMs);
  };
  cancel = clock.setTimeout(check, everyMs);
  return () => cancel?.();
}

/** Which client request placed each order, by order key; bounded, oldest forgotten first. */
export class RequestIdsByKey {
  private readonly ids = new Map<string, string>();
  constructor(private readonly max = 4_096) {}
  remember(key: string, requestId: string | undefined): void {
    if (requestId === undefined) return;
    this.ids.set(key, requestId);
    while (this.ids.size > this.max) this.ids.delete(this.ids.keys().next().value!);
  }
  /** The distinct ids of the requests behind `keys`, at most `limit`. */
  idsOf(keys: readonly string[], limit = 8): string[] {
    const out = new Set<string>();
    for (const k of keys) {
      const id = this.ids.get(k);
      if (id !== undefined) out.add(id);
      if (out.size >= limit) break;
    }
    return [...out];
  }
}

/** The catalog purchaser, remembering which request each order key belongs to. */
export function observePurchaser(
  catalog: CatalogPurchaser,
  ids: RequestIdsByKey,
): CatalogPurchaser {
  return {
    purchase(req, requestId) {
      ids.remember(req.key, requestId);
      return catalog.purchase(req, requestId);
    },
  };
}

export interface CatchupMetrics {
  catchups: Counter<'follower'>;
  orders: Counter<'follower'>;
}

export function catchupMetrics(registry: Registry): CatchupMetrics {
  return {
    catchups: new Counter({
      name: `${p}order_catchups_total`,
      help: 'Catch-ups this replica completed as leader, by follower',
      labelNames: ['follower'],
      registers: [registry],
    }),
    orders: new Counter({
      name: `${p}order_catchup_orders_total`,
      help: 'Orders sent to followers during catch-ups, by follower',
      labelNames: ['follower'],
      registers: [registry],
    }),
  };
}

interface Episode {
  epoch: number;
  from: number;
  startedMs: number;
}

/**
 * The peer transport as seen from a leader: catch-ups logged and counted, request ids put on
 * appends. `now` is monotonic ms.
 */
export function observePeers(
  peers: PeerTransport,
  o: { logger: Logger; ids: RequestIdsByKey; metrics?: CatchupMetrics; now?: () => number },
): PeerTransport {
  const now = o.now ?? (() => performance.now());
  /** Per follower: how the last append went, in which epoch, and the catch-up under way. */
  const state = new Map<
    number,
    { epoch: number; answered: boolean; lastOk: boolean; episode: Episode | null }
  >();

  async function append(peer: number, req: AppendRequest, timeoutMs: number) {
    let s = state.get(peer);
    if (!s || s.epoch !== req.epoch) {
      s = { epoch: req.epoch, answered: false, lastOk: false, episode: null };
      state.set(peer, s);
    }
    // Behind: it failed or refused the last append. (Not merely unanswered yet: the first append
    // of an epoch may carry fresh orders to a follower that is in step.)
    const carries = req.entries.length > 0 || Boolean(req.records);
    if (carries && s.answered && !s.lastOk && !s.episode) {
      s.episode = { epoch: req.epoch, from: req.prevIndex + 1, startedMs: now() };
      o.logger.debug(
        {
          event: 'catchup_start',
          follower: peer,
          from: req.prevIndex + 1,
          leaderLastIndex: req.leaderLastIndex,
        },
        `catching up follower ${peer} from order ${req.prevIndex + 1}`,
      );
    }
    // The ids of the client requests whose orders this append carries (none on a heartbeat).
    const ids = req.entries.length ? o.ids.idsOf(req.entries.map((e) => e.key)) : [];
    try {
      const res = await peers.append(peer, req, timeoutMs, ids.length ? ids.join(',') : undefined);
      s.answered = true;
      s.lastOk = res.ok;
      const ep = s.episode;
      if (res.ok && ep && res.matchIndex >= req.leaderLastIndex) {
        s.episode = null;
        const orders = Math.max(0, res.matchIndex - ep.from + 1);
        const ms = Math.round(now() - ep.startedMs);
        o.metrics?.catchups.inc({ follower: peer });
        o.metrics?.orders.inc({ follower: peer }, orders);
        o.logger.info(
          {
            event: 'catchup',
            follower: peer,
            from: ep.from,
            to: res.matchIndex,
            orders,
            ms,
            epoch: ep.epoch,
          },
          `follower ${peer} caught up: ${orders} orders from order ${ep.from} in ${ms} ms`,
        );
      }
      return res;
    } catch (err) {
      s.answered = true;
      s.lastOk = false;
      throw err;
    }
  }

  return { ...peers, append };
}

/** Registers the replica's own metrics (the HTTP ones come from shared/observability.ts). */
export function registerReplicaMetrics(registry: Registry, status: () => ReplicaStatus): void {
  gaugeFrom(
    registry,
    `${p}order_epoch`,
    'Highest epoch this replica has promised',
    [],
    () => status().promisedEpoch,
  );
  gaugeFrom(
    registry,
    `${p}order_leader_epoch`,
    'Epoch this replica leads (0: not leading)',
    [],
    () => status().leaderEpoch ?? 0,
  );
  gaugeFrom(registry, `${p}order_role`, '1 for the role this replica has now', ['role'], () =>
    (['follower', 'candidate', 'leader'] as const).map(
      (role) => [{ role }, status().role === role ? 1 : 0] as const,
    ),
  );
  gaugeFrom(
    registry,
    `${p}order_leader_id`,
    'Replica this one knows as leader (0: none known)',
    [],
    () => status().leaderId ?? 0,
  );
  gaugeFrom(
    registry,
    `${p}order_log_entries`,
    "Orders in this replica's log (its length)",
    [],
    () => status().head.lastIndex + 1,
  );
  gaugeFrom(
    registry,
    `${p}order_commit_index`,
    'Highest order index known committed (-1: none)',
    [],
    () => status().commitIndex,
  );
  gaugeFrom(
    registry,
    `${p}order_replication_lag_orders`,
    'Orders the leader holds that a follower has not acknowledged (leader only)',
    ['follower'],
    () => {
      const s = status();
      return s.followers.map(
        (f) => [{ follower: f.id }, Math.max(0, s.head.lastIndex - f.matchIndex)] as const,
      );
    },
  );
  gaugeFrom(
    registry,
    `${p}order_follower_reachable`,
    'Whether the follower answered the last append (leader only)',
    ['follower'],
    () => status().followers.map((f) => [{ follower: f.id }, f.reachable ? 1 : 0] as const),
  );
}
