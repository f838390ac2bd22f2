/**
 * Opening a replica's durable state (order/storage.ts): what a lost file makes of it.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_FILE } from '../../order/file-log.ts';
import { openReplicaStorage } from '../../order/storage.ts';
import { MARK_SUFFIX } from '../../shared/wal.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-storage-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('when a replica that took part in an epoch comes back with its log wiped and its mark gone', () => {
  it('it opens recovering, not intact with an empty log it could lead with', async () => {
    const first = await openReplicaStorage(dir, {}, () => {});
    await first.meta.save({ promisedEpoch: 1, votedFor: 3, logEpoch: 1, storage: 'intact' });
    await first.log!.close();
    // The disk lost the log's records and its mark (found by the simulator, seed 5504).
    await fs.writeFile(path.join(dir, LOG_FILE), 'number,epoch,name,quantity,key,crc\n');
    await fs.rm(path.join(dir, `${LOG_FILE}${MARK_SUFFIX}`));
    const events: string[] = [];
    const again = await openReplicaStorage(dir, {}, (e) => events.push(e.type));
    expect(again.meta.load().storage).toBe('recovering');
    expect(again.meta.load().logEpoch).toBe(0);
    await again.log?.close();
  });

  it('a brand-new replica (no meta yet) opens intact', async () => {
    const s = await openReplicaStorage(dir, {}, () => {});
    expect(s.meta.load().storage).not.toBe('recovering');
    await s.log?.close();
  });
});
