/**
 * The one table of configuration variables, and the loader derived from it.
 *
 * Every setting of every service is one entry of `SETTINGS`: its variable, default, kind (type
 * and bounds), who reads it and what it means. Everything else derives from that entry:
 *  - `loadConfig` parses exactly the variables the reader reads (a service ignores the others,
 *    so its config is what the table says it is), every bad one reported at once;
 *  - the `Config` type (one field per entry, named as in the table);
 *  - the launcher's pass-through (scripts/lib/cluster/env.ts): a child gets exactly the
 *    variables its service reads, and inherits none of them from the launcher's environment;
 *  - `--help` of each service and of `npm start` (shared/cli.ts), and the README's table
 *    (test/unit/config-docs.test.ts holds the README to it).
 * Adding a variable is adding one entry here (and reading its field where it is used).
 *
 * Nothing else in the code base reads `process.env` for the store's settings; `main.ts` files
 * call `loadConfigOrExit(process.env, 'catalog')` (or their own name) and pass plain values down.
 */
import { isLoopbackHost } from './auth.ts';
import {
  bool,
  clusterSecret,
  clusterSecretFile,
  directory,
  host,
  int,
  oneOf,
  origin,
  origins,
  port,
  replicaIdIn,
  replicaList,
  type Kind,
  type ReplicaAddress,
} from './config-kinds.ts';

export type { ReplicaAddress, SecretFile } from './config-kinds.ts';

/** The three services, each a `main.ts`. */
export type Service = 'catalog' | 'order' | 'frontend';
export const SERVICES: readonly Service[] = ['catalog', 'order', 'frontend'];
/** Who reads a variable: a service, or `npm start` (the launcher, scripts/start.ts). */
export type Reader = Service | 'start';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const DEFAULT_REPLICAS =
  '1=http://127.0.0.1:8011,2=http://127.0.0.1:8012,3=http://127.0.0.1:8013';

/** The settings other entries derive a default or a bound from; parsed before those entries. */
interface Above {
  catalogPort: number;
  frontendInternalPort: number;
  replicas: ReplicaAddress[];
}

export interface Setting<T> {
  readonly env: string;
  /** As it would be written in the environment ('' = unset); or derived from settings above it. */
  readonly default: string | ((above: Above) => string);
  /** The default as the docs show it (when it is not the literal string). */
  readonly defaultText?: string;
  readonly kind: Kind<T> | ((above: Above) => Kind<T>);
  /** The type as the docs show it (when the kind depends on other settings). */
  readonly typeText?: string;
  readonly readBy: readonly Reader[];
  /**
   * The launcher computes it for each process (ports, URLs, ids, the data dir), so `npm start`
   * never passes its own value on, and a caller of `startCluster` may not set it.
   */
  readonly topology?: boolean;
  /**
   * It carries the cluster secret (CLUSTER_SECRET, or the file CLUSTER_SECRET_FILE names): the
   * secret never appears in a message, --help or a printed command (a command names the
   * variable or the file instead), and the launcher gives each cluster it starts its own
   * (`clusterSecret` of startCluster), so a caller may not set one in `env`.
   */
  readonly secret?: boolean;
  readonly meaning: string;
}

const setting = <T>(s: Setting<T>): Setting<T> => s;
const SERVERS: readonly Reader[] = ['catalog', 'order', 'frontend', 'start'];
const url = (p: number) => `http://127.0.0.1:${p}`;

/**
 * The table, in the order the README shows it; a derived entry comes after what it derives from.
 */
