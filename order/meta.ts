/**
 * A replica's durable promises: the highest epoch it has promised (and to whom), and the epoch
 * whose leader's start-of-epoch log it fully holds (`logEpoch`, VR's "last normal view").
 *
 * These must survive crashes: a replica that forgot a promise could help elect two leaders in one
 * epoch, and one that over-claimed logEpoch could be picked as most up to date while missing
 * committed orders. So every change is written atomically and fsynced before the replica acts on
 * it or answers. The memory twin is for tests and the simulator.
 */
import path from 'node:path';
import fs from 'node:fs/promises';
import { openJsonFile } from '../shared/fsutil.ts';

export interface Meta {
  promisedEpoch: number;
  votedFor: number | null;
  logEpoch: number;
}

export const INITIAL_META: Meta = { promisedEpoch: 0, votedFor: null, logEpoch: 0 };

export interface MetaStore {
  load(): Meta;
  /** Resolves once the new meta is durable. Writes are applied in call order. */
  save(meta: Meta): Promise<void>;
}

export class MemoryMetaStore implements MetaStore {
  constructor(private meta: Meta = { ...INITIAL_META }) {}
  load(): Meta {
    return { ...this.meta };
  }
  async save(meta: Meta): Promise<void> {
    this.meta = { ...meta };
  }
}

export async function openFileMetaStore(dir: string): Promise<MetaStore> {
  await fs.mkdir(dir, { recursive: true });
  return openJsonFile<Meta>(path.join(dir, 'meta.json'), INITIAL_META, (raw) => ({
    promisedEpoch: Number(raw.promisedEpoch ?? 0),
    votedFor: raw.votedFor ?? null,
    logEpoch: Number(raw.logEpoch ?? 0),
  }));
}
