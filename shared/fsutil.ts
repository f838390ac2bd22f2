/**
 * Durable file operations. Durable means fsynced: a rename or a new file is only durable once its
 * directory is fsynced too. An fsync error is fatal by policy (Linux may drop the dirty pages and
 * report the error only once, so a retried fsync can "succeed" without the data): callers let it
 * propagate and the process crashes rather than acknowledge anything.
 */
import fs from 'node:fs/promises';
import { openSync, writeSync } from 'node:fs';
import path from 'node:path';

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `file` with `contents` so that a crash at any instant leaves either the old or the new
 * file whole: write a temp file, fsync it, rename over the target, fsync the directory.
 */
let tmpCounter = 0;

export async function writeFileAtomic(file: string, contents: string | Uint8Array): Promise<void> {
  // Unique per write, so two writers of one file never share (and steal) a temp file.
  const tmp = `${file}.tmp-${process.pid}-${++tmpCounter}`;
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

/** Crash on an fsync failure: never continue, never acknowledge. */
export function crashOnDurabilityError(what: string, err: unknown): never {
  console.error(`FATAL: ${what} failed; exiting so recovery starts from what is on disk`, err);
  process.exit(70);
}

/**
 * For power-loss simulation only: records how many bytes of `file` the last fsync covered, in
 * `<file>.synced`. Called after each fsync and before its waiters are answered, so the sidecar
 * never lags an acknowledged record. It is overwritten in place, synchronously, at a fixed width
 * (never truncated, so a SIGKILL can never find it empty), and not fsynced itself: it only has to
 * survive SIGKILL, which keeps the page cache. The chaos tool cuts the file back to this length.
 */
export function createSyncedOffsetTracker(file: string): (syncedBytes: number) => void {
  let fd: number | null = null; // opened on first use: the log creates its directory first
  return (syncedBytes) => {
    fd ??= openSync(`${file}.synced`, 'w');
    writeSync(fd, `${String(syncedBytes).padStart(19, ' ')}\n`, 0);
  };
}

/**
 * A small JSON document kept in one file, replaced atomically on every save. Saves apply in call
 * order and each resolves once durable; `load` returns the latest saved value at once. A missing
 * file reads as `defaults`; an unreadable one is an error naming the file (never a silent reset).
 */
export async function openJsonFile<T extends object>(file: string, defaults: T, normalize: (raw: Partial<T>) => T): Promise<{ load(): T; save(next: T): Promise<void> }> {
  let value: T = { ...defaults };
  try {
    value = normalize(JSON.parse(await fs.readFile(file, 'utf8')) as Partial<T>);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file} is unreadable: ${(err as Error).message}`);
  }
  let chain: Promise<void> = Promise.resolve();
  return {
    load: () => ({ ...value }),
    save(next) {
      value = { ...next };
      const text = `${JSON.stringify(value)}\n`;
      chain = chain.then(() => writeFileAtomic(file, text));
      return chain;
    },
  };
}
