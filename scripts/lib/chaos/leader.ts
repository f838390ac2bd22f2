/**
 * Who leads, as the chaos run sees it: the frontend's `/health` first (what clients are routed
 * by), else a replica that says it leads (highest epoch). A background poll notes every leader
 * change on the timeline and counts the changes once the clients have started.
 */
import type { HttpClient } from '../../../shared/http.ts';
import { createRouteClient, type RouteClient } from '../../../shared/protocol/client.ts';
import {
  frontendPublicRoutes,
  type FrontendPublicRoutes,
} from '../../../shared/protocol/frontend.ts';
import { orderRoutes, type OrderRoutes } from '../../../shared/protocol/order.ts';
import { REPLICA_IDS, type Cluster, type ReplicaId } from '../cluster/index.ts';
import type { TimelineKind } from './report.ts';
import { sleep } from './sleep.ts';

export interface FrontendView {
  leaderId: number | null;
  epoch: number | null;
}

export class LeaderWatch {
  /** Leader changes seen after `started` was set. */
  changes = 0;
  started = false;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly frontend: RouteClient<FrontendPublicRoutes>;
  private readonly replicas: RouteClient<OrderRoutes>;

  /** `http` carries the cluster credential: replicas' status is an internal route. */
  constructor(
    http: HttpClient,
    private readonly cluster: Cluster,
    private readonly note: (kind: TimelineKind, text: string) => void,
    private readonly signal?: AbortSignal,
  ) {
    this.frontend = createRouteClient(http, frontendPublicRoutes);
    this.replicas = createRouteClient(http, orderRoutes);
  }

  async frontendHealth(): Promise<FrontendView | null> {
    try {
      const { leaderId, epoch } = await this.frontend.call(
        this.cluster.urls.frontend,
        'health',
        {},
        { timeoutMs: 500 },
      );
      return { leaderId, epoch };
    } catch {
      return null;
    }
  }

  /** The leader now: the frontend's view, else a replica that says it leads (highest epoch). */
  async find(): Promise<ReplicaId | null> {
    const h = await this.frontendHealth();
    if (h?.leaderId && REPLICA_IDS.includes(h.leaderId as ReplicaId))
      return h.leaderId as ReplicaId;
    const statuses = await Promise.all(
      REPLICA_IDS.map(async (id) => {
        try {
          const d = await this.replicas.call(
            this.cluster.urls.replicas[id],
            'status',
            {},
            { timeoutMs: 300 },
          );
          return d.role === 'leader' ? { id, epoch: d.leaderEpoch ?? 0 } : null;
        } catch {
          return null;
        }
      }),
    );
    const leaders = statuses.filter((s) => s !== null).sort((a, b) => b!.epoch - a!.epoch);
    return leaders[0]?.id ?? null;
  }

  /** The frontend's leader once it has one, or null at the deadline (or on abort). */
  async waitFor(deadlineMs: number): Promise<ReplicaId | null> {
    const end = performance.now() + deadlineMs;
    while (!this.signal?.aborted && performance.now() < end) {
      const h = await this.frontendHealth();
      if (h?.leaderId) return h.leaderId as ReplicaId;
      await sleep(50, this.signal);
    }
    return null;
  }

  /**
   * Polls every 100 ms. A leader change is a new (leader, epoch) after another one, with or
   * without an election gap in between; a restarted frontend re-reporting the same leader and
   * epoch is not one.
   */
  start(): void {
    const seen: { shown: number | null; known: { leaderId: number; epoch: number | null } | null } =
      { shown: null, known: null };
    this.loop = (async () => {
      while (!this.stopped) {
        const h = await this.frontendHealth();
        const prev = seen.known;
        if (
          h &&
          h.leaderId !== null &&
          (h.leaderId !== prev?.leaderId || h.epoch !== prev?.epoch)
        ) {
          if (prev !== null && this.started) this.changes++;
          this.note(
            'leader',
            `leader ${prev?.leaderId ?? '-'} -> ${h.leaderId} (epoch ${h.epoch})`,
          );
          seen.known = { leaderId: h.leaderId, epoch: h.epoch };
          seen.shown = h.leaderId;
        } else if (h && h.leaderId === null && seen.shown !== null) {
          this.note('leader', `no leader (was ${seen.shown}; electing)`);
          seen.shown = null;
        } else if (h?.leaderId != null) seen.shown = h.leaderId;
        await sleep(100);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop.catch(() => {});
  }
}
