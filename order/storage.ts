/**
 * Opening a replica's durable state from its data dir (DATA_DIR/order-N/): the meta file and the
 * order log, with what recovery.ts needs to know about their condition.
 *
 * Damage is recorded before it is repaired: the meta that says "recovering" (and claims no log
 * epoch) is durable before a damaged log is cut back to its valid prefix, so a crash half way
 * through a repair can never leave a shorter log that still passes for the whole one. The damaged
 * files are kept beside the new ones for a person to inspect.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { setAsideName } from '../shared/data-dir.ts';
import { keepValidPrefix, MARK_SUFFIX } from '../shared/wal.ts';
import type { ReplicaEvent } from './events.ts';
import {
  CorruptLogError,
  LOG_FILE,
  LostRecordsError,
  openFileLogStore,
  type FileLogOptions,
  type FileLogStore,
} from './file-log.ts';
import { META_FILE, openFileMetaStore, UnreadableMetaError, type MetaStore } from './meta.ts';
import { storageOnOpen, type OpenedStorage } from './recovery.ts';

export interface ReplicaStorage {
  log: FileLogStore;
  meta: MetaStore;
}

const exists = (file: string) =>
  fs.access(file).then(
    () => true,
    () => false,
  );

async function openMeta(
  dir: string,
): Promise<{ meta: MetaStore; found: boolean; unreadable: boolean }> {
  try {
    const meta = await openFileMetaStore(dir);
    return { meta, found: meta.existed, unreadable: false };
  } catch (err) {
    if (!(err instanceof UnreadableMetaError)) throw err;
    await fs.rename(err.file, setAsideName(err.file, 'unreadable', Date.now()));
    return { meta: await openFileMetaStore(dir), found: false, unreadable: true };
  }
}

/**
 * Opens the log, or says what is wrong with it without changing it: corruption, or lost records
 * (shared/wal.ts: fewer records than its durable mark, or a deleted file beside its mark).
 */
async function probeLog(
  dir: string,
  opts: FileLogOptions,
  metaFound: boolean,
): Promise<{
  log: FileLogStore | null;
  damage: string | null;
  corrupt: CorruptLogError | LostRecordsError | null;
}> {
  const missing = metaFound && !(await exists(path.join(dir, LOG_FILE)));
  // The mark is made with the log, before the meta ever is: a meta beside a log with no mark
  // means the mark was lost, and with it any way to tell how many records were durable. An
  // empty log there may be a wiped one (seed 5504: a replica came back claiming its log epoch
  // with 0 orders and led without a committed one).
  const markLost =
    metaFound && !missing && !(await exists(path.join(dir, `${LOG_FILE}${MARK_SUFFIX}`)));
  try {
    return {
      log: await openFileLogStore(dir, opts),
      damage: missing
        ? `${LOG_FILE} is missing although ${META_FILE} exists`
        : markLost
          ? `${LOG_FILE}${MARK_SUFFIX} is missing although ${META_FILE} exists`
          : null,
      corrupt: null,
    };
  } catch (err) {
    if (!(err instanceof CorruptLogError) && !(err instanceof LostRecordsError)) throw err;
    return { log: null, damage: err.message, corrupt: err };
  }
}

/**
 * Classifies the state a replica opened (recovery.ts) and makes the verdict durable before
 * anything acts on it: a damaged replica's meta says so, and claims no log epoch, from here on.
 * Shared by the file storage below and the in-memory twins of tests and the simulator.
 */
export async function recordStorageCondition(
  meta: MetaStore,
  opened: OpenedStorage,
  onEvent: (e: ReplicaEvent) => void,
): Promise<void> {
  const before = meta.load();
  const verdict = storageOnOpen(before, opened);
  if (verdict.storage === before.storage && (verdict.storage === 'intact' || before.logEpoch === 0))
    return;
  await meta.save({
    ...before,
    storage: verdict.storage,
    logEpoch: verdict.storage === 'intact' ? before.logEpoch : 0,
  });
  onEvent({ type: 'storage', from: before.storage, to: verdict.storage, why: verdict.why });
}

export async function openReplicaStorage(
  dir: string,
  opts: FileLogOptions,
  onEvent: (e: ReplicaEvent) => void,
): Promise<ReplicaStorage> {
  const { meta, found, unreadable } = await openMeta(dir);
  const probe = await probeLog(dir, opts, found);
  const logRecords = probe.log ? probe.log.lastIndex() + 1 : 0;
  await recordStorageCondition(
    meta,
    { metaFound: found, metaUnreadable: unreadable, logDamage: probe.damage, logRecords },
    onEvent,
  );
  let log = probe.log;
  if (!log && probe.corrupt) {
    // The meta above already stopped claiming this log; only now is it cut back.
    await keepValidPrefix(path.join(dir, LOG_FILE), probe.corrupt);
    log = await openFileLogStore(dir, opts);
  }
  return { log: log!, meta };
}
