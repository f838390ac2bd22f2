/**
 * Replica data dirs with a long, valid order log, made before a cluster starts, so the catch-up
 * and start-up figures do not wait for a million real orders. Nothing here knows the formats: the
 * records are the order codec's (`encodeRecord(orderCodec, ...)`, chained by `signEntry`), the
 * durable mark beside the log is the WAL's own (`writeMarkFor`), the meta goes through the meta
 * store, and the lagging replica is cut back through the log store (`truncateFrom`, which lowers
 * the mark first), so its files stay consistent with each other. The records are written in
 * batches straight to the file rather than appended through the store, which checks every record
 * again.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TOY_NAMES } from '../../../catalog/toys.ts';
import { LOG_FILE, openFileLogStore } from '../../../order/file-log.ts';
import { orderCodec } from '../../../order/record-codec.ts';
import { signEntry } from '../../../order/log.ts';
import { openFileMetaStore, type Meta } from '../../../order/meta.ts';
import type { OrderEntry } from '../../../shared/contracts.ts';
import { encodeRecord, writeMarkFor } from '../../../shared/wal.ts';
import { sleep } from './util.ts';
import { replicaPaths } from '../../../shared/data-dir.ts';

/**
 * Replica `id`'s data dir inside a cluster's data dir (shared/data-dir.ts, as order/main.ts names
 * it).
 */
export const replicaDir = (dataDir: string, id: number) => replicaPaths(dataDir, id).dir;
export const orderLogPath = (dataDir: string, id: number) => replicaPaths(dataDir, id).log;

/**
 * What every synthesized replica has promised: epoch 1, led by replica 3, whose log it holds, its
 * state intact. No commit index is recorded in the logs' marks (so cutting a follower back never
 * goes below one): the cluster's first leader commits the log as it establishes itself.
 */
export const SYNTH_META: Meta = { promisedEpoch: 1, votedFor: 3, logEpoch: 1, storage: 'intact' };

const BATCH = 20_000;

/**
 * The `count` orders of a synthesized log, all in epoch 1, `BATCH` at a time (bounded memory per
 * step).
 */
function* synthBatches(count: number): Generator<OrderEntry[]> {
  let prevCrc = 0;
  for (let from = 0; from < count; from += BATCH) {
    const batch: OrderEntry[] = [];
    for (let index = from; index < Math.min(count, from + BATCH); index++) {
      const entry = signEntry(prevCrc, {
        index,
        epoch: 1,
        name: TOY_NAMES[index % TOY_NAMES.length]!,
        quantity: 1 + (index % 5),
        key: randomUUID(),
      });
      batch.push(entry);
      prevCrc = entry.crc;
    }
    yield batch;
  }
}

/** The log file of `count` synthesized orders and its durable mark, as a replica leaves them. */
async function writeLog(file: string, count: number): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const handle = await fs.open(file, 'w');
  try {
    await handle.write(`${orderCodec.header}\n`);
    for (const batch of synthBatches(count))
      await handle.write(batch.map((e) => encodeRecord(orderCodec, e)).join(''));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  // Parses the file with the codec: a record the codec would not read back fails here.
  await writeMarkFor(file, orderCodec);
}

/**
 * Writes the same `count`-order log and `SYNTH_META` into each of `ids`' data dirs, as after a run
 * where all kept up: the first written, the others copies of its whole dir (so whatever files a
 * replica keeps beside its log come along, byte-identical).
 */
export async function writeReplicaDirs(
  dataDir: string,
  ids: readonly number[],
  count: number,
): Promise<{ logBytes: number }> {
  const first = replicaDir(dataDir, ids[0]!);
  await writeLog(path.join(first, LOG_FILE), count);
  await (await openFileMetaStore(first)).save(SYNTH_META);
  for (const id of ids.slice(1)) await fs.cp(first, replicaDir(dataDir, id), { recursive: true });
  return { logBytes: (await fs.stat(orderLogPath(dataDir, ids[0]!))).size };
}

/**
 * Cuts a stopped replica's log to its first `keep` orders and sets its logEpoch back to 1 (which
 * the prefix truthfully holds: epoch 1 started empty), as a replica that missed the rest.
 */
export async function cutReplicaLog(dataDir: string, id: number, keep: number): Promise<void> {
  const dir = replicaDir(dataDir, id);
  const log = await openFileLogStore(dir);
  try {
    await log.truncateFrom(keep);
  } finally {
    await log.close();
  }
  const meta = await openFileMetaStore(dir);
  await meta.save({ ...meta.load(), logEpoch: 1 });
}

/** True if every file has the same bytes (sizes first, so a lagging file costs one stat). */
export async function filesIdentical(files: readonly string[]): Promise<boolean> {
  const sizes = await Promise.all(
    files.map((f) =>
      fs.stat(f).then(
        (s) => s.size,
        () => -1,
      ),
    ),
  );
  if (sizes.some((s) => s < 0 || s !== sizes[0])) return false;
  const [first, ...rest] = await Promise.all(files.map((f) => fs.readFile(f)));
  return rest.every((b) => b.equals(first!));
}

/**
 * Polls until the files are byte-identical; resolves with performance.now() then, or null at the
 * deadline.
 */
export async function waitIdentical(
  files: readonly string[],
  timeoutMs: number,
  pollMs = 2,
): Promise<number | null> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await filesIdentical(files)) return performance.now();
    await sleep(pollMs);
  }
  return null;
}
