/**
 * The simulator's invariant checker. It watches the cluster from outside (replica status, each
 * incarnation's visible log, each disk's durable log) and what the replicas and clients were told,
 * and records a violation the moment a rule breaks:
 *
 * - one leader per epoch, ever: from every typed `became_leader` event a replica emits
 *   (order/events.ts; nothing here reads log text) and every status scan;
 * - committed prefixes never change: a replica reporting commitIndex c claims its log[0..c] is
 *   committed; the checker keeps the longest committed prefix seen and every later claim must
 *   agree with it (a replica's records past its own commit index may be stale: it cuts them
 *   when it catches up);
 * - committed means durable on a majority: at every step the whole committed prefix is on the
 *   durable logs of a quorum of disks; a disk that durably held committed records 0..i never
 *   loses or changes one of them, and the visible log of its running incarnation holds them too;
 * - acknowledgements: a successful placeOrder (at the replica and at the client) must be durable
 *   on a quorum when the caller hears of it, must match the committed record at its number, and
 *   at the end must be in every log with its name, quantity and (where the client chose it) key;
 *   a read of an acknowledged order must return it;
 * - a definite failure never commits: an order whose client was told it certainly did not happen
 *   (409 for stock, 503) must never appear in the committed prefix, at any step or at the end
 *   (workload.ts holds a frontend to scripts/lib/invariants' contradictsUnknown: no definite
 *   "no" after an attempt whose outcome was unknown);
 * - at the end: logs identical, well formed, one order per key (scripts/lib/invariants).
 *
 * The catalog's accounting is checked by stock.ts, which reports here.
 */
import type { OrderEntry, ReplicaStatus } from '../../../shared/contracts.ts';
import {
  checkConvergedCluster,
  checkLogWellFormed,
  checkUniqueKeys,
  type Acknowledged,
  type Violation as SharedViolation,
} from '../invariants/index.ts';

export interface SimViolation {
  kind: string;
  message: string;
  atMs: number;
  step: number;
}

export interface ReplicaSnapshot {
  id: number;
  /** null when crashed. */
  status: ReplicaStatus | null;
  visible: readonly OrderEntry[] | null;
  durable: readonly OrderEntry[];
  /**
   * A fault damaged this disk and it has not been whole since: its losses are the fault's, not the
   * store's.
   */
  damaged?: boolean;
}

export interface Ack {
  orderNumber: number;
  name: string;
  quantity: number;
  key?: string;
  /** Who was told: 'replica' (a leader answered /orders) or 'client'. */
  by: string;
}

export class Checker {
  readonly violations: SimViolation[] = [];
  readonly leaders = new Map<number, number>();
  committed: OrderEntry[] = [];
  readonly acks: Ack[] = [];
  /** Keys whose client got a definite failure, with what it was told. */
  readonly definiteFailures = new Map<string, string>();
  /**
   * Keys the network sent to a leader twice: the copy acts as a retry, so a definite failure may be
   * overtaken.
   */
  readonly duplicatedKeys = new Set<string>();
  /** Keys in the committed prefix, with their index. */
  readonly committedKeys = new Map<string, number>();
  private heldDurable = new Map<number, number>();
  step = 0;

  constructor(
    private readonly quorum: number,
    private readonly now: () => number,
    private readonly opts: { checkDurableQuorum?: boolean; tolerate?: readonly string[] } = {},
  ) {}

  /** Violations of tolerated kinds (SimOptions.tolerate), by kind: counted, not failing the run. */
  readonly tolerated: Record<string, number> = {};

  fail(kind: string, message: string): void {
    if (this.opts.tolerate?.includes(kind)) {
      this.tolerated[kind] = (this.tolerated[kind] ?? 0) + 1;
      return;
    }
    // One report per distinct message is enough (some rules would fire at every later step).
    if (this.violations.some((v) => v.kind === kind && v.message === message)) return;
    this.violations.push({ kind, message, atMs: this.now(), step: this.step });
  }

  get ok(): boolean {
    return this.violations.length === 0;
  }

  onLeading(id: number, epoch: number): void {
    const other = this.leaders.get(epoch);
    if (other === undefined) this.leaders.set(epoch, id);
    else if (other !== id)
      this.fail('two-leaders', `replicas ${other} and ${id} both led epoch ${epoch}`);
  }

