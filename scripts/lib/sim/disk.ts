/**
 * The simulated disk: one `SimDisk` per replica holds what is durable (it survives crashes; disks
 * are never wiped), and each incarnation of the replica opens it through twins of the real stores.
 *
 * `SimLogStore` (an `OrderLogStore`) follows order/file-log.ts: `append` and `truncateFrom` change
 * the visible log at once and queue an operation; queued operations go to disk in call order as
 * group commits (everything queued when an fsync starts is covered by it), each fsync taking a
 * seeded time on the simulated clock; an operation's promise resolves when its fsync completes.
 * `durableIndex` is the length of the prefix the visible log shares with the disk, so a record cut
 * from the visible log never counts as durable, and neither does what replaced it until synced.
 *
 * Crash semantics: the visible log is gone; the disk keeps everything fsynced plus, sometimes
 * (`tornRate`), a seeded prefix of the operations not yet fsynced, cut at record granularity
 * (writes reach the platter in order but the crash lands anywhere; the file log cuts a torn line
 * on open, so partial records never survive). Truncation is NOT made durable synchronously: like
 * the file log's queued ftruncate, a truncation not yet fsynced is lost on crash, so the records it
 * cut come back on restart (unless a later surviving write replaced them).
 *
 * `SimMetaStore` (a `MetaStore`) is the same for meta: saves apply in call order, each atomic
 * (write-temp + rename), durable after a seeded fsync; a crash keeps the durable meta plus a seeded
 * prefix of the pending saves.
 *
 * The fsync timer runs on the shared clock regardless of pauses (the kernel keeps writing while the
 * process is stopped); only the completion callbacks are gated through the process (`SimNode`).
 * `lie` makes a store resolve writes before they are durable (and claim everything visible is
 * durable): a deliberately broken disk for the test that proves the checker can fail.
 */
import type { ManualClock } from '../../../shared/clock.ts';
import type { OrderEntry } from '../../../shared/contracts.ts';
import { assertContinues, type OrderLogStore } from '../../../order/log.ts';
import { INITIAL_META, type Meta, type MetaStore } from '../../../order/meta.ts';
import type { Rng } from './rng.ts';
import type { SimNode } from './node.ts';

export interface DiskConfig {
  fsyncMinMs: number;
  fsyncMaxMs: number;
  /** Chance that one fsync is slow (up to slowMaxMs). */
  slowRate: number;
  slowMaxMs: number;
  /** Chance that a crash keeps some writes that were not yet fsynced. */
  tornRate: number;
}

export interface DiskEnv {
  clock: ManualClock;
  rng: Rng;
  cfg: DiskConfig;
  node: SimNode;
  trace: (line: string) => void;
  /** Deliberately broken disk (negative tests only). */
  lie?: boolean;
}

function fsyncDelay(env: DiskEnv): number {
  const { rng, cfg } = env;
  return rng.chance(cfg.slowRate) ? rng.int(cfg.fsyncMaxMs, cfg.slowMaxMs) : rng.int(cfg.fsyncMinMs, cfg.fsyncMaxMs);
}

/** What one replica has on stable storage. */
export class SimDisk {
  log: OrderEntry[] = [];
  meta: Meta = { ...INITIAL_META };
  /** A fault damaged this disk and it has not been whole since. */
  damaged = false;
  /** The commit index recorded beside the log (the file log's mark). */
  committed = -1;
  constructor(readonly replicaId: number) {}
}

type LogOp = { kind: 'append'; entries: OrderEntry[] } | { kind: 'truncate'; index: number };
interface Queued<Op> {
  op: Op;
  done: () => void;
}

/** Group commit in call order over a simulated fsync; shared by the log and meta twins. */
abstract class SyncQueue<Op> {
  protected queue: Queued<Op>[] = [];
  protected inFlight: Queued<Op>[] = [];
  protected dead = false;
  private readonly incarnation: number;

  constructor(protected readonly env: DiskEnv) {
    this.incarnation = env.node.incarnation;
  }

  protected abstract applyDurably(op: Op): void;

  protected enqueue(op: Op): Promise<void> {
    if (this.env.lie) {
      // Broken on purpose: acknowledges before the write is durable.
      this.queue.push({ op, done: () => {} });
      if (!this.inFlight.length) this.startSync();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.queue.push({ op, done: resolve });
      if (!this.inFlight.length) this.startSync();
    });
  }

  private startSync(): void {
    const batch = this.queue.splice(0);
    this.inFlight = batch;
    this.env.clock.setTimeout(() => {
      if (this.dead) return;
      for (const q of batch) this.applyDurably(q.op);
      this.inFlight = [];
      for (const q of batch) this.env.node.gate(this.incarnation, q.done);
      if (this.queue.length) this.startSync();
    }, fsyncDelay(this.env));
  }

  /** Ops not yet durable, oldest first. */
  protected pendingOps(): Op[] {
    return [...this.inFlight, ...this.queue].map((q) => q.op);
  }

  /** The process died: nothing more reaches the disk except what `crash` of the subclass keeps. */
  protected kill(): void {
    this.dead = true;
    this.queue = [];
    this.inFlight = [];
  }

  /** How many of `units` not-yet-durable units survive a crash. */
  protected survivors(units: number): number {
    if (units === 0 || !this.env.rng.chance(this.env.cfg.tornRate)) return 0;
    return this.env.rng.int(0, units);
  }

  protected never(): Promise<void> {
    return new Promise<void>(() => {});
  }
}

