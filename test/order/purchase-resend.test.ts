/**
 * When the catalog's answer to a purchase batch is lost, the leader sends the batch again within
 * the same timeout (order/peers.ts), and the catalog's per-key outcomes make the re-send safe:
 * one decrement, the first outcome. Sim seed 379 found the wait without it (an order held 3 s
 * behind one lost reply).
 */
import { describe, expect, it } from 'vitest';
import { createCatalogApp } from '../../catalog/app.ts';
import { createMemoryCatalogStore } from '../../catalog/store.ts';
import { createBatchingCatalogPurchaser } from '../../order/peers.ts';
import { createInProcessNetwork, NetworkError, type HttpClient } from '../../shared/http.ts';

const CATALOG = 'http://catalog.test';

function setup(fail: (call: number) => 'lose-reply' | 'refuse' | null) {
  const store = createMemoryCatalogStore();
  const net = createInProcessNetwork();
  net.register(CATALOG, createCatalogApp({ store }).fetch);
  let calls = 0;
  const http: HttpClient = async (req) => {
    const call = ++calls;
    const what = fail(call);
    if (what === 'refuse') throw new NetworkError('refused', req.url);
    const res = await net.http(req);
    if (what === 'lose-reply') throw new NetworkError('timeout', req.url);
    return res;
  };
  const purchaser = createBatchingCatalogPurchaser(http, CATALOG, 3_000);
  return { store, purchaser, calls: () => calls };
}

describe('when the catalog’s answer to a purchase is lost', () => {
  it('the batch is sent again and the order gets the first outcome, with one decrement', async () => {
    const s = setup((call) => (call === 1 ? 'lose-reply' : null));
    const before = s.store.get('Tux')!.quantity;
    const result = await s.purchaser.purchase({ name: 'Tux', quantity: 2, key: 'k', epoch: 1 });
    expect(result).toEqual({ name: 'Tux', quantity: before - 2 });
    expect(s.calls()).toBe(2);
    expect(s.store.get('Tux')!.quantity).toBe(before - 2);
  });

  it('it stops after three sends and the order’s outcome is unknown (a timeout)', async () => {
    const s = setup(() => 'lose-reply');
    await expect(
      s.purchaser.purchase({ name: 'Tux', quantity: 1, key: 'k', epoch: 1 }),
    ).rejects.toMatchObject({ kind: 'timeout' });
    expect(s.calls()).toBe(3);
  });

  it('a refused connection is not a lost answer: no re-send', async () => {
    const s = setup(() => 'refuse');
    await expect(
      s.purchaser.purchase({ name: 'Tux', quantity: 1, key: 'k', epoch: 1 }),
    ).rejects.toMatchObject({ kind: 'refused' });
    expect(s.calls()).toBe(1);
  });
});