  /** A caller learned that `ack` committed: it must be durable on a quorum right now. */
  onAck(ack: Ack, snapshots: readonly ReplicaSnapshot[]): void {
    this.acks.push(ack);
    const holders = snapshots.filter(
      (s) => s.damaged || matches(s.durable[ack.orderNumber], ack),
    ).length;
    if (this.opts.checkDurableQuorum !== false && holders < this.quorum) {
      this.fail(
        'ack-not-durable',
        `order ${ack.orderNumber} (${describe(ack)}) acknowledged to the ${ack.by} while durable on ${holders} replica(s)`,
      );
    }
    this.checkAckAgainstCommitted(ack);
  }

  /** The client of `key` was told the order certainly did not happen (`why`). */
  onDefiniteFailure(key: string, why: string): void {
    this.definiteFailures.set(key, why);
    const i = this.committedKeys.get(key);
    if (i !== undefined) this.failedCommitted(this.committed[i]!, why);
  }

  private failedCommitted(e: OrderEntry, why: string): void {
    if (this.duplicatedKeys.has(e.key)) return;
    this.fail(
      'failed-committed',
      `order ${describeEntry(e)} is committed, but its client was told ${why}`,
    );
  }

  /**
   * A read of acknowledged order `ack` (through `via`) returned `got` (or 404 when got is null).
   */
  onRead(
    ack: Ack,
    got: { number: number; name: string; quantity: number } | null,
    via = 'a frontend',
  ): void {
    if (!got)
      this.fail(
        'read-lost',
        `reading acknowledged order ${ack.orderNumber} (${describe(ack)}, acknowledged to the ${ack.by}) through ${via} answered 404`,
      );
    else if (
      got.number !== ack.orderNumber ||
      got.name !== ack.name ||
      got.quantity !== ack.quantity
    ) {
      this.fail(
        'read-mismatch',
        `reading order ${ack.orderNumber} returned ${got.quantity} ${got.name} as #${got.number}; acknowledged ${describe(ack)}`,
      );
    }
  }

  private checkAckAgainstCommitted(ack: Ack): void {
    const c = this.committed[ack.orderNumber];
    if (c && !matches(c, ack))
      this.fail(
        'ack-mismatch',
        `order ${ack.orderNumber} acknowledged as ${describe(ack)} but committed as ${describeEntry(c)}`,
      );
  }

  /** Cheap checks, every step. */
  checkStep(snapshots: readonly ReplicaSnapshot[]): void {
    for (const s of snapshots) {
      if (s.status?.leaderEpoch != null) this.onLeading(s.id, s.status.leaderEpoch);
    }
    const before = this.committed.length;
    // Commit claims: replica's log[0..commitIndex] is committed.
    for (const s of snapshots) {
      if (!s.status || !s.visible || s.status.commitIndex < 0) continue;
      const c = s.status.commitIndex;
      if (c >= s.visible.length) {
        this.fail(
          'committed-lost',
          `replica ${s.id} reports commit index ${c} but holds ${s.visible.length} records`,
        );
        continue;
      }
      if (!this.agrees(`replica ${s.id}'s committed prefix`, s.visible, c + 1)) continue;
      for (let i = this.committed.length; i <= c; i++) this.addCommitted(s.visible[i]!);
    }
    if (this.committed.length > before)
      for (const a of this.acks) if (a.orderNumber >= before) this.checkAckAgainstCommitted(a);

    const n = this.committed.length;
    let durableHolders = 0;
    for (const s of snapshots) {
      // A replica may hold stale uncommitted records at committed indexes (it cuts them when it
      // catches up), but once its disk held committed record i it must never lose or change it.
      const held = this.sharedPrefix(s.durable) - 1;
      if (s.damaged) {
        // What the fault took is not the store's loss; from here on the disk must not lose more.
        this.heldDurable.set(s.id, held);
        durableHolders++;
        continue;
      }
      const was = this.heldDurable.get(s.id) ?? -1;
      if (held < was) {
        this.fail(
          'committed-lost',
          `replica ${s.id}'s disk held committed records 0..${was} and now holds only 0..${held} of them (${describeAt(s.durable, held + 1)} instead of ${describeEntry(this.committed[held + 1]!)})`,
        );
      }
      this.heldDurable.set(s.id, Math.max(was, held));
      if (held === n - 1) durableHolders++;
      if (s.visible) {
        const shown = this.sharedPrefix(s.visible) - 1;
        if (shown < Math.max(was, held)) {
          this.fail(
            'committed-lost',
            `replica ${s.id}'s log holds committed records only up to ${shown} (${describeAt(s.visible, shown + 1)} next) though its disk held them up to ${Math.max(was, held)}`,
          );
        }
      }
    }
    if (n > 0 && durableHolders < this.quorum && this.opts.checkDurableQuorum !== false) {
      const where = snapshots.map(
        (s) =>
          `replica ${s.id} holds ${this.sharedPrefix(s.durable)} on disk, ${s.visible ? this.sharedPrefix(s.visible) : 'none (down)'} in its log`,
      );
      this.fail(
        'committed-not-durable',
        `committed prefix 0..${n - 1} is durable on ${durableHolders} replica(s), fewer than a quorum of ${this.quorum} (of the committed records, ${where.join('; ')})`,
      );
    }
  }

