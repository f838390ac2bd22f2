/**
 * The bench's synthesized replica dirs are what a replica would have written: the real order
 * log opens them with every record, the three replicas' logs are byte-identical, and a lagging
 * replica cut back to a prefix holds exactly that prefix.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openFileLogStore } from '../../order/file-log.ts';
import { openFileMetaStore } from '../../order/meta.ts';
import {
  cutReplicaLog,
  filesIdentical,
  orderLogPath,
  replicaDir,
  SYNTH_META,
  writeReplicaDirs,
} from '../../scripts/lib/bench/synth-log.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});
const tmp = async () => {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-synth-test-'));
  dirs.push(d);
  return d;
};

describe('synthesized replica dirs', () => {
  it('open in the real order log with every record, identical on every replica', async () => {
    const dir = await tmp();
    await writeReplicaDirs(dir, [1, 2, 3], 45_000);
    expect(await filesIdentical([1, 2, 3].map((id) => orderLogPath(dir, id)))).toBe(true);
    const log = await openFileLogStore(replicaDir(dir, 2));
    try {
      expect(log.lastIndex()).toBe(44_999);
      expect(log.durableIndex()).toBe(44_999);
      expect(log.entryAt(44_999)).toMatchObject({ index: 44_999, epoch: 1 });
    } finally {
      await log.close();
    }
    expect((await openFileMetaStore(replicaDir(dir, 3))).load()).toEqual(SYNTH_META);
  });

  it('a replica cut back to a prefix holds exactly that prefix, and its logs differ from the others', async () => {
    const dir = await tmp();
    await writeReplicaDirs(dir, [1, 2], 100);
    await cutReplicaLog(dir, 1, 40);
    const log = await openFileLogStore(replicaDir(dir, 1));
    const full = await openFileLogStore(replicaDir(dir, 2));
    try {
      expect(log.lastIndex()).toBe(39);
      expect(log.crcAt(39)).toBe(full.crcAt(39));
    } finally {
      await log.close();
      await full.close();
    }
    expect(await filesIdentical([orderLogPath(dir, 1), orderLogPath(dir, 2)])).toBe(false);
    expect((await openFileMetaStore(replicaDir(dir, 1))).load().logEpoch).toBe(1);
  });
});
