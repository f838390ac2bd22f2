/**
 * What a replica's storage holds when it starts, and the faults that damage it while it is down.
 *
 * `openToday` is order/main.ts's start-up as it is at fe93bb9, applied to a `SimDisk`: a missing
 * meta.json reads as the initial meta (promised nothing, log epoch 0); a missing log is created
 * empty; a bad complete *last* record is cut like a torn write (shared/wal.ts parseWal); a bad
 * record followed by good ones is corruption: the log epoch is dropped to 0 (durably, first) and
 * the valid prefix kept; the mark is not read. Its durable effects (the new file, the cut, the
 * repair) are made on the disk, as the real start-up makes them.
 *
 * `detect` is what the store of brief decisions 2-4 is to find on the same disk (missing or
 * unreadable meta, a missing log, fewer records than the mark claims or another crc at its last
 * record, a missing mark beside a non-empty log, a complete record that fails its checks): a
 * replica in any of these states must start recovering. Today nothing consumes it but the trace
 * and the stats; once the replica has a recovering mode, this is the input to give it.
 *
 * The faults: a wiped log (with or without its mark), a wiped meta, both, a log cut at a record
 * boundary below its end (mark kept, so the loss is detectable, or wiped), and a flipped byte in a
 * complete record (in the middle, or the last one). Each leaves a disk the detecting store can
 * recognise; none is a silent rollback of log and mark together, which no store could see.
 */
import type { OrderEntry } from '../../../shared/contracts.ts';
import { INITIAL_META, type Meta } from '../../../order/meta.ts';
import type { SimDisk } from './disk.ts';
import type { Rng } from './rng.ts';

export type DiskLoss = 'wipe-log' | 'wipe-log-and-mark' | 'wipe-meta' | 'wipe-all' | 'cut-log' | 'cut-log-and-wipe-mark';
export type Corruption = 'flip-middle' | 'flip-last';
export type Damage = DiskLoss | Corruption;

export type Detected = 'no-meta' | 'no-log' | 'lost-records' | 'no-mark' | 'corrupt';

export interface Opened {
  entries: OrderEntry[];
  meta: Meta;
  /** What a detecting store would find (empty: intact). */
  detected: Detected[];
  /** What today's start-up did about it, for the trace. */
  actions: string[];
}

/** Applies a disk-loss fault to a replica that is down; returns what it did. */
export function applyLoss(disk: SimDisk, rng: Rng): string {
  const kinds: DiskLoss[] = disk.log.length > 0
    ? ['wipe-log', 'wipe-log-and-mark', 'wipe-meta', 'wipe-all', 'cut-log', 'cut-log-and-wipe-mark']
    : ['wipe-meta', 'wipe-all'];
  const kind = rng.pick(kinds);
  disk.damaged = true;
  if (kind === 'wipe-meta' || kind === 'wipe-all') disk.meta = null;
  if (kind === 'wipe-log' || kind === 'wipe-log-and-mark' || kind === 'wipe-all') {
    disk.cut(0);
    disk.logFile = false;
  }
  if (kind === 'wipe-log-and-mark' || kind === 'wipe-all' || kind === 'cut-log-and-wipe-mark') disk.mark = null;
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

/** What a store that reads the mark would find on `disk` (brief decisions 2-4). */
export function detect(disk: SimDisk): Detected[] {
  const out: Detected[] = [];
  if (disk.meta === null) out.push('no-meta');
  if (!disk.logFile && (disk.meta !== null || disk.mark !== null)) out.push('no-log');
  if (disk.corrupt.size) out.push('corrupt');
  const { mark, log } = disk;
  if (mark === null) {
    if (log.length > 0) out.push('no-mark');
  } else if (log.length < mark.records || (mark.records > 0 && log[mark.records - 1]!.crc !== mark.lastCrc)) {
    out.push('lost-records');
  }
  return out;
}

/** order/main.ts's start-up today, on `disk`; makes its durable effects there. */
export function openToday(disk: SimDisk): Opened {
  const detected = detect(disk);
  const actions: string[] = [];
  let meta: Meta = disk.meta ? { ...disk.meta } : { ...INITIAL_META };
  if (!disk.meta) actions.push('no meta.json: starts as a new replica (promised nothing, log epoch 0)');
  if (!disk.logFile) {
    disk.logFile = true;
    actions.push('no orders.csv: creates an empty log');
  }
  const firstBad = Math.min(...disk.corrupt.keys());
  if (Number.isFinite(firstBad)) {
    if (firstBad === disk.log.length - 1) {
      actions.push(`bad last record ${firstBad}: cut as a torn write, log epoch kept`);
    } else {
      // Durable order of the repair: the meta downgrade first, then the file swap.
      meta = { ...meta, logEpoch: 0 };
      disk.meta = { ...meta };
      actions.push(`corrupt record ${firstBad} followed by valid ones: log epoch dropped to 0, valid prefix of ${firstBad} records kept`);
    }
    disk.lowerMark(firstBad);
    disk.cut(firstBad);
    disk.corrupt.clear();
  }
  return { entries: disk.log.slice(), meta, detected, actions };
}
