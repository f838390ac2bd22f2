/**
 * The series metrics (shared/metrics.ts) stand in for prom-client's Counter and Histogram on the
 * request path, so a scraper must not tell them apart: after the same observations, a registry
 * holding them prints, line for line, what one holding prom-client's own prints (plain and
 * OpenMetrics, with and without default labels), and answers `getMetricsAsJSON()` and
 * `resetMetrics()` the same way. Besides: `le` is inclusive, the number of series is bounded,
 * bad input is refused where it is made.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  MAX_SERIES,
  OVERFLOW_LABEL_VALUE,
  SeriesCounter,
  SeriesHistogram,
} from '../../shared/metrics.ts';
import { httpMetrics } from '../../shared/observability.ts';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const labelNames = ['method', 'route', 'status'] as const;
type Labels = { method: string; route: string; status: string | number };

/** A counter and a histogram, either prom-client's or ours, recording through children/handles. */
interface Pair {
  registry: Registry;
  record(labels: Labels, seconds: number): void;
}

/** The same two metrics for both sides of each comparison (help texts that need escaping). */
const COUNTER = { name: 'x_requests_total', help: 'Requests', labelNames };
const HISTOGRAM = {
  name: 'x_duration_seconds',
  help: 'Time "taken"\nper request \\ in seconds',
  buckets: BUCKETS,
  labelNames,
};

function promPair(registry: Registry): Pair {
  const counter = new Counter({ ...COUNTER, registers: [registry] });
  const histogram = new Histogram({ ...HISTOGRAM, registers: [registry] });
  return {
    registry,
    record(labels, seconds) {
      counter.labels(labels).inc();
      histogram.labels(labels).observe(seconds);
    },
  };
}

function seriesPair(registry: Registry): Pair {
  const counter = new SeriesCounter({ ...COUNTER, registry });
  const histogram = new SeriesHistogram({ ...HISTOGRAM, registry });
  return {
    registry,
    // Resolved again on each call here; the request path resolves once and keeps the handles.
    record(labels, seconds) {
      counter.series(labels).inc();
      histogram.series(labels).observe(seconds);
    },
  };
}

const GET = { method: 'GET', route: '/products/:name', status: 200 };
const MISS = { method: 'GET', route: '/products/:name', status: 404 };
const ODD = { method: 'POST', route: 'a "quoted" \\ route\nwith a newline', status: '503' };

/** Values below, on and between bounds, above the last, zero and negative: every branch. */
const OBSERVATIONS: Array<[Labels, number]> = [
  [GET, 0.0004],
  [GET, 0.001],
  [MISS, 0.0025],
  [GET, 0.0031],
  [ODD, 12],
  [GET, 10],
  [MISS, 0],
  [ODD, -0.5],
  [GET, 0.1 + 0.2],
  [MISS, 7.25],
  [GET, 0.0004],
];

function bothAfter(observations: Array<[Labels, number]>, make: () => Registry) {
  const prom = promPair(make());
  const ours = seriesPair(make());
  for (const [labels, seconds] of observations) {
    prom.record(labels, seconds);
    ours.record(labels, seconds);
  }
  return { prom: prom.registry, ours: ours.registry };
}

const lines = async (registry: Registry) => (await registry.metrics()).split('\n');

