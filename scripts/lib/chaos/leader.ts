/**
 * Who leads, as the chaos run sees it: the frontend's `/health` first (what clients are routed
 * by), else a replica that says it leads (highest epoch). A background poll notes every leader
 * change on the timeline and counts the changes once the clients have started.
 */
import type { HttpClient } from '../../../shared/http.ts';
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

  constructor(
    private readonly http: HttpClient,
    private readonly cluster: Cluster,
    private readonly note: (kind: TimelineKind, text: string) => void,
    private readonly signal?: AbortSignal,
  ) {}

  async frontendHealth(): Promise<FrontendView | null> {
    try {
      const res = await this.http({ method: 'GET', url: `${this.cluster.urls.frontend}/health`, timeoutMs: 500 });
      const data = (res.body as { data?: { leaderId?: unknown; epoch?: unknown } } | undefined)?.data;
      if (res.status !== 200 || !data) return null;
      return { leaderId: typeof data.leaderId === 'number' ? data.leaderId : null, epoch: typeof data.epoch === 'number' ? data.epoch : null };
    } catch {
      return null;
    }
  }

  /** The leader now: the frontend's view, else a replica that says it leads (highest epoch). */
  async find(): Promise<ReplicaId | null> {
    const h = await this.frontendHealth();
    if (h?.leaderId && REPLICA_IDS.includes(h.leaderId as ReplicaId)) return h.leaderId as ReplicaId;
    const statuses = await Promise.all(
      REPLICA_IDS.map(async (id) => {
        try {
          const res = await this.http({ method: 'GET', url: `${this.cluster.urls.replicas[id]}/internal/status`, timeoutMs: 300 });
          const d = (res.body as { data?: { role?: string; leaderEpoch?: number | null } } | undefined)?.data;
          return d?.role === 'leader' ? { id, epoch: d.leaderEpoch ?? 0 } : null;
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
    const seen: { shown: number | null; known: { leaderId: number; epoch: number | null } | null } = { shown: null, known: null };
    this.loop = (async () => {
      while (!this.stopped) {
        const h = await this.frontendHealth();
        const prev = seen.known;
        if (h && h.leaderId !== null && (h.leaderId !== prev?.leaderId || h.epoch !== prev?.epoch)) {
          if (prev !== null && this.started) this.changes++;
          this.note('leader', `leader ${prev?.leaderId ?? '-'} -> ${h.leaderId} (epoch ${h.epoch})`);
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
