/**
 * Durable file operations. Durable means fsynced: a rename or a new file is only durable once its
 * directory is fsynced too. An fsync error is fatal by policy (Linux may drop the dirty pages and
 * report the error only once, so a retried fsync can "succeed" without the data): callers let it
 * propagate and the process crashes rather than acknowledge anything.
 */
import fs from 'node:fs/promises';
import { openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { SYNCED_SUFFIX } from './data-dir.ts';

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

/** The file's bytes, or null when it does not exist (any other error is thrown). */
export async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

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
    fd ??= openSync(`${file}${SYNCED_SUFFIX}`, 'w');
    writeSync(fd, `${String(syncedBytes).padStart(19, ' ')}\n`, 0);
  };
}

/**
 * A file that exists but cannot be read as what it should hold: damage, never a silent reset to
 * defaults.
 */
export class UnreadableFileError extends Error {
  readonly code = 'unreadable_file';
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${file} is unreadable: ${detail}`);
    this.name = 'UnreadableFileError';
  }
}

export interface JsonFile<T> {
  /** The last value that is durable (a copy). */
  load(): T;
  /**
   * Writes `next` after every earlier save; resolves once it is durable, and only then does `load`
   * return it.
   */
  save(next: T): Promise<void>;
}

export interface JsonFileOptions {
  /**
   * Called when a save fails; must not return normally. Default: crashOnDurabilityError (exit 70).
   */
  onFatal?: (what: string, err: unknown) => never;
  /** How a save reaches the disk (tests inject a failing one); default writeFileAtomic. */
  write?: (file: string, contents: string) => Promise<void>;
}

/**
 * A small JSON document kept in one file, replaced atomically on every save. Saves apply in call
 * order and each resolves once durable. `load` returns the latest *durable* value: memory follows
 * the disk, never leads it, so nothing is decided on a value a crash would take back. A missing
 * file reads as `defaults`; an unreadable one (not JSON, or refused by `normalize`, which may
 * throw) is an `UnreadableFileError`.
 *
 * A failed save is fail-stop, like a failed WAL write: `onFatal` runs (the process exits) and no
 * later save is attempted, because after a failed write (ENOSPC, EIO, a read-only remount) what
 * the disk holds is unknown and a retried fsync can lie.
 */
export async function openJsonFile<T extends object>(
  file: string,
  defaults: T,
  normalize: (raw: Partial<T>) => T,
  opts: JsonFileOptions = {},
): Promise<JsonFile<T>> {
  const onFatal = opts.onFatal ?? crashOnDurabilityError;
  const write = opts.write ?? writeFileAtomic;
  let value: T = { ...defaults };
  let text: string | null = null;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new UnreadableFileError(file, (err as Error).message);
  }
  if (text !== null) {
    try {
      const raw: unknown = JSON.parse(text);
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
        throw new Error('not a JSON object');
      value = normalize(raw as Partial<T>);
    } catch (err) {
      throw new UnreadableFileError(file, (err as Error).message);
    }
  }
  let chain: Promise<void> = Promise.resolve();
  let failed: unknown = null;
  return {
    load: () => ({ ...value }),
    save(next) {
      const copy = { ...next };
      const contents = `${JSON.stringify(copy)}\n`;
      // Each save waits for the ones before it, failed or not, and reports its own outcome.
      chain = chain
        .catch(() => {})
        .then(async () => {
          if (failed !== null)
            throw new Error(`${file}: not saved: an earlier save failed (${String(failed)})`);
          try {
            await write(file, contents);
          } catch (err) {
            failed = err ?? new Error('write failed');
            onFatal(`save of ${file}`, err);
          }
          value = copy;
        });
      return chain;
    },
  };
}

/**
 * Writes up to this size go to the page cache from the event loop itself (one pwrite, a few us)
 * rather than through libuv's thread pool, whose round trip costs this thread two wake-ups (about
 * 10 us each here, more than the copy). Larger writes (catch-up pages) stay off the event loop.
 * Durability is the same either way: only the fdatasync that follows makes the bytes count.
 */
export const SYNC_WRITE_MAX_BYTES = 256 * 1024;

/** Writes all of `bytes` at `position` (not yet durable: the caller fdatasyncs). */
export async function writeAllAt(
  handle: fs.FileHandle,
  bytes: Buffer,
  position: number,
): Promise<void> {
  let written = 0;
  if (bytes.length <= SYNC_WRITE_MAX_BYTES) {
    while (written < bytes.length)
      written += writeSync(handle.fd, bytes, written, bytes.length - written, position + written);
    return;
  }
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(
      bytes,
      written,
      bytes.length - written,
      position + written,
    );
    written += bytesWritten;
  }
}