export const SETTINGS = {
  frontendPort: setting({
    env: 'FRONTEND_PORT',
    default: '8000',
    kind: port,
    readBy: ['frontend', 'start'],
    topology: true,
    meaning: 'public API',
  }),
  frontendInternalPort: setting({
    env: 'FRONTEND_INTERNAL_PORT',
    default: '8002',
    kind: port,
    readBy: ['frontend', 'catalog', 'start'],
    topology: true,
    meaning:
      "frontend's internal listener (cache invalidations); not reachable through the public port. The catalog's default `FRONTEND_URL` follows it",
  }),
  catalogPort: setting({
    env: 'CATALOG_PORT',
    default: '8001',
    kind: port,
    readBy: ['catalog', 'order', 'frontend', 'start'],
    topology: true,
    meaning: 'catalog. The default `CATALOG_URL` of the frontend and the replicas follows it',
  }),
  catalogUrl: setting({
    env: 'CATALOG_URL',
    default: (a) => url(a.catalogPort),
    defaultText: 'http://127.0.0.1:$CATALOG_PORT',
    kind: origin,
    readBy: ['order', 'frontend'],
    topology: true,
    meaning: 'where the frontend and the order leader reach the catalog',
  }),
  frontendUrls: setting({
    env: 'FRONTEND_URL',
    default: (a) => url(a.frontendInternalPort),
    defaultText: 'http://127.0.0.1:$FRONTEND_INTERNAL_PORT',
    kind: origins,
    readBy: ['catalog'],
    topology: true,
    meaning: 'where the catalog pushes invalidations; a comma-separated list is allowed',
  }),
  replicas: setting({
    env: 'ORDER_REPLICAS',
    default: DEFAULT_REPLICAS,
    kind: replicaList,
    readBy: ['order', 'frontend', 'start'],
    topology: true,
    meaning:
      'id = priority, highest leads; the same list configures the frontend and every replica; a replica listens on the port of its own entry',
  }),
  orderId: setting({
    env: 'ORDER_ID',
    default: '',
    defaultText: '(required for `npm run order`)',
    kind: (a) => replicaIdIn(a.replicas),
    typeText: 'an id in ORDER_REPLICAS',
    readBy: ['order'],
    topology: true,
    meaning: 'which replica this process is',
  }),
  dataDir: setting({
    env: 'DATA_DIR',
    default: './data',
    kind: directory,
    readBy: ['catalog', 'order', 'start'],
    topology: true,
    meaning: 'catalog in `DATA_DIR/catalog/`, replica N in `DATA_DIR/order-N/`',
  }),
  cacheSize: setting({
    env: 'CACHE_SIZE',
    default: '7',
    kind: int(1, 1_000_000),
    readBy: ['frontend', 'start'],
    meaning: 'LRU entries (fewer than the toys, so replacement happens)',
  }),
  cacheEnabled: setting({
    env: 'CACHE_ENABLED',
    default: 'true',
    kind: bool,
    readBy: ['frontend', 'start'],
    meaning: '`false` sends every product query to the catalog',
  }),
  restockIntervalMs: setting({
    env: 'RESTOCK_INTERVAL_MS',
    default: '10000',
    kind: int(10, 86_400_000),
    readBy: ['catalog', 'start'],
    meaning: 'how often sold-out toys go back to 100',
  }),
  heartbeatIntervalMs: setting({
    env: 'HEARTBEAT_INTERVAL_MS',
    default: '200',
    kind: int(10, 60_000),
    readBy: ['order', 'frontend', 'start'],
    meaning: 'how often the frontend checks the replicas and the leader checks its followers',
  }),
  commitQuorum: setting({
    env: 'COMMIT_QUORUM',
    default: (a) => String(Math.min(2, Math.max(1, a.replicas.length))),
    defaultText: '2',
    kind: (a) => int(1, Math.max(1, a.replicas.length)),
    typeText: 'integer 1 to the number of replicas',
    readBy: ['order', 'frontend', 'start'],
    meaning:
      'replicas (leader included) that must have fsynced an order before it is acknowledged. Give the frontends the same value: their `/ready` uses it',
  }),
  host: setting({
    env: 'HOST',
    default: '127.0.0.1',
    kind: host,
    readBy: SERVERS,
    meaning: 'interface every server binds',
  }),
  idempotencyKeysRetained: setting({
    env: 'IDEMPOTENCY_KEYS_RETAINED',
    default: '0',
    defaultText: '0 (all)',
    kind: int(0, 1_000_000_000),
    readBy: ['order', 'catalog', 'start'],
    meaning:
      'how many of the most recent keys are answered as replays; `0` keeps every key in the log and ledger',
  }),
  groupCommit: setting({
    env: 'GROUP_COMMIT',
    default: 'true',
    kind: bool,
    readBy: ['order', 'catalog', 'start'],
    meaning:
      'batch concurrent appends into one write and one fdatasync; `false` only to measure what batching buys',
  }),
  trackFsyncOffsets: setting({
    env: 'TRACK_FSYNC_OFFSETS',
    default: 'false',
    kind: bool,
    readBy: ['order', 'catalog', 'start'],
    meaning:
      "write each log's last fsynced length to `<file>.synced` (for the chaos tool's power-loss simulation)",
  }),
  logLevel: setting({
    env: 'LOG_LEVEL',
    default: 'info',
    kind: oneOf(LOG_LEVELS),
    readBy: SERVERS,
    meaning: 'the lowest level of line a service writes',
  }),
  logFormat: setting({
    env: 'LOG_FORMAT',
    default: 'auto',
    kind: oneOf(LOG_FORMATS),
    readBy: SERVERS,
    meaning:
      'a service: `auto` is pretty on a terminal, JSON otherwise. `npm start`: `auto` is pretty; `json` prints JSON lines only (no `[service]` prefix)',
  }),
  clusterSecret: setting({
    env: 'CLUSTER_SECRET',
    default: '',
    defaultText: '(none)',
    kind: clusterSecret,
    readBy: SERVERS,
    secret: true,
    meaning:
      'the credential every internal request carries (`Authorization: Bearer`) and every internal route checks (`openssl rand -base64 32`). Required when `HOST` is not a loopback address; with neither this nor `CLUSTER_SECRET_FILE`, `npm start` makes one in `DATA_DIR/cluster-secret`',
  }),
  clusterSecretFile: setting({
    env: 'CLUSTER_SECRET_FILE',
    default: '',
    defaultText: '(none)',
    kind: clusterSecretFile,
    readBy: SERVERS,
    secret: true,
    meaning:
      'a file holding the secret instead (one trailing newline ignored), so a service started with it keeps the secret out of its environment (npm start hands its own children CLUSTER_SECRET); set one of the two, not both',
  }),
  logRequests: setting({
    env: 'LOG_REQUESTS',
    default: 'false',
    kind: bool,
    readBy: ['start'],
    meaning:
      '`npm start` shows a line per request (the services always write them; by default it counts them in its summaries)',
  }),
  summaryIntervalMs: setting({
    env: 'SUMMARY_INTERVAL_MS',
    default: '10000',
    kind: int(0, 3_600_000),
    readBy: ['start'],
    meaning:
      'how often `npm start` prints a summary line per service (requests/s, errors, p99, leader); `0`: never',
  }),
} as const;

