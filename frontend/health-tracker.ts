/**
 * What the frontend has seen of the store's health, as a pure function of typed observations:
 * the outcome of every order it routed, its heartbeat view of the order replicas, its router's
 * elections and leader changes (frontend/router-events.ts) and its calls to the catalog. From
 * them it derives:
 *
 * - banners: "orders refused: no quorum" since the first refusal of the current run, driven by the
 *   order outcomes and election results, never by the last leader the router named (with no
 *   quorum the router still names a leader while every order gets 503);
 * - failovers: one per leader change, with how long it took (from the first sign of trouble the
 *   frontend saw to the new leader) and why, in words a person reads;
 * - services: up or down, and since when, per order replica and for the catalog.
 *
 * No IO and no clock: every observation carries its wall-clock time, so tests feed a story and
 * read the result. frontend/status-recorder.ts feeds it from the running router.
 */
import type { ElectionView } from './types.ts';
import { Ring } from './ring.ts';

export type Observation =
  | { kind: 'order'; atMs: number; status: number; reason: string | null; latencyMs: number }
  | { kind: 'view'; atMs: number; view: ElectionView }
  /** The router started an election, and why (its own words). */
  | { kind: 'election'; atMs: number; reason: string }
  | { kind: 'election_refused'; atMs: number; replica: number | null; reason: string }
  /**
   * `why` as the router says it (default 'elected'): 'found' an existing leader, 'newer' epoch
   * seen, 'none' left.
   */
  | {
      kind: 'leader_change';
      atMs: number;
      leaderId: number | null;
      epoch: number | null;
      why?: 'elected' | 'found' | 'newer' | 'none';
    }
  | { kind: 'catalog'; atMs: number; ok: boolean; error: string | null };

export type BannerReason =
  | 'no_quorum'
  | 'no_leader'
  | 'catalog_down'
  | 'outcome_unknown'
  | 'orders_failing'
  | 'quorum_at_risk'
  | 'failing_over';

export interface Banner {
  /** down: requests are failing now; warn: they may start to. */
  level: 'down' | 'warn';
  reason: BannerReason;
  /** What is wrong, without times ("orders refused: no quorum"); the page adds "since <time>". */
  headline: string;
  sinceMs: number;
  /**
   * Orders refused for this reason, the last one's time, and when orders started failing for any
   * reason (earlier than sinceMs when, say, 504s turned into 503s). Null: not about refused orders.
   */
  refused: { count: number; status: number; lastMs: number; failingSinceMs: number } | null;
  /** One more sentence of facts, or null. */
  detail: string | null;
}

export interface Failover {
  atMs: number;
  from: number | null;
  to: number | null;
  epoch: number | null;
  reason: string;
  /**
   * When the frontend first saw trouble with the old leader (null: it saw none before the change).
   */
  troubleSinceMs: number | null;
  durationMs: number | null;
  /** From the first sign of trouble to the next acknowledged order (null until one arrives). */
  ordersResumedAfterMs: number | null;
}

export interface ServiceHealth {
  name: string;
  state: 'up' | 'down' | 'unknown';
  /** When the frontend first saw it in this state (null: never observed). */
  sinceMs: number | null;
  lastUpMs: number | null;
  detail: string | null;
}

interface Trouble {
  sinceMs: number;
  why: string;
  rank: number;
  fromView: boolean;
}
interface Streak {
  reason: BannerReason;
  status: number;
  headline: string;
  sinceMs: number;
  lastMs: number;
  count: number;
  failingSinceMs: number;
}

/**
 * Why the leader looks unwell, strongest evidence first (a later, stronger sign rewrites the
 * words, not the time). The router's own reason for its election is the strongest: it is why the
 * leader changed.
 */
const RANK = { election: 4, down: 3, role: 2, order: 1, electing: 0 } as const;

