/**
 * What a replica's storage holds when it starts, and the faults that damage it while it is down.
 *
 * `openStorage` is order/storage.ts's start-up applied to a `SimDisk`: it finds what the file log
 * of shared/wal.ts finds (a missing log beside a meta or a mark, fewer records than the mark
 * claims or another crc at its last record, a missing mark beside a non-empty log: lost records;
 * a complete record that fails its checks, the last one included: corruption), hands that to the
 * real rules (order/recovery.ts through `recordStorageCondition`, which makes the verdict durable
 * in the meta first), and only then cuts a damaged log back to its valid prefix with a new mark,
 * as `keepValidPrefix` does. A replica whose storage is not intact starts recovering.
 *
 * The faults: a wiped log (with or without its mark), a wiped meta, both, a log cut at a record
 * boundary below its end (mark kept, so the loss is detectable, or wiped), and a flipped byte in a
 * complete record (in the middle, or the last one). Each leaves a disk the store can recognise;
 * none is a silent rollback of log and mark together, which no store could see.
 */
import type { OrderEntry } from '../../../shared/contracts.ts';
import type { MetaStore } from '../../../order/meta.ts';
import type { ReplicaEvent } from '../../../order/events.ts';
import { recordStorageCondition } from '../../../order/storage.ts';
import type { SimDisk } from './disk.ts';
import type { Rng } from '../rng/rng.ts';

export type DiskLoss =
  | 'wipe-log'
  | 'wipe-log-and-mark'
  | 'wipe-meta'
  | 'wipe-all'
  | 'cut-log'
  | 'cut-log-and-wipe-mark';
export type Corruption = 'flip-middle' | 'flip-last';
export type Damage = DiskLoss | Corruption;

export type Detected = 'no-meta' | 'no-log' | 'lost-records' | 'no-mark' | 'corrupt';

export interface Opened {
  entries: OrderEntry[];
  /** What the store found wrong (empty: intact, or a new replica). */
  detected: Detected[];
}

/** Applies a disk-loss fault to a replica that is down; returns what it did. */
export function applyLoss(disk: SimDisk, rng: Rng): string {
  const kinds: DiskLoss[] =
    disk.log.length > 0
      ? [
          'wipe-log',
          'wipe-log-and-mark',
          'wipe-meta',
          'wipe-all',
          'cut-log',
          'cut-log-and-wipe-mark',
        ]
      : ['wipe-meta', 'wipe-all'];
  const kind = rng.pick(kinds);
  disk.damaged = true;
  if (kind === 'wipe-meta' || kind === 'wipe-all') disk.meta = null;
  if (kind === 'wipe-log' || kind === 'wipe-log-and-mark' || kind === 'wipe-all') {
    disk.cut(0);
    disk.logFile = false;
  }
  if (kind === 'wipe-log-and-mark' || kind === 'wipe-all' || kind === 'cut-log-and-wipe-mark')
    disk.mark = null;
  if (kind === 'cut-log' || kind === 'cut-log-and-wipe-mark') {
    const keep = rng.int(0, disk.log.length - 1);
    disk.cut(keep);
    return `${kind}: ${keep} records left`;
  }
  return kind;
}

/** Flips a byte in a complete record of a replica that is down; null if its log is empty. */
export function applyCorruption(disk: SimDisk, rng: Rng): string | null {
  const n = disk.log.length;
  if (n === 0) return null;
  const kind: Corruption = n >= 2 && rng.chance(0.5) ? 'flip-middle' : 'flip-last';
  const index = kind === 'flip-last' ? n - 1 : rng.int(0, n - 2);
  disk.corrupt.set(index, kind);
  disk.damaged = true;
  return `${kind}: record ${index} of ${n}`;
}

/** What the file log and meta store find on `disk` (brief decisions 2-4). */
export function detect(disk: SimDisk): Detected[] {
  const out: Detected[] = [];
  if (disk.meta === null && !disk.logFile && disk.mark === null) return out; // a new replica
  if (disk.meta === null) out.push('no-meta');
  if (!disk.logFile && (disk.meta !== null || disk.mark !== null)) out.push('no-log');
  if (disk.corrupt.size) out.push('corrupt');
  const { mark, log } = disk;
  if (mark === null) {
    // The real log makes its mark before the meta exists: a meta without a mark is a lost mark.
    if (log.length > 0 || (disk.meta !== null && disk.logFile)) out.push('no-mark');
  } else if (
    log.length < mark.records ||
    (mark.records > 0 && log[mark.records - 1]!.crc !== mark.lastCrc)
  ) {
    out.push('lost-records');
  }
  return out;
}

const DAMAGE: Record<Detected, string> = {
  'no-meta': 'no meta file',
  'no-log': 'orders.csv is missing although its meta or mark exists',
  'lost-records': 'the log holds fewer records than its mark says were durable',
  'no-mark': 'no mark beside a non-empty log: cannot tell how many records were durable',
  corrupt: 'a complete record fails its checks',
};

/** order/storage.ts's start-up on `disk`: classify, record the verdict durably, then repair. */
export async function openStorage(
  disk: SimDisk,
  meta: MetaStore,
  onEvent: (e: ReplicaEvent) => void,
): Promise<Opened> {
  const detected = detect(disk);
  const logDamage =
    detected
      .filter((d) => d !== 'no-meta')
      .map((d) => DAMAGE[d])
      .join('; ') || null;
  const firstBad = Math.min(...disk.corrupt.keys());
  const logRecords = Number.isFinite(firstBad) ? firstBad : disk.log.length;
  await recordStorageCondition(
    meta,
    { metaFound: disk.meta !== null, metaUnreadable: false, logDamage, logRecords },
    onEvent,
  );
  // The meta above stopped claiming this log; only now is it cut back (keepValidPrefix).
  if (Number.isFinite(firstBad)) {
    disk.cut(firstBad);
    disk.corrupt.clear();
  }
  if (!disk.logFile) disk.logFile = true;
  if (detected.some((d) => d !== 'no-meta') || disk.mark === null) disk.resetMark();
  return { entries: disk.log.slice(), detected };
}