export type SettingName = keyof typeof SETTINGS;
type ValueOf<S> = S extends Setting<infer T> ? T : never;
type Values = { -readonly [K in SettingName]: ValueOf<(typeof SETTINGS)[K]> };

export interface Config extends Values {
  /** LOG_LEVEL and LOG_FORMAT together, as createLogger takes them. */
  logging: { level: LogLevel; format: LogFormat };
  /**
   * The cluster secret: CLUSTER_SECRET, or what CLUSTER_SECRET_FILE holds (the entry's own value
   * is the first only). null: none, an open cluster, which `loadConfig` allows a service only on
   * a loopback HOST (shared/auth.ts checks and sends it).
   */
  clusterSecret: string | null;
}

/** Every entry, in table order, with its field name. */
export const SETTING_LIST: ReadonlyArray<Setting<unknown> & { field: SettingName }> = (
  Object.keys(SETTINGS) as SettingName[]
).map((field) => ({ ...(SETTINGS[field] as Setting<unknown>), field }));

/** The variables `reader` reads, in table order. */
export function settingsReadBy(reader: Reader): typeof SETTING_LIST {
  return SETTING_LIST.filter((s) => s.readBy.includes(reader));
}

/** Every variable of the table, by name. */
export const SETTING_NAMES: ReadonlySet<string> = new Set(SETTING_LIST.map((s) => s.env));

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** A setting's value and what its default would have been (to tell which ones were set). */
interface Resolved {
  values: Values;
  defaults: Values;
  problems: string[];
}

