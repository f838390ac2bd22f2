/**
 * Prometheus metrics (prom-client): one registry per service, never the global one, so several
 * services' apps can live in one test process without mixing their series.
 *
 * Most of the store's numbers already exist in some view (cache.stats(), router.view(),
 * replica.status(), store.list()). Rather than counting twice, `counterFrom` and `gaugeFrom`
 * read such a view when Prometheus scrapes, through prom-client's `collect()` hook: the metric
 * can never disagree with what /health shows.
 *
 * Numbers counted on a hot path (every HTTP request) use `SeriesCounter` and `SeriesHistogram`
 * (shared/series-metrics.ts, re-exported here), whose handles record without hashing labels.
 *
 * Names follow the Prometheus conventions: prefix `toystore_`, base units (`_seconds`),
 * `_total` for counters. Label values come from small fixed sets (route patterns, toy names,
 * replica ids), never from client input, so the number of series stays bounded; the series
 * metrics enforce a bound besides (`MAX_SERIES`).
 */
import client, { Counter, Gauge, Registry } from 'prom-client';

export { Registry } from 'prom-client';
export const METRIC_PREFIX = 'toystore_';

export interface RegistryOptions {
  /** Also export prom-client's process and Node.js metrics (process_*, nodejs_*). Default false. */
  defaults?: boolean;
}

export function createRegistry(opts: RegistryOptions = {}): Registry {
  const registry = new Registry();
  if (opts.defaults) client.collectDefaultMetrics({ register: registry });
  return registry;
}

type Labels<L extends string> = Partial<Record<L, string | number>>;
/** A reading: one value, or one value per label set. */
export type Reading<L extends string> = number | ReadonlyArray<readonly [Labels<L>, number]>;

function samples<L extends string>(r: Reading<L>): ReadonlyArray<readonly [Labels<L>, number]> {
  return typeof r === 'number' ? [[{}, r]] : r;
}

/** A counter whose value is read from an existing monotonic count at scrape time. */
export function counterFrom<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Reading<L>,
): Counter<L> {
  return new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of samples(read()))
        if (Number.isFinite(value) && value >= 0) this.inc(labels, value);
    },
  });
}

/** A gauge whose value is read from an existing view at scrape time. */
export function gaugeFrom<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Reading<L>,
): Gauge<L> {
  return new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of samples(read()))
        if (Number.isFinite(value)) this.set(labels, value);
    },
  });
}

/**
 * Returns the metric registered under `name`, or creates it (so two apps can share one registry).
 * A metric of another kind under that name is a wiring mistake, refused where it is made: handed
 * on as `M`, it would fail only when first counted, on some request.
 */
export function getOrCreate<M extends object>(
  registry: Registry,
  name: string,
  /** The class `create` makes (its label types are not checked: they do not exist at run time). */
  kind: abstract new (...args: never[]) => object,
  create: () => M,
): M {
  const found: unknown = registry.getSingleMetric(name);
  if (found === undefined) return create();
  if (found instanceof kind) return found as M;
  const was = (found as object).constructor.name;
  throw new TypeError(`metric ${name} is already registered as a ${was}, not a ${kind.name}`);
}

export * from './series-metrics.ts';
