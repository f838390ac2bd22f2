/**
 * The catalog's files under faults: what it refuses to serve from, and what it does when a write
 * of its meta file fails.
 *
 * Stories: a complete but damaged last ledger record was cut as a torn write, erasing an
 * acknowledged purchase, so a retry of that key decremented stock a second time; a fence whose
 * meta save failed was already in memory, so the catalog acted on a fence a restart would forget.
 */
import { pendingRefs } from '../support/purchase-refs.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LEDGER_FILE, META_FILE, MemoryLedger, openMetaFile } from '../../catalog/ledger.ts';
import {
  createCatalogStoreWith,
  describeCatalogDamage,
  openFileCatalogStore,
} from '../../catalog/store.ts';
import { writeFileAtomic } from '../../shared/fsutil.ts';
import { CorruptLogError, LostRecordsError } from '../../shared/wal.ts';
import { makeTempDir, removeDir } from './helpers.ts';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

const noFatal = (what: string, err: unknown): never => {
  throw new Error(`unexpected fatal: ${what}: ${String(err)}`);
};
const ledgerPath = () => path.join(dir, LEDGER_FILE);
const refusal = (d = dir) =>
  openFileCatalogStore(d, { onDurabilityError: noFatal }).then(
    async (s) => {
      await s.close();
      return null;
    },
    (e: unknown) => e,
  );

describe('a damaged ledger is never served from', () => {
  it('a complete last record that fails its checksum is corruption: the acknowledged purchase is not cut, the catalog refuses', async () => {
    const store = await openFileCatalogStore(dir, { onDurabilityError: noFatal });
    for (const key of ['a', 'b', 'c'])
      await store.purchase({ name: 'Lego', quantity: 1, key, epoch: 1 });
    await store.close();
    const before = await fs.readFile(ledgerPath(), 'utf8');
    // Bit rot in the last record, which stays a complete line: c's purchase, acknowledged.
    const damaged = before.replace(
      /,c,1,Lego,-1,97,0,(\d+)\n$/,
      (_m, crc) => `,c,1,Lego,-1,97,0,${(Number(crc) ^ 4) >>> 0}\n`,
    );
    expect(damaged).not.toBe(before);
    await fs.writeFile(ledgerPath(), damaged);

    const err = await refusal();
    expect(err).toBeInstanceOf(CorruptLogError);
    expect(describeCatalogDamage(err)).toBe(
      `${ledgerPath()}: corrupt record at line 4 (seq 2): checksum mismatch`,
    );
    expect(await fs.readFile(ledgerPath(), 'utf8')).toBe(damaged);
    expect((await fs.readdir(dir)).some((f) => f.includes('.torn-'))).toBe(false);
  });

  it('a ledger cut back at a record boundary is lost records, named with what its mark claimed', async () => {
    const store = await openFileCatalogStore(dir, { onDurabilityError: noFatal });
    for (const key of ['a', 'b', 'c'])
      await store.purchase({ name: 'Lego', quantity: 1, key, epoch: 1 });
    await store.close();
    const lines = (await fs.readFile(ledgerPath(), 'utf8')).split('\n');
    await fs.writeFile(ledgerPath(), `${lines.slice(0, 3).join('\n')}\n`);
    const err = await refusal();
    expect(err).toBeInstanceOf(LostRecordsError);
    expect(describeCatalogDamage(err)).toBe(
      `${ledgerPath()}: lost records: the file holds 2 valid records, its mark says 3 were durable; acknowledged records are missing from it`,
    );
  });

  it('an unreadable meta file is named, not reset to "no fence"', async () => {
    await fs.writeFile(path.join(dir, META_FILE), '{"fenceEpoch": 9');
    expect(describeCatalogDamage(await refusal())).toMatch(
      new RegExp(`${META_FILE.replace('.', '\\.')} is unreadable`),
    );
    await fs.writeFile(path.join(dir, META_FILE), '{"fenceEpoch": -3, "accountedBelowSeq": 0}');
    expect(describeCatalogDamage(await refusal())).toMatch(/fenceEpoch -3 is not an epoch/);
  });

  it('anything else is not damage, and is not described as such', () => {
    expect(describeCatalogDamage(new Error('EACCES'))).toBeNull();
  });
});

describe('a meta save that fails', () => {
  /** A meta file on a disk that fails its next write (ENOSPC), and records what onFatal saw. */
  async function failingMeta() {
    const fatal: string[] = [];
    let failNext = false;
    const meta = await openMetaFile(dir, {
      write: async (file, contents) => {
        if (failNext) {
          failNext = false;
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        }
        await writeFileAtomic(file, contents);
      },
      onFatal: (what, err) => {
        fatal.push(`${what}: ${(err as Error).message}`);
        throw new Error('stopped');
      },
    });
    return { meta, fatal, failOnce: () => void (failNext = true) };
  }

  it('a fence: the process stops (onFatal), and the fence in memory stays the durable one', async () => {
    const m = await failingMeta();
    const store = createCatalogStoreWith(new MemoryLedger(), m.meta);
    expect(await store.fence(3)).toBe(3);
    m.failOnce();
    await expect(store.fence(5)).rejects.toThrow('stopped');
    expect(m.fatal).toHaveLength(1);
    expect(m.fatal[0]).toMatch(/meta\.json: ENOSPC/);
    expect(store.pending().fenceEpoch).toBe(3);
    expect(m.meta.load().fenceEpoch).toBe(3);
    // Epoch 4 is not refused on the strength of a fence that never reached the disk.
    await expect(
      store.purchase({ name: 'Tux', quantity: 1, key: 'k', epoch: 4 }),
    ).resolves.toMatchObject({ name: 'Tux' });
  });

  it('a reconcile: accountedBelowSeq in memory and on disk stays where it was', async () => {
    const m = await failingMeta();
    const store = createCatalogStoreWith(new MemoryLedger(), m.meta);
    await store.purchase({ name: 'Tux', quantity: 1, key: 'k', epoch: 1 });
    m.failOnce();
    await expect(
      store.reconcile({ epoch: 1, committed: pendingRefs(store), release: [] }),
    ).rejects.toThrow('stopped');
    expect(m.fatal).toHaveLength(1);
    expect(m.meta.load().accountedBelowSeq).toBe(0);
    await expect(fs.readFile(path.join(dir, META_FILE), 'utf8')).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('two fences at once are answered only once the higher is durable, and the last save holds both changes', async () => {
    const m = await failingMeta();
    const store = createCatalogStoreWith(new MemoryLedger(), m.meta);
    await store.purchase({ name: 'Tux', quantity: 1, key: 'k', epoch: 1 });
    const [a, b, r] = await Promise.all([
      store.fence(4),
      store.fence(6),
      store.reconcile({ epoch: 6, committed: pendingRefs(store), release: [] }),
    ]);
    expect([a, b, r.pending]).toEqual([4, 6, 0]);
    expect(JSON.parse(await fs.readFile(path.join(dir, META_FILE), 'utf8'))).toEqual({
      fenceEpoch: 6,
      accountedBelowSeq: 1,
    });
  });
});
