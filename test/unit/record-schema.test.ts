/**
 * The order record's two checks (shared/record-schema.ts) accept exactly the same pages: the plain
 * field check that replication uses first, and zod, which names the error. A forged or damaged
 * page must not get through the fast path that zod would have refused, and a good page must not
 * be refused by it.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppendRequestSchema, OrderEntrySchema, parseWith } from '../../shared/contracts.ts';
import { Rng } from '../../scripts/lib/rng/rng.ts';

const good = (i: number) => ({
  index: i,
  epoch: 3,
  name: 'Tux',
  quantity: 2,
  key: `k-${i}`,
  crc: 1234567 + i,
});

/** Values a hostile or buggy peer could put in a field. */
const HOSTILE: unknown[] = [
  -1,
  1.5,
  2 ** 53,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  '7',
  '',
  'a\nb',
  'has space',
  'x'.repeat(256),
  null,
  undefined,
  true,
  {},
  [],
  0,
  10_001,
  2 ** 32,
];

function mutate(rng: Rng, page: Record<string, unknown>[]): unknown {
  const copy = page.map((e) => ({ ...e }));
  const e = copy[rng.int(0, copy.length - 1)]!;
  const field = rng.pick(Object.keys(e));
  switch (rng.int(0, 3)) {
    case 0:
      e[field] = rng.pick(HOSTILE);
      break;
    case 1:
      delete e[field];
      break;
    case 2:
      e.extra = 'dropped by both';
      break;
    default:
      copy[rng.int(0, copy.length - 1)] = rng.pick(HOSTILE) as Record<string, unknown>;
  }
  return copy;
}

const slow = z.array(OrderEntrySchema);
const outcome = (schema: z.ZodTypeAny, entries: unknown) => {
  try {
    return { ok: true, value: parseWith(schema, entries) };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
};
const appendOf = (entries: unknown) => ({
  epoch: 3,
  leaderId: 1,
  prevIndex: -1,
  prevCrc: 0,
  entries,
  commitIndex: -1,
  viewStartIndex: -1,
  leaderLastIndex: -1,
  established: true,
});

describe('a page of order records', () => {
  it('is accepted or refused by the fast check exactly as zod does, with the same first error', () => {
    const rng = new Rng(20261201);
    let refused = 0;
    for (let trial = 0; trial < 3_000; trial++) {
      const page = Array.from({ length: rng.int(1, 5) }, (_, i) => good(i));
      const entries = trial % 4 === 0 ? page : mutate(rng, page);
      const viaAppend = outcome(AppendRequestSchema, appendOf(entries));
      const viaZod = outcome(z.object({ entries: slow }), { entries });
      const fast = viaAppend.ok
        ? { ok: true, value: { entries: (viaAppend.value as { entries: unknown }).entries } }
        : viaAppend;
      expect(fast, JSON.stringify(entries)).toEqual(viaZod);
      if (!viaZod.ok) refused++;
    }
    // The mutations did reach both sides: most mutated pages are refused.
    expect(refused).toBeGreaterThan(1_500);
  });

  it('a missing page is "entries is required", a page beyond the bound is refused', () => {
    const { entries: _e, ...noEntries } = appendOf([]);
    expect(() => parseWith(AppendRequestSchema, noEntries)).toThrow('entries is required');
    const big = Array.from({ length: 100_001 }, (_, i) => good(i));
    expect(() => parseWith(AppendRequestSchema, appendOf(big))).toThrow(/entries/);
  });
});