  private addCommitted(e: OrderEntry): void {
    this.committed.push(e);
    if (!this.committedKeys.has(e.key)) this.committedKeys.set(e.key, e.index);
    const why = this.definiteFailures.get(e.key);
    if (why !== undefined) this.failedCommitted(e, why);
  }

  /** Whether `log` holds the whole committed prefix. */
  holdsCommitted(log: readonly OrderEntry[]): boolean {
    return this.sharedPrefix(log) === this.committed.length;
  }

  /** How many leading records `log` shares with the committed prefix (crc chain: binary search). */
  private sharedPrefix(log: readonly OrderEntry[]): number {
    let lo = 0;
    let hi = Math.min(log.length, this.committed.length);
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (log[mid]!.crc === this.committed[mid]!.crc) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * `log` agrees with the committed prefix on their first `len` records (crc chain: compare the
   * last shared one).
   */
  private agrees(what: string, log: readonly OrderEntry[], len: number): boolean {
    const k = Math.min(len, this.committed.length) - 1;
    if (k < 0 || log[k]!.crc === this.committed[k]!.crc) return true;
    let i = 0;
    while (i < k && log[i]!.crc === this.committed[i]!.crc) i++;
    this.fail(
      'committed-changed',
      `${what} has ${describeEntry(log[i]!)} at committed index ${i}, which was committed as ${describeEntry(this.committed[i]!)}`,
    );
    return false;
  }

  /** Well-formedness of every log (O(n), so every few steps). */
  checkWellFormed(snapshots: readonly ReplicaSnapshot[]): void {
    for (const s of snapshots) {
      for (const [what, log] of [
        ['log', s.visible],
        ['disk', s.durable],
      ] as const) {
        if (!log) continue;
        for (const v of [
          ...checkLogWellFormed(`replica ${s.id}'s ${what}`, log),
          ...checkUniqueKeys(`replica ${s.id}'s ${what}`, log),
        ])
          this.fail(v.kind, v.message);
      }
    }
  }

  /** After healing and convergence. */
  checkEnd(snapshots: readonly ReplicaSnapshot[]): void {
    this.checkStep(snapshots);
    const logs = new Map(snapshots.map((s) => [`replica ${s.id}`, s.visible ?? s.durable]));
    const acked: Acknowledged[] = this.acks.map((a) => ({
      orderNumber: a.orderNumber,
      name: a.name,
      quantity: a.quantity,
    }));
    const shared: SharedViolation[] = checkConvergedCluster(logs, acked);
    for (const v of shared) this.fail(v.kind, v.message);
    const [, ref] = [...logs][0]!;
    for (const a of this.acks) {
      const e = ref[a.orderNumber];
      if (a.key !== undefined && e && e.key !== a.key)
        this.fail(
          'wrong-content',
          `order ${a.orderNumber} has key ${e.key}, acknowledged with key ${a.key}`,
        );
    }
    for (const e of ref) {
      const why = this.definiteFailures.get(e.key);
      if (why !== undefined) this.failedCommitted(e, why);
    }
    for (let i = 0; i < this.committed.length; i++) {
      if (ref[i]?.crc !== this.committed[i]!.crc) {
        this.fail('committed-changed', `final log differs from the committed prefix at ${i}`);
        break;
      }
    }
  }
}

function matches(e: OrderEntry | undefined, a: Ack): boolean {
  return (
    !!e &&
    e.index === a.orderNumber &&
    e.name === a.name &&
    e.quantity === a.quantity &&
    (a.key === undefined || e.key === a.key)
  );
}

function describe(a: Ack): string {
  return `${a.quantity} ${a.name}${a.key ? ` key ${a.key}` : ''}`;
}

function describeAt(log: readonly OrderEntry[], i: number): string {
  const e = log[i];
  return e ? describeEntry(e) : `nothing at ${i}`;
}

function describeEntry(e: OrderEntry): string {
  return `#${e.index} ${e.quantity} ${e.name} key ${e.key} epoch ${e.epoch}`;
}
