/**
 * Simulated power loss: SIGKILL a process at a moment when it has written bytes its last fsync
 * did not cover, then cut each durable file back to what that fsync covered.
 *
 * Why the moment matters: the store fsyncs within a fraction of a millisecond of each write, so a
 * SIGKILL sent at a random time almost always finds every byte synced and the "power cut" removes
 * nothing (64 of 73 cuts in an earlier run). So the cut is landed on purpose: the process is
 * SIGSTOPped, and while it is frozen the tool compares each file's size with its `.synced`
 * sidecar (the length the last fsync covered, written after the fsync and before anyone is
 * answered: shared/fsutil.ts). If some file holds unsynced bytes, the process is SIGKILLed right
 * there, still frozen; otherwise it is continued for a moment and stopped again, up to a bound.
 * A stopped process cannot fsync (a sync already inside the kernel may finish, but the sidecar is
 * not advanced, so the cut is still one a real power loss could leave: a sync not yet reported
 * done guarantees nothing).
 *
 * What the cut leaves, and why it is what a real power loss would leave:
 *  - the data file is cut to its `.synced` length: every byte an fsync covered and reported is
 *    kept, everything after it is dropped (a real disk could also keep some of it; dropping all
 *    of it is the harshest legal outcome);
 *  - the `<file>.mark` watermark (shared/wal.ts) is left as it is. The catalog's is fdatasynced
 *    only after the data and before the sidecar, so it never claims more than `.synced`. A
 *    replica's is fdatasynced beside the data (the sidecar after both), so it may claim a batch
 *    the cut drops, as a real power loss between the two fdatasyncs could leave it: the replica
 *    then opens its log as lost records and is rebuilt from its peers, the path this tool should
 *    exercise. (A mark torn inside its sector is not simulated.)
 *  - the `.synced` sidecar itself is left: the service rewrites it when it opens the file.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Cluster, ServiceName } from '../cluster/index.ts';
import { sleep } from './sleep.ts';
import {
  catalogPaths,
  replicaIdOfDir,
  replicaPaths,
  SYNCED_SUFFIX,
} from '../../../shared/data-dir.ts';

export type CutResult =
  /** Cut `bytes` (0: the file ended where the last fsync did). */
  | { kind: 'cut'; bytes: number }
  /** No file or no sidecar (nothing was ever fsynced, or tracking is off). */
  | { kind: 'absent' }
  /** The sidecar does not hold a number (e.g. killed mid-write of it): the file is left alone. */
  | { kind: 'unreadable'; text: string };

/** The sidecar's length and the file's size, or null without either. */
async function syncedAndSize(
  file: string,
): Promise<{ synced: number | null; text: string; size: number } | null> {
  try {
    const text = await fs.readFile(`${file}${SYNCED_SUFFIX}`, 'utf8');
    const size = (await fs.stat(file)).size;
    return { synced: /^\d+$/.test(text.trim()) ? Number(text.trim()) : null, text, size };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Cuts `file` back to the byte length recorded in `<file>.synced` (what the last fsync covered).
 */
export async function cutToSynced(file: string): Promise<CutResult> {
  const s = await syncedAndSize(file);
  if (!s) return { kind: 'absent' };
  if (s.synced === null) return { kind: 'unreadable', text: s.text };
  if (s.synced >= s.size) return { kind: 'cut', bytes: 0 };
  await fs.truncate(file, s.synced);
  return { kind: 'cut', bytes: s.size - s.synced };
}

/** Bytes written past the last fsync, summed over `files` (0 where there is no sidecar). */
export async function unsyncedBytes(files: readonly string[]): Promise<number> {
  let n = 0;
  for (const f of files) {
    const s = await syncedAndSize(f);
    if (s?.synced != null && s.size > s.synced) n += s.size - s.synced;
  }
  return n;
}

async function totalSize(files: readonly string[]): Promise<number> {
  let n = 0;
  for (const f of files) n += (await fs.stat(f).catch(() => null))?.size ?? 0;
  return n;
}

/** The durable files a service's power loss cuts back. */
export function durableFilesOf(dataDir: string, service: ServiceName): string[] {
  if (service === 'catalog') return [catalogPaths(dataDir).ledger];
  const id = replicaIdOfDir(service);
  return id === null ? [] : [replicaPaths(dataDir, id).log];
}

export interface PowerCut {
  service: ServiceName;
  /** Stop-and-look rounds it took to find unsynced bytes (or to give up). */
  tries: number;
  /** Unsynced bytes seen while the process was frozen, just before the SIGKILL. */
  unsyncedAtKill: number;
  /**
   * Whether it had written anything unsynced or its files grew while it looked (false: it wrote
   * nothing then).
   */
  wrote: boolean;
  /** Bytes each file lost, by path relative to the data dir. */
  files: Array<{ file: string; result: CutResult }>;
  /** Total bytes removed. */
  removedBytes: number;
}

export interface LandingOptions {
  /** Give up looking for unsynced bytes after this long and cut anyway (default 2 s). */
  deadlineMs?: number;
  /** ... or after this many stop-and-look rounds (default 300). */
  maxTries?: number;
}

/**
 * Freezes `service` until it holds unsynced bytes (bounded), SIGKILLs it frozen and cuts its
 * files. The process must be running and not paused by anyone else.
 */
export async function landPowerCut(
  cluster: Cluster,
  service: ServiceName,
  opts: LandingOptions = {},
): Promise<PowerCut> {
  const files = durableFilesOf(cluster.dataDir, service);
  const end = performance.now() + (opts.deadlineMs ?? 2_000);
  const maxTries = opts.maxTries ?? 300;
  let tries = 0;
  let unsyncedAtKill = 0;
  const firstSize = await totalSize(files);
  for (;;) {
    tries++;
    await cluster.pause(service);
    unsyncedAtKill = await unsyncedBytes(files);
    if (
      unsyncedAtKill > 0 ||
      tries >= maxTries ||
      performance.now() > end ||
      !cluster.isRunning(service)
    )
      break;
    await cluster.resume(service);
    // Let it run for a moment: appends come in bursts, and each write is synced within ~1 ms.
    await sleep(tries % 3);
  }
  const wrote = unsyncedAtKill > 0 || (await totalSize(files)) !== firstSize;
  await cluster.kill(service, 'SIGKILL');
  const cut: PowerCut = { service, tries, unsyncedAtKill, wrote, files: [], removedBytes: 0 };
  for (const file of files) {
    const result = await cutToSynced(file);
    cut.files.push({ file: path.relative(cluster.dataDir, file), result });
    if (result.kind === 'cut') cut.removedBytes += result.bytes;
  }
  return cut;
}

/** `order-3/orders.csv -412 bytes` per file, for the timeline. */
export function describeCut(cut: PowerCut): string {
  const parts = cut.files.map(({ file, result }) =>
    result.kind === 'cut'
      ? `${file} -${result.bytes} bytes`
      : result.kind === 'absent'
        ? `${file}: no file or no .synced sidecar, not cut`
        : `${file}: .synced sidecar holds ${JSON.stringify(result.text.slice(0, 20))}, not cut`,
  );
  const found =
    cut.unsyncedAtKill > 0
      ? `unsynced bytes found after ${cut.tries} stop(s)`
      : cut.wrote
        ? `it wrote, but every byte was synced at each of ${cut.tries} stops`
        : `it wrote nothing during ${cut.tries} stops`;
  return `${parts.length ? parts.join(', ') : 'nothing to cut'} (${found})`;
}