/** A failed order's banner: `cause` in a few words, and the headline built from it. */
export function orderFailure(
  status: number,
  reason: string | null,
): Pick<Streak, 'reason' | 'headline'> & { cause: string } {
  const f = (r: BannerReason, verb: string, cause: string) => ({
    reason: r,
    cause,
    headline: `orders ${verb}: ${cause}`,
  });
  if (reason === 'no_quorum') return f('no_quorum', 'refused', 'no quorum');
  if (reason === 'no_leader') return f('no_leader', 'refused', 'no leader');
  if (reason === 'upstream_unavailable') return f('catalog_down', 'refused', 'catalog unreachable');
  if (status === 504) return f('outcome_unknown', 'timing out', 'outcome unknown (504)');
  return f('orders_failing', 'failing', `HTTP ${status}${reason ? ` (${reason})` : ''}`);
}

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export class HealthTracker {
  private leaderId: number | null = null;
  private everLed = false;
  private noLeaderSinceMs: number | null = null;
  private trouble: Trouble | null = null;
  private streak: Streak | null = null;
  private lastView: ElectionView | null = null;
  private belowQuorumSinceMs: number | null = null;
  /** The replicas that refused to lead in the current election, for a failed election's words. */
  private refusals: string[] = [];
  private readonly services = new Map<string, ServiceHealth>();
  private readonly changes: Ring<Failover>;

  constructor(private readonly o: { quorum: number; failoversKept?: number }) {
    this.changes = new Ring(o.failoversKept ?? 20);
    this.services.set('catalog', {
      name: 'catalog',
      state: 'unknown',
      sinceMs: null,
      lastUpMs: null,
      detail: null,
    });
  }

  observe(e: Observation): void {
    if (e.kind === 'order') this.onOrder(e);
    else if (e.kind === 'view') this.onView(e.atMs, e.view);
    else if (e.kind === 'leader_change') this.onLeaderChange(e);
    else if (e.kind === 'election') this.onElection(e.atMs, e.reason);
    else if (e.kind === 'election_refused')
      this.refusals = [
        ...this.refusals,
        e.replica === null ? e.reason : `replica ${e.replica} refused: ${e.reason}`,
      ].slice(-3);
    else this.setService('catalog', e.atMs, e.ok ? 'up' : 'down', e.error);
  }

  private onOrder(e: Extract<Observation, { kind: 'order' }>): void {
    if (e.status < 500) {
      // The leader answered (an acknowledgement or a definite refusal): whatever failed has healed.
      this.streak = null;
      if (this.trouble && !this.trouble.fromView) this.trouble = null;
      if (e.status === 200) {
        this.setService('catalog', e.atMs, 'up', null); // the leader bought from it
        const last = this.changes.last();
        if (
          last &&
          last.to !== null &&
          last.troubleSinceMs !== null &&
          last.ordersResumedAfterMs === null &&
          e.atMs >= last.atMs
        ) {
          last.ordersResumedAfterMs = Math.max(0, e.atMs - last.troubleSinceMs);
        }
      }
      return;
    }
    const { cause, ...f } = orderFailure(e.status, e.reason);
    if (this.streak?.reason === f.reason) {
      this.streak.count++;
      this.streak.lastMs = e.atMs;
    } else {
      this.streak = {
        ...f,
        status: e.status,
        sinceMs: e.atMs,
        lastMs: e.atMs,
        count: 1,
        failingSinceMs: this.streak?.failingSinceMs ?? e.atMs,
      };
    }
    if (f.reason === 'catalog_down')
      this.setService('catalog', e.atMs, 'down', 'the order leader could not reach it');
    if (this.leaderId !== null)
      this.noteTrouble(
        e.atMs,
        `orders to replica ${this.leaderId} failed: ${cause}`,
        RANK.order,
        false,
      );
  }

  private onView(atMs: number, v: ElectionView): void {
    this.lastView = v;
    for (const r of v.replicas)
      this.setService(`order-${r.id}`, atMs, r.state, r.state === 'up' ? r.role : null);
    const up = v.replicas.filter((r) => r.state === 'up').length;
    if (up >= this.o.quorum) this.belowQuorumSinceMs = null;
    else this.belowQuorumSinceMs ??= atMs;

    if (this.leaderId === null) return;
    const r = v.replicas.find((x) => x.id === this.leaderId);
    if (r?.state === 'down')
      this.noteTrouble(atMs, `replica ${r.id} stopped answering heartbeats`, RANK.down, true);
    else if (r?.state === 'up' && r.role !== 'leader')
      this.noteTrouble(
        atMs,
        `replica ${r.id} stopped leading (it says ${r.role ?? 'nothing'})`,
        RANK.role,
        true,
      );
    else if (v.electing)
      this.noteTrouble(
        atMs,
        `the frontend started an election while replica ${this.leaderId} still answered heartbeats`,
        RANK.electing,
        true,
      );
    else if (this.trouble?.fromView) this.trouble = null; // a blip that healed without a change
  }

  private onElection(atMs: number, reason: string): void {
    this.refusals = [];
    if (this.leaderId !== null) this.noteTrouble(atMs, reason, RANK.election, false);
  }

  private noteTrouble(atMs: number, why: string, rank: number, fromView: boolean): void {
    if (!this.trouble) this.trouble = { sinceMs: atMs, why, rank, fromView };
    else if (rank > this.trouble.rank)
      this.trouble = { ...this.trouble, why, rank, fromView: this.trouble.fromView && fromView };
  }

  private onLeaderChange(c: Extract<Observation, { kind: 'leader_change' }>): void {
    const from = this.leaderId;
    const trouble = this.trouble && this.trouble.sinceMs <= c.atMs ? this.trouble : null;
    let reason: string;
    let since: number | null = trouble?.sinceMs ?? null;
    if (c.leaderId === null)
      reason = `election failed: ${[this.replicasAnswering(), ...this.refusals].join('; ')}`;
    else if (from === null && !this.everLed)
      reason = c.why === 'found' ? `found replica ${c.leaderId} leading` : 'first election';
    else if (from === null) {
      reason = `a leader could be elected again: ${this.replicasAnswering()}`;
      since = this.noLeaderSinceMs;
    } else if (c.why === 'newer')
      reason = `replica ${c.leaderId} leads a newer epoch than the one this frontend routed to`;
    else reason = trouble?.why ?? this.whyWithoutTrouble(from);
    this.changes.push({
      atMs: c.atMs,
      from,
      to: c.leaderId,
      epoch: c.epoch,
      reason,
      troubleSinceMs: since,
      durationMs: since === null ? null : Math.max(0, c.atMs - since),
      ordersResumedAfterMs: null,
    });
    this.leaderId = c.leaderId;
    this.everLed ||= c.leaderId !== null;
    this.noLeaderSinceMs = c.leaderId === null ? (this.noLeaderSinceMs ?? c.atMs) : null;
    this.trouble = null;
    this.refusals = [];
  }

  private whyWithoutTrouble(from: number): string {
    const r = this.lastView?.replicas.find((x) => x.id === from);
    if (r?.state === 'down') return `replica ${from} stopped answering heartbeats`;
    return `replica ${from} was replaced (the frontend saw no trouble before the change)`;
  }

  private replicasAnswering(): string {
    const v = this.lastView;
    if (!v) return 'no heartbeat answered yet';
    const up = v.replicas.filter((r) => r.state === 'up').length;
    return `${up} of ${v.replicas.length} order replicas answer heartbeats (${this.o.quorum} needed)`;
  }

  private setService(
    name: string,
    atMs: number,
    state: ServiceHealth['state'],
    detail: string | null,
  ): void {
    const s = this.services.get(name) ?? {
      name,
      state: 'unknown',
      sinceMs: null,
      lastUpMs: null,
      detail: null,
    };
    if (s.state !== state || s.sinceMs === null) {
      s.state = state;
      s.sinceMs = atMs;
    }
    if (state === 'up') s.lastUpMs = atMs;
    s.detail = detail;
    this.services.set(name, s);
  }

  failovers(): Failover[] {
    return this.changes.toArray().map((f) => ({ ...f }));
  }

  serviceHealth(): ServiceHealth[] {
    const order = (n: string) => (n === 'catalog' ? 0 : 1);
    return [...this.services.values()]
      .sort((a, b) => order(a.name) - order(b.name) || b.name.localeCompare(a.name))
      .map((s) => ({ ...s }));
  }

  banners(): Banner[] {
    const out = new Map<BannerReason, Banner>();
    const add = (b: Banner | null) => {
      if (!b) return;
      const had = out.get(b.reason);
      out.set(
        b.reason,
        had
          ? {
              ...had,
              sinceMs: Math.min(had.sinceMs, b.sinceMs),
              refused: had.refused ?? b.refused,
              detail: had.detail ?? b.detail,
            }
          : b,
      );
    };
    // What refuses orders now first; the warnings only when nothing refuses them.
    add(this.streakBanner());
    add(this.noLeaderBanner());
    add(this.catalogBanner());
    if (!out.has('no_quorum') && !out.has('no_leader')) {
      add(this.quorumAtRiskBanner());
      add(this.failingOverBanner());
    }
    return [...out.values()].sort((a, b) =>
      a.level === b.level ? a.sinceMs - b.sinceMs : a.level === 'down' ? -1 : 1,
    );
  }

  /** Orders failing the same way, one after the other. */
  private streakBanner(): Banner | null {
    const s = this.streak;
    if (!s) return null;
    return {
      level: 'down',
      reason: s.reason,
      headline: s.headline,
      sinceMs: s.sinceMs,
      refused: {
        count: s.count,
        status: s.status,
        lastMs: s.lastMs,
        failingSinceMs: s.failingSinceMs,
      },
      detail: this.streakDetail(s),
    };
  }

  private noLeaderBanner(): Banner | null {
    if (this.noLeaderSinceMs === null) return null;
    return {
      level: 'down',
      reason: 'no_leader',
      headline: 'orders refused: no leader',
      sinceMs: this.noLeaderSinceMs,
      refused: null,
      detail: `The last election failed: ${this.replicasAnswering()}.`,
    };
  }

  private catalogBanner(): Banner | null {
    const catalog = this.services.get('catalog')!;
    if (catalog.state !== 'down' || catalog.sinceMs === null) return null;
    return {
      level: 'down',
      reason: 'catalog_down',
      headline: 'catalog unreachable: uncached product queries and orders fail',
      sinceMs: catalog.sinceMs,
      refused: null,
      detail: catalog.detail,
    };
  }

  private quorumAtRiskBanner(): Banner | null {
    if (this.belowQuorumSinceMs === null) return null;
    return {
      level: 'warn',
      reason: 'quorum_at_risk',
      headline: `no quorum: ${this.replicasAnswering()}`,
      sinceMs: this.belowQuorumSinceMs,
      refused: null,
      detail: 'The next order will be refused unless a replica comes back.',
    };
  }

  private failingOverBanner(): Banner | null {
    if (!this.trouble?.fromView || this.leaderId === null) return null;
    return {
      level: 'warn',
      reason: 'failing_over',
      headline: `failing over: ${this.trouble.why}`,
      sinceMs: this.trouble.sinceMs,
      refused: null,
      detail: null,
    };
  }

  private streakDetail(s: Streak): string | null {
    if (s.reason === 'no_quorum' && this.leaderId !== null)
      return `Replica ${this.leaderId} is still named leader, but ${this.replicasAnswering()}.`;
    if (s.reason === 'no_quorum' || s.reason === 'no_leader')
      return `${capitalized(this.replicasAnswering())}.`;
    return null;
  }
}
