/**
 * The catalog store's change sequence, which the invalidation feed and the frontends rely on:
 * it is the ledger's last durable seq, each durable batch is announced (with the toys whose stock
 * it changed) in the same step that makes it readable, and it continues across a restart.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileCatalogStore, type DurableChange } from '../../catalog/store.ts';
import { makeTempDir, removeDir } from './helpers.ts';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

describe('the change sequence', () => {
  it('is announced per durable batch, readable by then, with no names for a refusal, and survives a restart', async () => {
    const store = await openFileCatalogStore(dir);
    expect(store.changeSeq()).toBe(-1);
    const heard: Array<DurableChange & { readable: number[] }> = [];
    store.onDurable((c) =>
      heard.push({ ...c, readable: c.names.map((n) => store.get(n)!.quantity) }),
    );

    await store.purchase({ name: 'Tux', quantity: 3, key: 'a', epoch: 1 });
    await expect(
      store.purchase({ name: 'Lego', quantity: 500, key: 'b', epoch: 1 }),
    ).rejects.toMatchObject({ status: 409 });
    await store.purchase({ name: 'Lego', quantity: 100, key: 'c', epoch: 1 });
    expect(await store.restockEmpty()).toEqual(['Lego']);
    expect(heard).toEqual([
      { seq: 0, names: ['Tux'], readable: [97] },
      { seq: 1, names: [], readable: [] },
      { seq: 2, names: ['Lego'], readable: [0] },
      { seq: 3, names: ['Lego'], readable: [100] },
    ]);
    expect(store.changeSeq()).toBe(3);
    await store.close();

    const reopened = await openFileCatalogStore(dir);
    expect(reopened.changeSeq()).toBe(3);
    await reopened.close();
  });

  it('a listener that throws changes nothing for the write or for other listeners', async () => {
    const store = await openFileCatalogStore(dir);
    const seen: number[] = [];
    store.onDurable(() => {
      throw new Error('listener bug');
    });
    const stop = store.onDurable((c) => seen.push(c.seq));
    await expect(store.purchase({ name: 'Tux', quantity: 1, key: 'a', epoch: 1 })).resolves.toEqual(
      { name: 'Tux', quantity: 99 },
    );
    stop();
    await store.purchase({ name: 'Tux', quantity: 1, key: 'b', epoch: 1 });
    expect(seen).toEqual([0]);
    await store.close();
  });
});