/**
 * Parses the table in order. A variable `reader` does not read takes its default, so each service
 * sees exactly what the table says it reads; with no reader, every variable is read.
 */
function resolve(env: Env, reader?: Reader): Resolved {
  const values = {} as Record<string, unknown>;
  const defaults = {} as Record<string, unknown>;
  const problems: string[] = [];
  for (const s of SETTING_LIST) {
    const above = values as unknown as Above;
    const kind = typeof s.kind === 'function' ? s.kind(above) : s.kind;
    const fallback = typeof s.default === 'function' ? s.default(above) : s.default;
    const parse = (raw: string) =>
      kind.parse(raw, s.env, s.secret ? '(hidden)' : JSON.stringify(raw));
    const byDefault = parse(fallback);
    if (!byDefault.ok)
      throw new Error(
        `config table: the default of ${s.env} is invalid: ${byDefault.problems.join('; ')}`,
      );
    defaults[s.field] = byDefault.value;
    const given = reader === undefined || s.readBy.includes(reader) ? env[s.env] : undefined;
    const parsed = given === undefined || given === '' ? byDefault : parse(given);
    if (!parsed.ok) problems.push(...parsed.problems);
    values[s.field] = parsed.ok ? parsed.value : byDefault.value;
  }
  return { values: values as Values, defaults: defaults as Values, problems };
}

/**
 * The configuration `reader` runs with (every variable when no reader is given); throws a
 * ConfigError naming every bad one.
 */
export function loadConfig(env: Env, reader?: Reader): Config {
  const { values, problems } = resolve(env, reader);
  const secret = secretRules(env, values, reader, problems);
  if (problems.length) throw new ConfigError(problems);
  return {
    ...values,
    clusterSecret: secret,
    logging: { level: values.logLevel, format: values.logFormat },
  };
}

/**
 * The rules between the two secret entries and HOST: one way of giving the secret, not both;
 * and a service bound where others can reach it (not loopback) needs one, because without it
 * every internal route answers anyone. `npm start` is exempt: it makes a secret when none is
 * set. A variable already reported bad is not reported again as missing.
 */
function secretRules(
  env: Env,
  values: Values,
  reader: Reader | undefined,
  problems: string[],
): string | null {
  const { clusterSecret: direct, clusterSecretFile: file } = values;
  if (direct !== null && file !== null)
    problems.push('CLUSTER_SECRET and CLUSTER_SECRET_FILE are both set; set one');
  const secret = direct ?? file?.secret ?? null;
  const given = [SETTINGS.clusterSecret, SETTINGS.clusterSecretFile].some(
    (s) => env[s.env] && (reader === undefined || s.readBy.includes(reader)),
  );
  if (secret === null && !given && reader !== 'start' && !isLoopbackHost(values.host)) {
    problems.push(
      `CLUSTER_SECRET: required because HOST=${values.host} is not a loopback address (without it every internal route answers anyone who can reach the port); set CLUSTER_SECRET or CLUSTER_SECRET_FILE`,
    );
  }
  return secret;
}

/**
 * For a tool that calls internal routes (the live checker): the cluster secret from the same
 * two variables, by the same kinds and rules, null if neither is set; throws a ConfigError.
 */
export function loadClusterSecret(env: Env): string | null {
  const only = Object.fromEntries(
    SETTING_LIST.filter((s) => s.secret).map((s) => [s.env, env[s.env]]),
  );
  return loadConfig(only).clusterSecret;
}

/**
 * The variables in `env` that `reader` reads whose value differs from their default (for printing a
 * command line).
 */
export function nonDefaultVariables(env: Env, reader: Reader): string[] {
  const { values, defaults } = resolve(env, reader);
  return settingsReadBy(reader)
    .filter(
      (s) =>
        env[s.env] !== undefined &&
        env[s.env] !== '' &&
        JSON.stringify(values[s.field]) !== JSON.stringify(defaults[s.field]),
    )
    .map((s) => s.env);
}

/** For main.ts: load the config or print every problem and exit 2. */
export function loadConfigOrExit(env: Env, reader: Reader): Config {
  try {
    return loadConfig(env, reader);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${reader}: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}
