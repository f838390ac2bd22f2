/**
 * Counters and histograms for numbers counted on a hot path (every HTTP request), instead of
 * prom-client's Counter and Histogram, whose children hash their label object again on every
 * `inc()` and `observe()` (about 1.4 µs a request for the pair). A caller resolves its label set
 * once, `series(labels)`, and keeps the handle: its state is plain numbers (a count; a per-bucket
 * count array, sum and count), so recording touches nothing else. Cumulative bucket counts are
 * summed when the registry is read. They register in the service's Registry like any metric
 * (shared/metrics.ts) and print exactly what prom-client's own would; bounded by `MAX_SERIES`.
 */
import { type Metric, type Registry, validateMetricName } from 'prom-client';

/** Label sets a series metric keeps apart; any further one shares the overflow series. */
export const MAX_SERIES = 1_000;
/** Every label's value in the overflow series. */
export const OVERFLOW_LABEL_VALUE = 'overflow';
/** Prometheus's data model (prom-client checks label names with the same rule, unexported). */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A value for every label of the metric. */
export type LabelSet<L extends string> = Readonly<Record<L, string | number>>;

export interface SeriesMetricOptions<L extends string> {
  registry: Registry;
  name: string;
  help: string;
  /** At least one: a metric without labels is a plain number (`counterFrom`, `gaugeFrom`). */
  labelNames: readonly L[];
  /**
   * Label sets kept apart (default `MAX_SERIES`). Past it, `series()` of a new label set returns
   * the one series whose every label is `OVERFLOW_LABEL_VALUE`, rather than throwing: a metric
   * must never fail the request it counts, and the overflow series shows on every scrape.
   */
  maxSeries?: number;
}

/** A sample as the Registry prints it (prom-client's shape: `sharedLabels` follow `labels`). */
interface Sample {
  value: number;
  labels: Record<string, string | number>;
  sharedLabels?: Readonly<Record<string, string | number>>;
  metricName?: string;
}

/** What every series handle has: its labels and whether it has been recorded since a reset. */
interface SeriesState {
  readonly labels: Readonly<Record<string, string | number>>;
  /** Recorded since creation or the last reset: only such series are printed, as prom-client. */
  live: boolean;
  clear(): void;
}

/**
 * The label sets of one metric and the registry's side of it. The registry calls `get()` (or
 * `getForPromString()`) on `metrics()` and `getMetricsAsJSON()`, `reset()` on `resetMetrics()`,
 * and reads `name` (renamed in place for OpenMetrics counters), `help`, `type`, `aggregator`.
 */
abstract class SeriesMetric<L extends string, S extends SeriesState> {
  name: string;
  readonly help: string;
  readonly aggregator = 'sum';
  abstract readonly type: 'counter' | 'histogram';
  readonly labelNames: readonly L[];
  private readonly maxSeries: number;
  private readonly byKey = new Map<string, S>();
  private overflow: S | undefined;
  /** Live series in the order they were first recorded, the order prom-client prints them in. */
  protected shown: S[] = [];

  constructor(opts: SeriesMetricOptions<L>) {
    if (!validateMetricName(opts.name)) throw new Error(`invalid metric name: ${opts.name}`);
    if (!opts.help) throw new Error(`metric ${opts.name} needs a help text`);
    if (opts.labelNames.length === 0) throw new Error(`metric ${opts.name} needs labels`);
    for (const label of opts.labelNames)
      if (!LABEL_NAME.test(label) || label === 'le' || label.startsWith('__'))
        throw new Error(`metric ${opts.name}: invalid label name ${label}`);
    const maxSeries = opts.maxSeries ?? MAX_SERIES;
    if (!Number.isSafeInteger(maxSeries) || maxSeries < 1)
      throw new Error(`metric ${opts.name}: maxSeries must be a positive integer`);
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = [...opts.labelNames];
    this.maxSeries = maxSeries;
  }

  /** Registers in `registry` (a subclass calls it once its fields are set). */
  protected register(registry: Registry): void {
    // Through the registry's own door; its parameter type names prom-client's classes, but all
    // it uses is the shape described above.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of `labels`, created on first call (`series()` of each subclass). */
  protected seriesOf(labels: LabelSet<L>): S {
    const values = this.labelNames.map((name) => {
      const value = labels[name];
      if (value === undefined) throw new Error(`metric ${this.name}: label ${name} missing`);
      return String(value);
    });
    for (const name of Object.keys(labels))
      if (!this.labelNames.includes(name as L))
        throw new Error(`metric ${this.name}: unknown label ${name}`);
    const key = JSON.stringify(values);
    let s = this.byKey.get(key);
    if (s) return s;
    if (this.byKey.size >= this.maxSeries) return (this.overflow ??= this.overflowSeries());
    s = this.create(this.frozenLabels((name) => labels[name]));
    this.byKey.set(key, s);
    return s;
  }

  private overflowSeries(): S {
    const key = JSON.stringify(this.labelNames.map(() => OVERFLOW_LABEL_VALUE));
    return this.byKey.get(key) ?? this.create(this.frozenLabels(() => OVERFLOW_LABEL_VALUE));
  }

  private frozenLabels(value: (name: L) => string | number): Readonly<Record<L, string | number>> {
    const labels = {} as Record<L, string | number>;
    for (const name of this.labelNames) labels[name] = value(name);
    return Object.freeze(labels);
  }

  protected abstract create(labels: Readonly<Record<L, string | number>>): S;

  /** @internal Called by a handle on its first record since creation or a reset. */
  show(s: S): void {
    s.live = true;
    this.shown.push(s);
  }

  /** Zeroes every series; handles stay valid and reappear once recorded again (as prom-client). */
  reset(): void {
    for (const s of this.shown) s.clear();
    this.shown = [];
  }

  protected abstract samples(): Sample[];

  /** For `registry.metrics()`. */
  getForPromString() {
    const { name, help, type, aggregator } = this;
    return { name, help, type, values: this.samples(), aggregator };
  }

  /** For `registry.getMetricsAsJSON()`: each sample's labels in one object, as prom-client's. */
  get() {
    const data = this.getForPromString();
    const values = data.values.map(({ sharedLabels, labels, ...rest }) => ({
      ...rest,
      labels: { ...labels, ...sharedLabels },
    }));
    return { ...data, values };
  }
}

/** What a caller of `SeriesCounter.series()` holds. */
export interface CounterHandle {
  /** Adds `by` (default 1, finite and >= 0). */
  inc(by?: number): void;
  readonly value: number;
}

/** One counter series: a number. */
class CounterSeries implements SeriesState, CounterHandle {
  value = 0;
  live = false;