export class SimLogStore extends SyncQueue<LogOp> implements OrderLogStore {
  private entries: OrderEntry[];

  constructor(private readonly disk: SimDisk, env: DiskEnv) {
    super(env);
    this.entries = disk.log.slice();
  }

  get loadedCommitIndex(): number {
    return this.disk.committed;
  }

  /** Recorded with the next fsync, like the file log's mark (never ahead of what it knows). */
  recordCommitIndex(index: number): void {
    if (this.dead) return;
    this.disk.committed = Math.max(this.disk.committed, Math.min(index, this.disk.log.length - 1));
  }

  /** The log this incarnation presents (for the checker). */
  visible(): readonly OrderEntry[] {
    return this.entries;
  }

  lastIndex(): number {
    return this.entries.length - 1;
  }

  durableIndex(): number {
    if (this.env.lie) return this.entries.length - 1;
    // Records are crc-chained, so equal crcs at i mean equal prefixes: binary search the shared
    // prefix. A truncation not yet durable caps it (as in the file log): a crash may keep the cut
    // and lose what was appended after it, even if the disk still shows identical records now.
    const durable = this.disk.log;
    let cap = Math.min(durable.length, this.entries.length);
    for (const op of this.pendingOps()) if (op.kind === 'truncate') cap = Math.min(cap, op.index);
    let lo = 0;
    let hi = cap;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (durable[mid]!.crc === this.entries[mid]!.crc) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  entryAt(index: number): OrderEntry | undefined {
    return this.entries[index];
  }

  crcAt(index: number): number | undefined {
    return index === -1 ? 0 : this.entries[index]?.crc;
  }

  slice(from: number, to: number): OrderEntry[] {
    return this.entries.slice(Math.max(0, from), Math.max(0, to));
  }

  append(entries: OrderEntry[]): Promise<void> {
    if (this.dead) return this.never();
    if (entries.length === 0) return Promise.resolve();
    assertContinues(this, entries);
    this.entries.push(...entries);
    return this.enqueue({ kind: 'append', entries: [...entries] });
  }

  truncateFrom(index: number): Promise<void> {
    if (this.dead) return this.never();
    if (index > this.lastIndex()) return Promise.resolve();
    const from = Math.max(0, index);
    this.entries.length = from;
    return this.enqueue({ kind: 'truncate', index: from });
  }

  /** Joins the next simulated fsync, which comes after every write queued so far. */
  flush(): Promise<void> {
    if (this.dead) return this.never();
    if (this.pendingOps().length === 0) return Promise.resolve();
    return this.enqueue({ kind: 'append', entries: [] });
  }

  async close(): Promise<void> {}

  protected applyDurably(op: LogOp): void {
    const log = this.disk.log;
    if (op.kind === 'truncate') {
      log.length = Math.min(log.length, op.index);
      return;
    }
    for (const e of op.entries) {
      if (e.index !== log.length) throw new Error(`sim disk ${this.disk.replicaId}: append of ${e.index} onto ${log.length} records (harness bug)`);
      log.push(e);
    }
  }

  /** The process died now: keep the fsynced log plus a seeded prefix (in records) of what was pending. */
  crash(): void {
    const units: LogOp[] = [];
    for (const op of this.pendingOps()) {
      if (op.kind === 'truncate') units.push(op);
      else for (const e of op.entries) units.push({ kind: 'append', entries: [e] });
    }
    const keep = this.survivors(units.length);
    for (const u of units.slice(0, keep)) this.applyDurably(u);
    if (units.length) this.env.trace(`r${this.disk.replicaId} disk: ${units.length} unsynced log writes, ${keep} survive the crash`);
    this.kill();
  }
}

export class SimMetaStore extends SyncQueue<Meta> implements MetaStore {
  private current: Meta;

  constructor(private readonly disk: SimDisk, env: DiskEnv) {
    super(env);
    this.current = { ...disk.meta };
  }

  load(): Meta {
    return { ...this.current };
  }

  save(meta: Meta): Promise<void> {
    if (this.dead) return this.never();
    this.current = { ...meta };
    return this.enqueue({ ...meta });
  }

  protected applyDurably(meta: Meta): void {
    this.disk.meta = { ...meta };
  }

  crash(): void {
    const pending = this.pendingOps();
    const keep = this.survivors(pending.length);
    for (const m of pending.slice(0, keep)) this.applyDurably(m);
    if (pending.length) this.env.trace(`r${this.disk.replicaId} disk: ${pending.length} unsynced meta saves, ${keep} survive the crash`);
    this.kill();
  }
}
