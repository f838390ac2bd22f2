/**
 * A replica's durable promises and the condition of its durable state.
 *
 * - `promisedEpoch`/`votedFor`: the highest epoch it has promised, and to whom. A replica that
 *   forgot a promise could help elect two leaders in one epoch.
 * - `logEpoch`: the epoch whose leader's whole start-of-epoch log it holds (VR's "last normal
 *   view"). One that over-claimed it could be picked as most up to date while missing committed
 *   orders.
 * - `storage`: whether the rest of its durable state can be trusted (order/recovery.ts decides):
 *   'intact', 'recovering' (its log was lost or damaged: promises known, log not), 'amnesiac'
 *   (its promises were lost too) or 'unverified' (no meta at all: a new replica or a wiped one,
 *   until its peers tell which). Only an intact replica votes, leads or counts toward a quorum.
 *
 * Every change is written atomically and fsynced before the replica acts on it or answers; a
 * failed write stops the process (the caller's onFatal), and memory follows the disk, never the
 * other way round. The memory twin is for tests and the simulator.
 */
import path from 'node:path';
import fs from 'node:fs/promises';
import { STORAGE_STATES, type StorageState } from '../shared/contracts.ts';
import { EPOCH, REPLICA_ID } from '../shared/fields.ts';
import { openJsonFile } from '../shared/fsutil.ts';
import { META_FILE } from '../shared/data-dir.ts';

export type { StorageState };

export interface Meta {
  promisedEpoch: number;
  votedFor: number | null;
  logEpoch: number;
  storage: StorageState;
}

/** What a replica with no meta file starts from: nothing promised, nothing verified. */
export const INITIAL_META: Meta = {
  promisedEpoch: 0,
  votedFor: null,
  logEpoch: 0,
  storage: 'unverified',
};

export { META_FILE };

export interface MetaStore {
  load(): Meta;
  /**
   * Resolves once the new meta is durable; rejects if it could not be made durable. In call order.
   */
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

/** Thrown when the meta file exists but cannot be read back: the replica's promises are lost. */
export class UnreadableMetaError extends Error {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(`${file} is unreadable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'UnreadableMetaError';
  }
}

/**
 * A meta file written before `storage` existed belongs to a replica that ran without damage
 * checks: it is taken as intact, as it was then.
 */
export function normalizeMeta(raw: Partial<Meta>): Meta {
  const meta: Meta = {
    promisedEpoch: raw.promisedEpoch ?? 0,
    votedFor: raw.votedFor ?? null,
    logEpoch: raw.logEpoch ?? 0,
    storage: raw.storage ?? 'intact',
  };
  if (
    !EPOCH.valid(meta.promisedEpoch) ||
    !EPOCH.valid(meta.logEpoch) ||
    (meta.votedFor !== null && !REPLICA_ID.valid(meta.votedFor))
  ) {
    throw new Error(`bad numbers in meta ${JSON.stringify(raw)}`);
  }
  if (!STORAGE_STATES.includes(meta.storage))
    throw new Error(`bad storage state ${JSON.stringify(raw.storage)}`);
  return meta;
}

/** Opens DIR/meta.json; `existed` tells a replica that never saved one from one that did. */
export async function openFileMetaStore(dir: string): Promise<MetaStore & { existed: boolean }> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, META_FILE);
  const existed = await fs.access(file).then(
    () => true,
    () => false,
  );
  try {
    const store = await openJsonFile<Meta>(file, INITIAL_META, normalizeMeta);
    return Object.assign(store, { existed });
  } catch (err) {
    throw new UnreadableMetaError(file, err);
  }
}
