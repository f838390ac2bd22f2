/**
 * When the disk refuses a write, the log stops the process (onFatal) and acknowledges nothing.
 *
 * The log writes small batches and its mark straight to the page cache from the event loop
 * (`writeSync`, shared/fsutil.ts's `writeAllAt`) and large ones through the thread pool: a failure
 * on the synchronous path must end in the same fail-stop as one on the asynchronous path, never in
 * an exception that escapes the writer or an append that resolves.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { signEntry } from '../../order/log.ts';
import { openFileLogStore, type FileLogStore } from '../../order/file-log.ts';
import type { OrderEntry } from '../../shared/contracts.ts';

/** Armed by a test: the next write whose file ends so fails with ENOSPC, once. */
const failing = vi.hoisted(() => ({ suffix: null as string | null }));

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const writeSync = ((fd: number, ...rest: unknown[]) => {
    if (
      failing.suffix !== null &&
      real.readlinkSync(`/proc/self/fd/${fd}`).endsWith(failing.suffix)
    ) {
      failing.suffix = null;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return (real.writeSync as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof real.writeSync;
  return { ...real, default: { ...real, writeSync }, writeSync };
});

let dir: string;
let log: FileLogStore | null = null;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-wal-fail-'));
});

afterEach(async () => {
  failing.suffix = null;
  await log?.close().catch(() => {});
  log = null;
  await fs.rm(dir, { recursive: true, force: true });
});

function entry(index: number, prevCrc: number): OrderEntry {
  return signEntry(prevCrc, { index, epoch: 1, name: 'Tux', quantity: 1, key: `k-${index}` });
}

/**
 * A log whose onFatal records what failed and returns: the real one exits, so nothing after it
 * runs, and the waiters it leaves pending are what a stopped process leaves unanswered.
 */
async function openRecording(fatal: string[]): Promise<FileLogStore> {
  log = await openFileLogStore(dir, {
    onFatal: (what, err) => {
      fatal.push(`${what}: ${(err as Error).message}`);
      return undefined as never;
    },
  });
  return log;
}

describe('when the disk refuses a write', () => {
  it('of an append: the process stops and the append is never acknowledged', async () => {
    const fatal: string[] = [];
    const l = await openRecording(fatal);
    const first = entry(0, 0);
    await l.append([first]);
    failing.suffix = 'orders.csv';
    let acknowledged = false;
    void l.append([entry(1, first.crc)]).then(() => (acknowledged = true));
    await vi.waitFor(() => expect(fatal).toHaveLength(1));
    expect(fatal[0]).toMatch(/orders\.csv: ENOSPC/);
    expect(acknowledged).toBe(false);
    expect(l.durableIndex()).toBe(0);
  });

  it('of the mark: the process stops and the batch the mark was to cover is never acknowledged', async () => {
    const fatal: string[] = [];
    const l = await openRecording(fatal);
    failing.suffix = '.mark';
    let acknowledged = false;
    void l.append([entry(0, 0)]).then(() => (acknowledged = true));
    await vi.waitFor(() => expect(fatal).toHaveLength(1));
    expect(fatal[0]).toMatch(/ENOSPC/);
    expect(acknowledged).toBe(false);
    expect(l.durableIndex()).toBe(-1);
  });
});
