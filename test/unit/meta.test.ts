/**
 * A replica's durable promises (order/meta.ts): the file store and its memory twin keep the same
 * contract — defaults when nothing is saved, the last save wins, loads are copies.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  INITIAL_META,
  MemoryMetaStore,
  openFileMetaStore,
  type Meta,
  type MetaStore,
} from '../../order/meta.ts';

let dir: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-meta-'));
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const metaFile = () => path.join(dir, 'meta.json');
const onDisk = async (): Promise<Meta> => JSON.parse(await fs.readFile(metaFile(), 'utf8')) as Meta;

describe('openFileMetaStore', () => {
  it('returns the defaults when no meta file exists, and creates none until a save', async () => {
    const store = await openFileMetaStore(dir);
    expect(store.load()).toEqual({
      promisedEpoch: 0,
      votedFor: null,
      logEpoch: 0,
      storage: 'unverified',
    });
    expect(store.load()).toEqual(INITIAL_META);
    await expect(fs.access(metaFile())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('creates a missing directory', async () => {
    const nested = path.join(dir, 'x', 'y');
    const store = await openFileMetaStore(nested);
    await store.save({ promisedEpoch: 1, votedFor: 1, logEpoch: 0, storage: 'intact' });
    expect(JSON.parse(await fs.readFile(path.join(nested, 'meta.json'), 'utf8'))).toEqual({
      promisedEpoch: 1,
      votedFor: 1,
      logEpoch: 0,
      storage: 'intact',
    });
  });

  it('a saved meta is what a reopened store loads', async () => {
    const store = await openFileMetaStore(dir);
    const saved: Meta = { promisedEpoch: 7, votedFor: 3, logEpoch: 5, storage: 'intact' };
    await store.save(saved);
    expect(store.load()).toEqual(saved);
    expect(await onDisk()).toEqual(saved);
    const again = await openFileMetaStore(dir);
    expect(again.load()).toEqual(saved);
  });

  it('a null votedFor survives reopening as null', async () => {
    const store = await openFileMetaStore(dir);
    await store.save({ promisedEpoch: 4, votedFor: null, logEpoch: 4, storage: 'intact' });
    expect((await openFileMetaStore(dir)).load()).toEqual({
      promisedEpoch: 4,
      votedFor: null,
      logEpoch: 4,
      storage: 'intact',
    });
  });

  it('several saves not awaited between them end with the last one on disk', async () => {
    const store = await openFileMetaStore(dir);
    const saves: Promise<void>[] = [];
    for (let e = 1; e <= 20; e++)
      saves.push(
        store.save({ promisedEpoch: e, votedFor: (e % 3) + 1, logEpoch: e - 1, storage: 'intact' }),
      );
    // Memory follows the disk (issue 9 item 8): before any save is durable, load still returns
    // what was on disk. (This used to expect the last save at once, before it was durable.)
    expect(store.load()).toEqual(INITIAL_META);
    await Promise.all(saves);
    expect(store.load()).toEqual({
      promisedEpoch: 20,
      votedFor: 3,
      logEpoch: 19,
      storage: 'intact',
    });
    expect(await onDisk()).toEqual({
      promisedEpoch: 20,
      votedFor: 3,
      logEpoch: 19,
      storage: 'intact',
    });
    expect((await openFileMetaStore(dir)).load()).toEqual({
      promisedEpoch: 20,
      votedFor: 3,
      logEpoch: 19,
      storage: 'intact',
    });
    // No temp file is left behind by the chained atomic writes.
    expect(await fs.readdir(dir)).toEqual(['meta.json']);
  });

  it('each save resolves only once its own value (or a later one) is on disk', async () => {
    const store = await openFileMetaStore(dir);
    const seen: [saved: number, disk: number][] = [];
    await Promise.all(
      [1, 2, 3, 4, 5].map((e) =>
        store
          .save({ promisedEpoch: e, votedFor: 1, logEpoch: 0, storage: 'intact' })
          .then(async () => {
            seen.push([e, (await onDisk()).promisedEpoch]);
          }),
      ),
    );
    expect(seen).toHaveLength(5);
    for (const [saved, disk] of seen) expect(disk).toBeGreaterThanOrEqual(saved);
  });

  it('an unreadable meta file is an error naming the file, not a silent reset to defaults', async () => {
    await fs.writeFile(metaFile(), '{"promisedEpoch": 3, ');
    await expect(openFileMetaStore(dir)).rejects.toThrow(/meta\.json is unreadable/);
  });
});

describe('the file store and MemoryMetaStore behave the same', () => {
  const variants: [string, () => Promise<MetaStore>][] = [
    ['file', () => openFileMetaStore(dir)],
    ['memory', async () => new MemoryMetaStore()],
  ];

  for (const [kind, make] of variants) {
    it(`${kind}: starts at the defaults`, async () => {
      expect((await make()).load()).toEqual(INITIAL_META);
    });

    it(`${kind}: load returns the last save, in call order`, async () => {
      const store = await make();
      const a = store.save({ promisedEpoch: 2, votedFor: 2, logEpoch: 1, storage: 'intact' });
      const b = store.save({ promisedEpoch: 3, votedFor: 1, logEpoch: 2, storage: 'intact' });
      await Promise.all([a, b]);
      expect(store.load()).toEqual({
        promisedEpoch: 3,
        votedFor: 1,
        logEpoch: 2,
        storage: 'intact',
      });
    });

    it(`${kind}: load returns a copy; mutating it or the saved object changes nothing`, async () => {
      const store = await make();
      const m: Meta = { promisedEpoch: 5, votedFor: 2, logEpoch: 5, storage: 'intact' };
      await store.save(m);
      m.promisedEpoch = 99;
      const loaded = store.load();
      loaded.logEpoch = 42;
      expect(store.load()).toEqual({
        promisedEpoch: 5,
        votedFor: 2,
        logEpoch: 5,
        storage: 'intact',
      });
    });
  }

  it('memory: starts from a given meta', () => {
    const initial: Meta = { promisedEpoch: 9, votedFor: 1, logEpoch: 8, storage: 'intact' };
    const store = new MemoryMetaStore(initial);
    expect(store.load()).toEqual(initial);
  });

  it('memory: the default store does not share INITIAL_META', async () => {
    const store = new MemoryMetaStore();
    await store.save({ promisedEpoch: 1, votedFor: 1, logEpoch: 0, storage: 'intact' });
    expect(INITIAL_META).toEqual({
      promisedEpoch: 0,
      votedFor: null,
      logEpoch: 0,
      storage: 'unverified',
    });
    expect(new MemoryMetaStore().load()).toEqual(INITIAL_META);
  });
});
