/**
 * The shared safety invariants (scripts/lib/invariants): each check catches its violation, names
 * the offending record, and says nothing about good logs.
 */
import { describe, expect, it } from 'vitest';
import type { OrderEntry } from '../../shared/contracts.ts';
import { signEntry } from '../../order/log.ts';
import {
  checkAcknowledged,
  checkConvergedCluster,
  checkLogWellFormed,
  checkLogsAgree,
  checkUniqueKeys,
  type Acknowledged,
} from '../../scripts/lib/invariants/index.ts';

type Spec = { index?: number; epoch?: number; name?: string; quantity?: number; key?: string };

/**
 * Builds a correctly chained log from per-record overrides (defaults: index = position, epoch 1).
 */
function chain(specs: Spec[]): OrderEntry[] {
  const out: OrderEntry[] = [];
  let crc = 0;
  specs.forEach((s, i) => {
    const e = signEntry(crc, {
      index: s.index ?? i,
      epoch: s.epoch ?? 1,
      name: s.name ?? 'Tux',
      quantity: s.quantity ?? 1,
      key: s.key ?? `k-${i}`,
    });
    out.push(e);
    crc = e.crc;
  });
  return out;
}

/**
 * A well-formed log of `n` orders; from index `forkAt` on its keys differ (so its records, and
 * crcs, do too).
 */
const good = (n: number, tag = 'k', forkAt = 0) =>
  chain(
    Array.from({ length: n }, (_, i) => ({
      key: `${i < forkAt ? 'k' : tag}-${i}`,
      epoch: 1 + Math.floor(i / 3),
      quantity: 1 + (i % 4),
    })),
  );
const kinds = (vs: { kind: string }[]) => vs.map((v) => v.kind);

describe('checkLogWellFormed', () => {
  it('reports nothing for a good log or an empty one', () => {
    expect(checkLogWellFormed('r1', good(10))).toEqual([]);
    expect(checkLogWellFormed('r1', [])).toEqual([]);
  });

  it('catches a gap in the order numbers', () => {
    const log = chain([{ index: 0 }, { index: 1 }, { index: 3 }, { index: 4 }]);
    const v = checkLogWellFormed('r1', log);
    expect(kinds(v)).toContain('gap');
    expect(v.find((x) => x.kind === 'gap')!.message).toMatch(/r1: record 2 has order number 3/);
    expect(kinds(v).filter((k) => k !== 'gap')).toEqual([]);
  });

  it('catches a repeated order number', () => {
    const v = checkLogWellFormed('r1', chain([{ index: 0 }, { index: 0 }]));
    expect(kinds(v)).toEqual(['gap']);
  });

  it('catches a broken checksum and names the record', () => {
    const log = good(4).map((e) => ({ ...e }));
    log[1]!.quantity += 1; // content changed, crc kept
    const v = checkLogWellFormed('r2', log);
    expect(kinds(v)).toEqual(['checksum']);
    expect(v[0]!.message).toMatch(/r2: record 1/);
  });

  it('catches a record that does not chain to its predecessor', () => {
    const log = good(3);
    // A record signed as if it were first: valid on its own, but not chained.
    log[1] = signEntry(0, { index: 1, epoch: 1, name: 'Tux', quantity: 1, key: 'k-1' });
    expect(kinds(checkLogWellFormed('r1', log))).toContain('checksum');
  });

  it('catches an epoch going down', () => {
    const log = chain([{ epoch: 1 }, { epoch: 3 }, { epoch: 2 }, { epoch: 3 }]);
    const v = checkLogWellFormed('r1', log);
    expect(kinds(v)).toEqual(['epoch-order']);
    expect(v[0]!.message).toMatch(/record 2 has epoch 2 after epoch 3/);
  });

  it('an epoch dip is measured against the highest epoch so far', () => {
    const log = chain([{ epoch: 4 }, { epoch: 2 }, { epoch: 3 }]);
    expect(kinds(checkLogWellFormed('r1', log))).toEqual(['epoch-order', 'epoch-order']);
  });
});

describe('checkUniqueKeys', () => {
  it('reports nothing when every key is used once', () => {
    expect(checkUniqueKeys('r1', good(6))).toEqual([]);
  });

  it('catches a duplicate key and names both orders', () => {
    const log = chain([{ key: 'a' }, { key: 'b' }, { key: 'a' }]);
    const v = checkUniqueKeys('r1', log);
    expect(kinds(v)).toEqual(['duplicate-key']);
    expect(v[0]!.message).toMatch(/key a is both order 0 and order 2/);
  });
});

