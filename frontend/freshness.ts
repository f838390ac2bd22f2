/**
 * What the frontend knows about how current its cache is: the catalog's change sequence it has
 * heard up to, and when it last heard anything.
 *
 * The catalog (catalog/invalidator.ts) pushes notices `{seq, sinceSeq, names}` until each is
 * acknowledged, and a beat when nothing changed. Two rules keep a lost push from leaving the cache
 * stale for good:
 * - **A gap means drop everything.** A notice whose `sinceSeq` is above the highest seq heard, or
 *   whose `seq` is below it, says changes went by that this frontend never heard of (a catalog
 *   that restarted before pushing them, a late duplicate, a ledger that went back): `accept`
 *   answers `missed` and the caller empties the cache.
 * - **Silence means do not trust.** With a clock, `trusted()` is false until the first notice and
 *   whenever none came for `silenceMs`: the cache then answers from the catalog and keeps
 *   nothing (frontend/cache.ts). So a cached answer is never older than the last notice heard
 *   plus `silenceMs`, partition or not. Without a clock (tests that push by hand) it is always
 *   trusted.
 *
 * The first notice after a start is never a gap: nothing was kept before it (untrusted), so
 * every entry is read after it was built, i.e. after every change up to its `seq`.
 */
import type { ChangeNotice } from '../shared/contracts.ts';
import type { Clock } from '../shared/clock.ts';

export type FreshnessEvent =
  | { kind: 'catalog_silent'; silentMs: number; seq: number | null }
  | { kind: 'catalog_heard'; seq: number }
  | { kind: 'changes_missed'; heardSeq: number; sinceSeq: number; seq: number };

export interface FreshnessOptions {
  /** Enables the silence rule; absent, the cache is always trusted. */
  clock?: Clock;
  silenceMs?: number;
  onEvent?: (event: FreshnessEvent) => void;
}

export interface FreshnessView {
  /** Highest catalog change seq heard (null: nothing heard yet). */
  seq: number | null;
  /** Ms since the last notice, null if none (or no clock). */
  heardAgoMs: number | null;
  trusted: boolean;
}

export class CatalogFreshness {
  private seq: number | null = null;
  private heardAtMs: number | null = null;
  private wasTrusted = false;
  private readonly clock: Clock | undefined;
  private readonly silenceMs: number;
  private readonly emit: (event: FreshnessEvent) => void;

  constructor(opts: FreshnessOptions = {}) {
    this.clock = opts.clock;
    this.silenceMs = opts.silenceMs ?? Infinity;
    this.emit = opts.onEvent ?? (() => {});
  }

  /** Records a notice; `missed` says the cache must be emptied before its names are applied. */
  accept(notice: ChangeNotice): { missed: boolean } {
    const heard = this.seq;
    const missed = heard !== null && (notice.sinceSeq > heard || notice.seq < heard);
    if (missed)
      this.emit({
        kind: 'changes_missed',
        heardSeq: heard,
        sinceSeq: notice.sinceSeq,
        seq: notice.seq,
      });
    // After a miss, follow the catalog's sequence as it is now, even if it went back.
    this.seq = missed || heard === null ? notice.seq : Math.max(heard, notice.seq);
    if (this.clock) {
      this.heardAtMs = this.clock.now();
      if (!this.wasTrusted) this.emit({ kind: 'catalog_heard', seq: this.seq });
      this.wasTrusted = true;
    }
    return { missed };
  }

  /** May the cache serve and keep entries right now? */
  trusted(): boolean {
    if (!this.clock) return true;
    const ok = this.heardAtMs !== null && this.clock.now() - this.heardAtMs < this.silenceMs;
    if (!ok && this.wasTrusted) {
      this.wasTrusted = false;
      this.emit({
        kind: 'catalog_silent',
        silentMs: Math.round(this.clock.now() - this.heardAtMs!),
        seq: this.seq,
      });
    }
    return ok;
  }

  view(): FreshnessView {
    return {
      seq: this.seq,
      heardAgoMs:
        this.clock && this.heardAtMs !== null
          ? Math.round(this.clock.now() - this.heardAtMs)
          : null,
      trusted: this.trusted(),
    };
  }
}