describe('a series counter and histogram, scraped', () => {
  const registries: Array<[string, () => Registry]> = [
    ['Prometheus text', () => new Registry()],
    [
      'Prometheus text with default labels',
      () => {
        const r = new Registry();
        r.setDefaultLabels({ service: 'frontend' });
        return r;
      },
    ],
    [
      'OpenMetrics',
      () => {
        const r = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
        r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
        return r as unknown as Registry;
      },
    ],
  ];

  it.each(registries)(
    'print what prom-client prints for the same observations (%s)',
    async (_, make) => {
      const { prom, ours } = bothAfter(OBSERVATIONS, make);
      const expected = await lines(prom);
      // Not vacuous: every series, bucket, +Inf, _sum and _count line is there.
      expect(expected.filter((l) => l.startsWith('x_duration_seconds_bucket{'))).toHaveLength(
        3 * (BUCKETS.length + 1),
      );
      const count =
        /^x_duration_seconds_count\{.*method="GET",route="\/products\/:name",status="200"\} 6$/;
      expect(expected.filter((l) => count.test(l))).toHaveLength(1);
      expect(await lines(ours)).toEqual(expected);
    },
  );

  it('answer getMetricsAsJSON as prom-client does', async () => {
    const make = () => {
      const r = new Registry();
      r.setDefaultLabels({ service: 'frontend' });
      return r;
    };
    const { prom, ours } = bothAfter(OBSERVATIONS, make);
    // prom-client adds exemplar slots (null) to histogram samples; the rest must be equal.
    const plain = async (r: Registry) =>
      (await r.getMetricsAsJSON()).map((m) => ({
        ...m,
        values: m.values.map(({ exemplar: _, ...v }: Record<string, unknown>) => v),
      }));
    const expected = await plain(prom);
    expect(expected[1]?.values[0]).toEqual({
      value: 3,
      metricName: 'x_duration_seconds_bucket',
      labels: {
        le: 0.001,
        method: 'GET',
        route: '/products/:name',
        status: 200,
        service: 'frontend',
      },
    });
    expect(await plain(ours)).toEqual(expected);
  });

  it('after registry.resetMetrics(), print only HELP and TYPE, and the held handles count again', async () => {
    const prom = promPair(new Registry());
    const ours = seriesPair(new Registry());
    const counter = new SeriesCounter({
      registry: ours.registry,
      name: 'y_total',
      help: 'y',
      labelNames: ['toy'],
    });
    const promCounter = new Counter({
      name: 'y_total',
      help: 'y',
      labelNames: ['toy'],
      registers: [prom.registry],
    });
    const tux = counter.series({ toy: 'Tux' });
    const promTux = promCounter.labels({ toy: 'Tux' });
    for (const p of [prom, ours]) for (const [l, s] of OBSERVATIONS) p.record(l, s);
    tux.inc(3);
    promTux.inc(3);

    prom.registry.resetMetrics();
    ours.registry.resetMetrics();
    expect(await lines(ours.registry)).toEqual([
      '# HELP x_requests_total Requests',
      '# TYPE x_requests_total counter',
      '',
      '# HELP x_duration_seconds Time "taken"\\nper request \\\\ in seconds',
      '# TYPE x_duration_seconds histogram',
      '',
      '# HELP y_total y',
      '# TYPE y_total counter',
      '',
    ]);
    expect(tux.value).toBe(0);

    // Series come back in the order they are recorded again, as prom-client's do.
    for (const p of [prom, ours]) for (const [l, s] of OBSERVATIONS.slice(3)) p.record(l, s);
    tux.inc();
    promTux.inc();
    expect(tux.value).toBe(1);
    expect(await lines(ours.registry)).toEqual(await lines(prom.registry));
  });
});

describe('a series histogram’s buckets', () => {
  it('count a value exactly on a bound in that bound’s bucket (le is inclusive)', async () => {
    const registry = new Registry();
    const h = new SeriesHistogram({
      registry,
      name: 'z_seconds',
      help: 'z',
      labelNames: ['op'],
      buckets: [0.5, 1, 2],
    });
    const s = h.series({ op: 'read' });
    for (const v of [0.5, 1, 2, 2.0000001]) s.observe(v);
    const text = await registry.metrics();
    expect(text).toContain('z_seconds_bucket{le="0.5",op="read"} 1\n');
    expect(text).toContain('z_seconds_bucket{le="1",op="read"} 2\n');
    expect(text).toContain('z_seconds_bucket{le="2",op="read"} 3\n');
    expect(text).toContain('z_seconds_bucket{le="+Inf",op="read"} 4\n');
    expect(s.count).toBe(4);
    expect(s.sum).toBe(0.5 + 1 + 2 + 2.0000001);
  });

  it('are refused unless finite and strictly increasing', () => {
    const make = (buckets: number[]) => () =>
      new SeriesHistogram({
        registry: new Registry(),
        name: 'b_seconds',
        help: 'b',
        labelNames: ['op'],
        buckets,
      });
    for (const bad of [[], [1, 1], [2, 1], [1, Infinity], [Number.NaN]])
      expect(make(bad), JSON.stringify(bad)).toThrow(/strictly increasing/);
    expect(make([0.1, 1])).not.toThrow();
  });
});

