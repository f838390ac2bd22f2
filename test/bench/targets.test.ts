/**
 * The targets of issue 12, judged from a run's figures: PASS and MISS at each threshold, and "not
 * measured" (never a pass) whenever one side of a comparison is missing: etcd not installed, a
 * scenario not run, the services at a log level the target is not about.
 */
import { describe, expect, it } from 'vitest';
import {
  evaluateTargets,
  formatTargets,
  GOALS,
  type TargetId,
} from '../../scripts/lib/bench/targets.ts';
import { renderMarkdown } from '../../scripts/lib/bench/markdown.ts';
import type { MeasuredResults } from '../../scripts/lib/bench/results.ts';
import { catchUpRow, comparison, measured, pair, side, withEtcd } from './fixtures.ts';

const judge = (r: MeasuredResults, id: TargetId) => evaluateTargets(r).find((t) => t.id === id)!;

describe('durable writes against etcd', () => {
  it('when etcd is not installed, both etcd targets are not measured, say why, and still show the store figure', () => {
    const r = measured({
      durable: {
        etcd: { available: false, reason: 'etcd is not installed (no etcd on PATH, no ETCD_BIN)' },
        concurrent: comparison(32, side(700, 46, { frontend: 0.4 }), null),
        single: comparison(1, side(300, 3.2, {}), null),
      },
    });
    for (const id of ['durable-throughput', 'order-latency'] as const) {
      const t = judge(r, id);
      expect(t.pass).toBeNull();
      expect(t.measured).toMatch(
        /^not measured: etcd is not installed.*apt-get install etcd-server/,
      );
    }
    expect(judge(r, 'durable-throughput').measured).toContain('toystore 700 orders/s');
    expect(formatTargets(evaluateTargets(r))).not.toMatch(/^PASS\s+durable/m);
  });

  it('passes at 1.0x etcd puts/s and misses just under it', () => {
    const at = (store: number) =>
      judge(
        measured({
          durable: {
            etcd: withEtcd,
            concurrent: comparison(32, side(store, 10, {}), side(2000, 10, {})),
          },
        }),
        'durable-throughput',
      );
    expect(at(2000).pass).toBe(true);
    expect(at(1990).pass).toBe(false);
    expect(at(1990).measured).toMatch(/99\.5 % \(1990 orders\/s vs 2000 puts\/s/);
  });

  it('judges the 1-client p50 against 1.5x etcd put p50', () => {
    const at = (p50: number) =>
      judge(
        measured({
          durable: {
            etcd: withEtcd,
            single: comparison(1, side(500, p50, {}), side(800, 1.2, {})),
          },
        }),
        'order-latency',
      );
    expect(at(1.8).pass).toBe(true);
    expect(at(1.9).pass).toBe(false);
  });

  it("shows the shape's floor (the bare three-hop chain, same client) beside both etcd targets and in results.md", () => {
    const concurrent = comparison(32, side(900, 30, {}), side(2000, 15, {}));
    const single = comparison(1, side(130, 7, {}), side(500, 2, {}));
    const r = measured({
      durable: {
        etcd: withEtcd,
        concurrent: { ...concurrent, chain: side(1800, 17, {}) },
        single: { ...single, chain: side(1000, 1, {}) },
      },
    });
    expect(judge(r, 'durable-throughput').measured).toMatch(
      /; bare three-hop chain \(no disk, no store logic\) 1800\/s \(p50 17 ms\) = 90\.0 % of etcd$/,
    );
    expect(judge(r, 'order-latency').measured).toMatch(/1000\/s \(p50 1 ms\), 0\.5x etcd's p50$/);
    const md = renderMarkdown({ ...r, targets: evaluateTargets(r) });
    expect(md).toMatch(/\| bare three-hop chain req\/s \|/);
    expect(md).toMatch(/\| 1800 \(p50 17, p99 51\) \|/);
    // A results file from before the chain was measured still renders.
    const old = measured({ durable: { etcd: withEtcd, concurrent } });
    expect(renderMarkdown({ ...old, targets: evaluateTargets(old) })).toMatch(/\| not measured \|/);
  });

  it('CPU per durable order adds every process and lists each', () => {
    const t = judge(
      measured({
        durable: {
          etcd: withEtcd,
          concurrent: comparison(
            32,
            side(900, 9, { frontend: 0.1, 'order-3': 0.12, catalog: 0.09 }),
            side(2000, 10, {}),
          ),
        },
      }),
      'cpu-per-order',
    );
    expect(t.value).toBeCloseTo(0.31);
    expect(t.pass).toBe(false);
    expect(t.measured).toMatch(/^0\.310 ms \(frontend 0\.100, order-3 0\.120, catalog 0\.090\)/);
  });
});

describe('reads against the bare servers', () => {
  it('the cached GET target is about the default log level: a run at warn does not count', () => {
    const atWarn = judge(
      measured({ throughput: [pair('cached', 60_000, 62_000, 'warn')] }),
      'cached-get',
    );
    expect(atWarn.pass).toBeNull();
    expect(atWarn.measured).toMatch(/LOG_LEVEL=warn, the target is at info/);
    expect(
      judge(measured({ throughput: [pair('cached', 53_000, 62_000)] }), 'cached-get').pass,
    ).toBe(true);
    expect(
      judge(measured({ throughput: [pair('cached', 52_000, 62_000)] }), 'cached-get').pass,
    ).toBe(false);
  });

  it('uncached GET and order reads are judged at 90 % of their two-hops', () => {
    const r = measured({
      throughput: [pair('uncached', 9_000, 10_000), pair('order-reads', 8_900, 10_000)],
    });
    expect(judge(r, 'uncached-get').pass).toBe(true);
    expect(judge(r, 'order-reads').pass).toBe(false);
  });
});

describe('the rest', () => {
  it('1000 clients miss on a wide tail even with no errors', () => {
    const many = (p50: number, p99: number) =>
      measured({
        manyClients: {
          connections: 1000,
          result: {
            ...pair('cached', 1, 1).rounds[0]!.store,
            latencyP50Ms: p50,
            latencyP99Ms: p99,
          },
        },
      });
    expect(judge(many(100, 1000), 'many-clients').pass).toBe(true);
    expect(judge(many(100, 1001), 'many-clients').pass).toBe(false);
  });

  it('catch-up is judged on 100k missed, spawn to identical, under 1 s', () => {
    const r = measured({
      catchUp: [
        catchUpRow(101_000, 100_000, 200),
        catchUpRow(101_000, 1_000, GOALS.catchUp100kMs + 1),
      ],
    });
    expect(judge(r, 'catch-up').pass).toBe(false);
    expect(judge(r, 'catch-up').measured).toMatch(/lagging replica had 1000/);
  });

  it('catch-up says what it ran on: the production build, or tsx when the build failed', () => {
    const onBuild = measured({ catchUp: [catchUpRow(101_000, 1_000, 600)] });
    expect(judge(onBuild, 'catch-up').measured).toMatch(/; production build, node\)$/);
    expect(judge(onBuild, 'catch-up').pass).toBe(true);
    // The fallback is judged on what ran, and labelled.
    const fellBack = measured({
      catchUp: [{ ...catchUpRow(101_000, 1_000, 600, 'tsx'), buildError: 'tsc failed (exit 2):' }],
    });
    expect(judge(fellBack, 'catch-up').measured).toMatch(/; tsx, the production build failed\)$/);
    expect(judge(fellBack, 'catch-up').pass).toBe(true);
  });

  it('start-up is judged on the 1M-order log, to /health under 1.5 s', () => {
    const s = (healthMs: number) =>
      measured({
        startup: [
          {
            runtime: 'tsx',
            logOrders: 1_000_000,
            logMiB: 60,
            listeningMs: healthMs - 5,
            healthMs,
            rss: null,
          },
        ],
      });
    expect(judge(s(1499), 'startup').pass).toBe(true);
    expect(judge(s(1500), 'startup').pass).toBe(false);
  });

  it('start-up is judged on the production build when both runtimes ran, and says both', () => {
    const row = (runtime: 'tsx' | 'node', healthMs: number) => ({
      runtime,
      logOrders: 1_000_000,
      logMiB: 60,
      listeningMs: healthMs - 5,
      healthMs,
      rss: null,
    });
    const r = measured({ startup: [row('tsx', 2400), row('node', 1200)] });
    expect(judge(r, 'startup').pass).toBe(true);
    expect(judge(r, 'startup').measured).toMatch(
      /1200 ms to \/health .*production build; under tsx 2400 ms/,
    );
    expect(
      judge(measured({ startup: [row('tsx', 1200), row('node', 1600)] }), 'startup').pass,
    ).toBe(false);
  });

  it('a run that measured nothing passes nothing', () => {
    expect(
      evaluateTargets(measured()).every(
        (t) => t.pass === null && t.measured.startsWith('not measured'),
      ),
    ).toBe(true);
  });
});
