/**
 * The leader's accounting of catalog purchases: which pending purchases have committed orders
 * (at or below the commit index), and which never will (released: the stock goes back).
 *
 * "Never will" is a decision only an **established** leader may take: once its start-of-epoch log
 * is durable on a quorum, every later leader adopts a log that extends it, and only this leader
 * appends to it, so a key that is neither in its log nor in flight here can never commit. Before
 * that point an older leader's longer log (holding the key) could still win the next election,
 * and releasing its stock would sell it twice. Keys logged but not yet committed stay pending.
 */
import { MAX_RECONCILE_ITEMS, type PurchaseRef } from '../shared/contracts.ts';
import type { ReplicaContext } from './context.ts';

export class Accounts {
  /** Keys being released right now; a new order for one waits until the release is done. */
  private readonly releasing = new Set<string>();
  private reconciling: Promise<void> | null = null;

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly isInFlight: (key: string) => boolean,
  ) {}

  /** Resolves once `key` is not being released (a retry must not race its own release). */
  async settled(key: string): Promise<void> {
    if (this.releasing.has(key)) await this.reconciling;
  }

  /** The accounting loop of one leadership; ends when the epoch does. */
  async run(epoch: number): Promise<void> {
    const accounts = this.ctx.o.catalogAccounts;
    if (!accounts) return;
    const intervalMs =
      this.ctx.o.reconcileIntervalMs ?? Math.max(1_000, 5 * this.ctx.o.heartbeatIntervalMs);
    while (this.ctx.leaderEpoch === epoch && !this.ctx.stopped) {
      if (this.ctx.established) {
        await this.reconcile(epoch).catch((err: Error) =>
          this.ctx.emit({ type: 'accounting_failed', epoch, reason: err.message }),
        );
      }
      await this.ctx.o.clock.sleep(
        this.ctx.established ? intervalMs : this.ctx.o.heartbeatIntervalMs,
      );
    }
  }

  private reconcile(epoch: number): Promise<void> {
    this.reconciling ??= this.reconcileOnce(epoch).finally(() => {
      this.reconciling = null;
    });
    return this.reconciling;
  }

  private async reconcileOnce(epoch: number): Promise<void> {
    const accounts = this.ctx.o.catalogAccounts!;
    const { entries } = await accounts.pending();
    if (this.ctx.leaderEpoch !== epoch || !this.ctx.established) return;
    const committed: PurchaseRef[] = [];
    const release: PurchaseRef[] = [];
    for (const p of entries) {
      if (committed.length + release.length >= MAX_RECONCILE_ITEMS) break;
      const index = this.ctx.indexOfKey(p.key);
      if (index !== undefined) {
        if (index <= this.ctx.commitIndex) committed.push({ key: p.key, seq: p.seq });
      } else if (!this.isInFlight(p.key)) release.push({ key: p.key, seq: p.seq });
    }
    if (!committed.length && !release.length) return;
    for (const { key } of release) this.releasing.add(key);
    try {
      const res = await accounts.reconcile({ epoch, committed, release });
      if (res.released)
        this.ctx.emit({ type: 'purchases_released', epoch, released: res.released });
    } finally {
      for (const { key } of release) this.releasing.delete(key);
    }
  }
}