describe('the number of series', () => {
  it('is bounded: past maxSeries, a new label set shares one overflow series', async () => {
    const registry = new Registry();
    const c = new SeriesCounter({
      registry,
      name: 'r_total',
      help: 'r',
      labelNames: ['route', 'status'],
      maxSeries: 2,
    });
    const a = c.series({ route: '/a', status: 200 });
    const b = c.series({ route: '/b', status: 200 });
    const x = c.series({ route: '/x', status: 500 });
    const y = c.series({ route: '/y', status: 404 });
    expect(y).toBe(x);
    // The label sets it holds keep their own series, whichever way a value is spelled.
    expect(c.series({ route: '/a', status: '200' })).toBe(a);
    a.inc();
    b.inc(2);
    x.inc();
    y.inc();
    expect((await registry.metrics()).split('\n')).toEqual([
      '# HELP r_total r',
      '# TYPE r_total counter',
      'r_total{route="/a",status="200"} 1',
      'r_total{route="/b",status="200"} 2',
      `r_total{route="${OVERFLOW_LABEL_VALUE}",status="${OVERFLOW_LABEL_VALUE}"} 2`,
      '',
    ]);
  });

  it('defaults to MAX_SERIES', () => {
    const c = new SeriesCounter({
      registry: new Registry(),
      name: 'd_total',
      help: 'd',
      labelNames: ['i'],
    });
    const handles = new Set(Array.from({ length: MAX_SERIES + 5 }, (_, i) => c.series({ i })));
    expect(handles.size).toBe(MAX_SERIES + 1);
  });
});

describe('bad input is refused where it is made', () => {
  const registry = new Registry();
  const c = new SeriesCounter({ registry, name: 'e_total', help: 'e', labelNames: ['toy'] });
  const h = new SeriesHistogram({
    registry,
    name: 'e_seconds',
    help: 'e',
    labelNames: ['toy'],
    buckets: [1],
  });

  it('a second metric of the same name in one registry', () => {
    expect(
      () => new SeriesCounter({ registry, name: 'e_total', help: 'e', labelNames: ['toy'] }),
    ).toThrow(/already been registered/);
  });

  it('an unknown or missing label, a bad name, no labels, a reserved label', () => {
    expect(() => c.series({ toy: 'Tux', colour: 'red' } as { toy: string })).toThrow(
      /unknown label colour/,
    );
    expect(() => c.series({} as { toy: string })).toThrow(/label toy missing/);
    const opts = { registry: new Registry(), help: 'f' };
    expect(() => new SeriesCounter({ ...opts, name: 'bad-name', labelNames: ['toy'] })).toThrow(
      /invalid metric name/,
    );
    expect(() => new SeriesCounter({ ...opts, name: 'f_total', labelNames: [] })).toThrow(
      /needs labels/,
    );
    expect(
      () => new SeriesHistogram({ ...opts, name: 'f_seconds', labelNames: ['le'], buckets: [1] }),
    ).toThrow(/invalid label name le/);
  });

  it('a negative or non-finite increment, a non-finite observation; nothing is recorded', async () => {
    const tux = c.series({ toy: 'Tux' });
    const lego = h.series({ toy: 'Lego' });
    for (const by of [-1, Number.NaN, Infinity]) expect(() => tux.inc(by)).toThrow(TypeError);
    for (const v of [Number.NaN, Infinity, -Infinity])
      expect(() => lego.observe(v)).toThrow(TypeError);
    expect(tux.value).toBe(0);
    expect(lego.count).toBe(0);
    expect(await registry.metrics()).not.toContain('toy=');
  });
});

describe('the HTTP metrics of a registry', () => {
  it('are made once: two apps sharing a registry share the same metric objects', () => {
    const registry = new Registry();
    const first = httpMetrics(registry);
    const second = httpMetrics(registry);
    expect(second.requests).toBe(first.requests);
    expect(second.duration).toBe(first.duration);
    expect(second.inFlight).toBe(first.inFlight);
    expect(first.requests).toBeInstanceOf(SeriesCounter);
    expect(first.duration).toBeInstanceOf(SeriesHistogram);
  });
});