describe('checkLogsAgree', () => {
  it('reports nothing for identical logs', () => {
    const log = good(5);
    expect(
      checkLogsAgree(
        new Map([
          ['r1', log],
          ['r2', [...log]],
          ['r3', [...log]],
        ]),
      ),
    ).toEqual([]);
  });

  it('catches two logs that differ at an index, naming it', () => {
    const a = good(5);
    const b = good(5, 'other', 3);
    // b shares a's first 3 records (same content → same crc) and then differs.
    expect(b.slice(0, 3)).toEqual(a.slice(0, 3));
    const v = checkLogsAgree(
      new Map([
        ['r1', a],
        ['r2', b],
      ]),
    );
    expect(kinds(v)).toEqual(['divergence']);
    expect(v[0]!.message).toMatch(/r2 and r1 differ at order 3/);
  });

  it('catches different lengths after convergence', () => {
    const a = good(5);
    const v = checkLogsAgree(
      new Map([
        ['r1', a],
        ['r2', a.slice(0, 4)],
      ]),
    );
    expect(kinds(v)).toEqual(['divergence']);
    expect(v[0]!.message).toMatch(/r2 has 4 orders, r1 has 5/);
  });

  it('up to a committed prefix, a shorter log or a differing uncommitted suffix is fine', () => {
    const a = good(5);
    const b = good(5, 'x', 3);
    expect(
      checkLogsAgree(
        new Map([
          ['r1', a],
          ['r2', b],
          ['r3', a.slice(0, 2)],
        ]),
        2,
      ),
    ).toEqual([]);
    expect(
      kinds(
        checkLogsAgree(
          new Map([
            ['r1', a],
            ['r2', b],
          ]),
          3,
        ),
      ),
    ).toEqual(['divergence']);
  });

  it('compares every log with the first, not just the first two', () => {
    const a = good(4);
    const c = good(4, 'c');
    expect(
      kinds(
        checkLogsAgree(
          new Map([
            ['r1', a],
            ['r2', a],
            ['r3', c],
          ]),
        ),
      ),
    ).toEqual(['divergence']);
  });
});

describe('checkAcknowledged', () => {
  const log = chain([
    { name: 'Tux', quantity: 2 },
    { name: 'Lego', quantity: 1 },
    { name: 'Tux', quantity: 5 },
  ]);

  it('reports nothing when every acknowledged order is there as told', () => {
    const acked: Acknowledged[] = [
      { orderNumber: 0, name: 'Tux', quantity: 2 },
      { orderNumber: 2, name: 'Tux', quantity: 5 },
    ];
    expect(checkAcknowledged('r1', log, acked)).toEqual([]);
  });

  it('catches an acknowledged order that is missing', () => {
    const v = checkAcknowledged('r1', log, [{ orderNumber: 3, name: 'Tux', quantity: 1 }]);
    expect(kinds(v)).toEqual(['lost']);
    expect(v[0]!.message).toMatch(/acknowledged order 3 is missing/);
  });

  it('catches an acknowledged order with different content', () => {
    expect(
      kinds(checkAcknowledged('r1', log, [{ orderNumber: 1, name: 'Tux', quantity: 1 }])),
    ).toEqual(['wrong-content']);
    expect(
      kinds(checkAcknowledged('r1', log, [{ orderNumber: 1, name: 'Lego', quantity: 3 }])),
    ).toEqual(['wrong-content']);
  });
});

describe('checkConvergedCluster', () => {
  it('reports nothing for a good converged cluster', () => {
    const log = good(6);
    const acked = log.map((e) => ({ orderNumber: e.index, name: e.name, quantity: e.quantity }));
    expect(
      checkConvergedCluster(
        new Map([
          ['r1', log],
          ['r2', [...log]],
          ['r3', [...log]],
        ]),
        acked,
      ),
    ).toEqual([]);
  });

  it('collects violations of every kind from every replica', () => {
    const a = chain([{ key: 'a' }, { key: 'a' }]);
    const b = a.slice(0, 1);
    const v = checkConvergedCluster(
      new Map([
        ['r1', a],
        ['r2', b],
      ]),
      [{ orderNumber: 1, name: 'Tux', quantity: 1 }],
    );
    expect(kinds(v).sort()).toEqual(['divergence', 'duplicate-key', 'lost']);
    expect(v.find((x) => x.kind === 'lost')!.message).toMatch(/^r2:/);
  });
});
