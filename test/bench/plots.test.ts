/**
 * What a person sees in the plots, checked on the rendered SVG and on the spec: each target is a
 * rule at its threshold next to its anchor, and the catch-up plot has its colour legend, draws
 * its target, and never joins points of different bases (what the lagging replica still had).
 */
import { describe, expect, it } from 'vitest';
import type { TopLevelSpec } from 'vega-lite';
import { catchUpSpec, renderSvg, targetsSpec } from '../../scripts/lib/bench/plots.ts';
import { evaluateTargets, GOALS } from '../../scripts/lib/bench/targets.ts';
import type { BenchResults } from '../../scripts/lib/bench/results.ts';
import { catchUpRow, comparison, measured, pair, side, withEtcd } from './fixtures.ts';

function results(): BenchResults {
  const m = measured({
    durable: {
      etcd: withEtcd,
      concurrent: comparison(
        32,
        side(700, 46, { frontend: 0.4, catalog: 0.3 }),
        side(1900, 16, { 'etcd-1': 0.1 }),
      ),
      single: comparison(1, side(300, 3.2, {}), side(800, 1.1, {})),
    },
    throughput: [
      pair('cached', 16_000, 62_000),
      pair('cached-warn', 37_000, 62_000, 'warn'),
      pair('uncached', 10_000, 17_000),
      pair('order-reads', 9_000, 15_000),
      pair('orders-chain', 1_400, 10_000),
    ],
  });
  return { ...m, targets: evaluateTargets(m) };
}

/** The rules' y values drawn in each panel, from the spec. */
function rules(spec: TopLevelSpec): number[] {
  const rows = (
    spec as unknown as {
      vconcat: Array<{
        hconcat: Array<{
          layer: Array<{ mark: { type: string }; data?: { values: Array<{ value: number }> } }>;
        }>;
      }>;
    }
  ).vconcat;
  return rows.flatMap((r) =>
    r.hconcat.flatMap((p) =>
      p.layer.filter((l) => l.mark.type === 'rule').map((l) => l.data!.values[0]!.value),
    ),
  );
}

describe('the targets plot', () => {
  it('draws every target as a rule at its threshold, scaled by the anchor of the same run', () => {
    const spec = targetsSpec(results(), 'test')!;
    expect(rules(spec)).toEqual([
      1900 * GOALS.durableVsEtcd,
      1.1 * GOALS.orderP50VsEtcd,
      GOALS.cpuPerOrderMs,
      62_000 * GOALS.cachedGet,
      17_000 * GOALS.uncachedGet,
      15_000 * GOALS.orderReads,
    ]);
  });

  it('shows each anchor and each verdict', async () => {
    const svg = await renderSvg(targetsSpec(results(), 'test')!);
    for (const text of [
      'etcd',
      '1,900 puts/s',
      'bare Hono',
      'bare two-hop',
      'bare three-hop chain',
      'MISS: 36.8 % of etcd',
      'target ≥ 1.0x etcd',
      'toystore (warn)',
    ])
      expect(svg).toContain(text);
  });

  it('without etcd, the durable panels show the store alone and no rule they cannot place', () => {
    const m = measured({
      durable: {
        etcd: { available: false, reason: 'etcd is not installed' },
        concurrent: comparison(32, side(700, 46, { frontend: 0.4 }), null),
      },
    });
    const spec = targetsSpec({ ...m, targets: evaluateTargets(m) }, 'test')!;
    expect(rules(spec)).toEqual([GOALS.cpuPerOrderMs]);
  });
});

describe('the catch-up plot', () => {
  const rows = [
    catchUpRow(2_000, 1_000, 400),
    catchUpRow(11_000, 1_000, 500),
    catchUpRow(101_000, 1_000, 900),
    catchUpRow(101_000, 100_000, 700),
    catchUpRow(110_000, 100_000, 800),
  ];

  it('never joins points of different bases: every line is one base and one phase', () => {
    const spec = catchUpSpec(rows, 'test') as unknown as {
      layer: Array<{
        data: { values: Array<{ base: string; phase: string; series: string }> };
        encoding: { detail: { field: string } };
      }>;
    };
    const line = spec.layer[0]!;
    expect(line.encoding.detail.field).toBe('series');
    const bases = new Map<string, Set<string>>();
    for (const v of line.data.values)
      bases.set(v.series, (bases.get(v.series) ?? new Set()).add(`${v.base}|${v.phase}`));
    expect([...bases.values()].every((s) => s.size === 1)).toBe(true);
    expect(bases.size).toBe(4); // 2 bases x 2 phases
  });

  it('has its colour legend and its shape legend, untruncated, and draws the target as a rule it explains', async () => {
    // Points carry no text labels, so these strings can only come from the legends and the title.
    const svg = await renderSvg(catchUpSpec(rows, 'test'));
    for (const text of [
      'spawn to identical log',
      'listening to identical log',
      "lagging replica's log",
      'had 1,000',
      'had 100,000',
      `dashed line: the target, 100k missed &lt; ${GOALS.catchUp100kMs} ms`,
    ])
      expect(svg).toContain(text);
    expect(svg).not.toContain('…');
    const layers = (
      catchUpSpec(rows, 'test') as unknown as {
        layer: Array<{ mark: { type: string } | string; data: { values: Array<{ ms: number }> } }>;
      }
    ).layer;
    expect(
      layers
        .filter((l) => typeof l.mark === 'object' && l.mark.type === 'rule')
        .map((l) => l.data.values[0]!.ms),
    ).toEqual([GOALS.catchUp100kMs]);
  });

  it('says which runtime the replicas ran from, as the table does', async () => {
    expect(await renderSvg(catchUpSpec(rows, 'test'))).toContain(
      'replicas ran from the production build (plain node)',
    );
    const tsxRows = [catchUpRow(101_000, 1_000, 900, 'tsx')];
    expect(await renderSvg(catchUpSpec(tsxRows, 'test'))).toContain('replicas ran from tsx');
  });
});