  constructor(
    readonly labels: Readonly<Record<string, string | number>>,
    private readonly owner: SeriesMetric<string, CounterSeries>,
  ) {}

  inc(by = 1): void {
    if (!(by >= 0 && by < Infinity)) throw new TypeError(`counter increment ${by} is not >= 0`);
    if (!this.live) this.owner.show(this);
    this.value += by;
  }

  clear(): void {
    this.value = 0;
    this.live = false;
  }
}

/** A labelled counter whose series are `CounterSeries` handles (see the module comment). */
export class SeriesCounter<L extends string> extends SeriesMetric<L, CounterSeries> {
  readonly type = 'counter';

  constructor(opts: SeriesMetricOptions<L>) {
    super(opts);
    this.register(opts.registry);
  }

  /** The handle of `labels`' series, created on first call: keep it, and count through it. */
  series(labels: LabelSet<L>): CounterHandle {
    return this.seriesOf(labels);
  }

  protected create(labels: Readonly<Record<L, string | number>>): CounterSeries {
    return new CounterSeries(labels, this);
  }

  protected samples(): Sample[] {
    return this.shown.map((s) => ({ value: s.value, labels: s.labels }));
  }
}

/** What a caller of `SeriesHistogram.series()` holds. */
export interface HistogramHandle {
  /** Records one observation (finite, in the metric's unit: seconds for a `_seconds` metric). */
  observe(value: number): void;
  readonly count: number;
  readonly sum: number;
}

/**
 * One histogram series: a count per bucket (not cumulative: the slot of the first bound at or
 * above the value, one more slot for values above the last bound), their sum and count.
 */
class HistogramSeries implements SeriesState, HistogramHandle {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  live = false;

  constructor(
    readonly labels: Readonly<Record<string, string | number>>,
    private readonly bounds: Float64Array,
    private readonly owner: SeriesMetric<string, HistogramSeries>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`histogram value ${value} is not finite`);
    if (!this.live) this.owner.show(this);
    // `le` is inclusive: a value equal to a bound counts in that bound's bucket.
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  clear(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
    this.live = false;
  }
}

export interface SeriesHistogramOptions<L extends string> extends SeriesMetricOptions<L> {
  /** Upper bounds (`le`), finite and strictly increasing; `+Inf` is implied. */
  buckets: readonly number[];
}

/**
 * A labelled histogram whose series are `HistogramSeries` handles; the cumulative bucket counts
 * Prometheus wants are summed when it scrapes, not when a value is recorded.
 */
export class SeriesHistogram<L extends string> extends SeriesMetric<L, HistogramSeries> {
  readonly type = 'histogram';
  private readonly bounds: Float64Array;

  constructor(opts: SeriesHistogramOptions<L>) {
    super(opts);
    const b = opts.buckets;
    if (b.length === 0 || !b.every((x, i) => Number.isFinite(x) && (i === 0 || x > b[i - 1]!)))
      throw new Error(`metric ${opts.name}: buckets must be finite and strictly increasing`);
    this.bounds = Float64Array.from(b);
    this.register(opts.registry);
  }

  /** The handle of `labels`' series, created on first call: keep it, and observe through it. */
  series(labels: LabelSet<L>): HistogramHandle {
    return this.seriesOf(labels);
  }

  protected create(labels: Readonly<Record<L, string | number>>): HistogramSeries {
    return new HistogramSeries(labels, this.bounds, this);
  }

  /** Per series: cumulative `_bucket`s, then `+Inf`, `_sum` and `_count`, as prom-client. */
  protected samples(): Sample[] {
    const bucket = `${this.name}_bucket`;
    const out: Sample[] = [];
    for (const s of this.shown) {
      const sharedLabels = s.labels;
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        const le = this.bounds[i]!;
        out.push({ value: cumulative, labels: { le }, sharedLabels, metricName: bucket });
      }
      out.push(
        { value: s.count, labels: { le: '+Inf' }, sharedLabels, metricName: bucket },
        { value: s.sum, labels: {}, sharedLabels, metricName: `${this.name}_sum` },
        { value: s.count, labels: {}, sharedLabels, metricName: `${this.name}_count` },
      );
    }
    return out;
  }
}
