/**
 * The tools' one seeded generator (scripts/lib/rng): a seed recorded by a client, chaos or
 * simulator run must replay the same draws, whichever of them recorded it.
 */
import { describe, expect, it } from 'vitest';
import { mulberry32, Rng } from '../../scripts/lib/rng/rng.ts';

describe('the seeded generator', () => {
  it('replays the draws a seed gave before the generators were merged', () => {
    const r = mulberry32(42);
    expect([r(), r(), r()]).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
  });

  it('is one stream whether drawn as a function or through Rng', () => {
    const f = mulberry32(7);
    const g = new Rng(7);
    for (let i = 0; i < 100; i++) expect(g.next()).toBe(f());
  });

  it('keeps its helpers inside their ranges, and forks streams that do not shift the parent', () => {
    const r = new Rng(1);
    for (let i = 0; i < 1_000; i++) {
      const n = r.int(3, 5);
      expect(n >= 3 && n <= 5 && Number.isInteger(n)).toBe(true);
    }
    expect(() => r.pick([])).toThrow(/empty/);
    expect(r.chance(0)).toBe(false);
    const a = new Rng(9);
    const b = new Rng(9);
    a.fork().next();
    b.fork();
    expect(a.next()).toBe(b.next());
    const counts = { x: 0, y: 0 };
    for (let i = 0; i < 1_000; i++) counts[r.weighted({ x: 1, y: 0 })]++;
    expect(counts).toEqual({ x: 1_000, y: 0 });
  });
});
