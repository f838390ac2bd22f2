/**
 * The disk's fdatasync rate, measured where the bench's data dirs live: a durable order needs
 * fsyncs on the catalog and on a majority of replicas (and an etcd put one on a majority of its
 * members), so this is the floor under every durable figure of the run.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { round } from './util.ts';

/** Writes 100 bytes and fdatasyncs, in a loop, for `ms` in `dir`'s filesystem; returns syncs/s. */
export async function fdatasyncRate(
  dir: string,
  ms: number,
): Promise<{ syncsPerSecond: number; syncs: number; meanMs: number }> {
  const file = path.join(dir, `fsync-probe-${process.pid}`);
  const handle = await fs.open(file, 'w');
  const bytes = Buffer.alloc(100, 0x61);
  let syncs = 0;
  let position = 0;
  const started = performance.now();
  try {
    while (performance.now() - started < ms) {
      await handle.write(bytes, 0, bytes.length, position);
      position += bytes.length;
      await handle.datasync();
      syncs++;
    }
  } finally {
    await handle.close();
    await fs.rm(file, { force: true });
  }
  const elapsed = performance.now() - started;
  return {
    syncsPerSecond: Math.round((syncs * 1000) / elapsed),
    syncs,
    meanMs: round(elapsed / Math.max(1, syncs), 3),
  };
}
