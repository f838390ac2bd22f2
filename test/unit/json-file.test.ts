/**
 * A small durable JSON file (shared/fsutil.ts openJsonFile) when the disk fails.
 *
 * The fault: 1.5 s of a full disk while a leader was killed. The meta save failed, memory had
 * already taken the new value, and every later save failed with the old ENOSPC until a manual
 * restart. Now a failed save is fail-stop (onFatal, the process exits), memory changes only once
 * the disk did, and an unreadable file is a named error, never a silent reset.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UnreadableFileError, openJsonFile, writeFileAtomic } from '../../shared/fsutil.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-json-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

interface Doc {
  epoch: number;
}
const file = () => path.join(dir, 'meta.json');
const normalize = (raw: Partial<Doc>): Doc => {
  if (raw.epoch !== undefined && !Number.isSafeInteger(raw.epoch))
    throw new Error(`epoch ${JSON.stringify(raw.epoch)} is not an integer`);
  return { epoch: raw.epoch ?? 0 };
};

/** A disk that fails the next write with ENOSPC, then works again (the fault cleared). */
function flakyDisk() {
  const calls: string[] = [];
  let failNext = false;
  return {
    calls,
    failOnce: () => void (failNext = true),
    write: async (f: string, contents: string) => {
      calls.push(contents);
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
          code: 'ENOSPC',
        });
      }
      await writeFileAtomic(f, contents);
    },
  };
}

class Stopped extends Error {}

describe('a failed save', () => {
  it('stops the process (onFatal), memory keeps the durable value, and no later save is attempted', async () => {
    const disk = flakyDisk();
    const fatal: string[] = [];
    const store = await openJsonFile<Doc>(file(), { epoch: 0 }, normalize, {
      write: disk.write,
      onFatal: (what, err) => {
        fatal.push(`${what}: ${(err as Error).message}`);
        throw new Stopped(what);
      },
    });
    await store.save({ epoch: 4 });
    disk.failOnce();
    const failed = store.save({ epoch: 5 });
    expect(store.load()).toEqual({ epoch: 4 });
    await expect(failed).rejects.toBeInstanceOf(Stopped);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatch(/meta\.json.*ENOSPC/);
    expect(store.load()).toEqual({ epoch: 4 });
    // The disk works again, but a process that saw a write fail goes no further.
    await expect(store.save({ epoch: 6 })).rejects.toThrow(/an earlier save failed/);
    expect(disk.calls).toHaveLength(2);
    expect(JSON.parse(await fs.readFile(file(), 'utf8'))).toEqual({ epoch: 4 });
  });

  it('without onFatal the default is the crash policy (exit 70), not a rejected promise the caller might swallow', async () => {
    const disk = flakyDisk();
    const store = await openJsonFile<Doc>(file(), { epoch: 0 }, normalize, { write: disk.write });
    const exit = process.exit;
    const codes: unknown[] = [];
    const said: unknown[] = [];
    const spy = vi
      .spyOn(console, 'error')
      .mockImplementation((msg: unknown) => void said.push(msg));
    process.exit = ((code?: number) => {
      codes.push(code);
      throw new Stopped('exit');
    }) as typeof process.exit;
    try {
      disk.failOnce();
      await expect(store.save({ epoch: 1 })).rejects.toBeInstanceOf(Stopped);
    } finally {
      process.exit = exit;
      spy.mockRestore();
    }
    expect(codes).toEqual([70]);
    expect(String(said[0])).toMatch(/FATAL: save of .*meta\.json failed/);
  });
});

describe('memory follows the disk', () => {
  it('load returns a saved value only once its write is durable', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store = await openJsonFile<Doc>(file(), { epoch: 0 }, normalize, {
      write: async (f, contents) => {
        await gate;
        await writeFileAtomic(f, contents);
      },
    });
    const saved = store.save({ epoch: 9 });
    expect(store.load()).toEqual({ epoch: 0 });
    release();
    await saved;
    expect(store.load()).toEqual({ epoch: 9 });
  });
});

describe('an unreadable file', () => {
  it('is an UnreadableFileError naming the file, whether it is not JSON or holds a value its normalizer refuses', async () => {
    for (const text of ['{"epoch": 3, ', '[1,2]', '{"epoch": "three"}']) {
      await fs.writeFile(file(), text);
      const err = await openJsonFile<Doc>(file(), { epoch: 0 }, normalize).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UnreadableFileError);
      expect(err).toMatchObject({ code: 'unreadable_file', file: file() });
      expect((err as Error).message).toMatch(/meta\.json is unreadable/);
    }
  });
});
