/**
 * The one config module: every setting of every service, parsed from the environment once at
 * start. Every bad field is collected and reported together, each naming its variable, so a user
 * fixes them in one go. Nothing else in the code base reads `process.env`; `main.ts` files call
 * `loadConfig(process.env)` and pass plain values down.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isLoopbackHost, secretProblem } from './auth.ts';
import { parseReplicaList } from './replica-list.ts';

export interface ReplicaAddress {
  id: number;
  url: string;
  port: number;
}

export interface Config {
  /** Interface every server binds. */
  host: string;
  frontendPort: number;
  /** The frontend's internal listener (cache invalidations); kept off the public port. */
  frontendInternalPort: number;
  catalogPort: number;
  catalogUrl: string;
  /** Where the catalog pushes invalidations: the frontends' internal listeners. */
  frontendUrls: string[];
  /** Order replicas, highest id = highest priority. */
  replicas: ReplicaAddress[];
  /** Which replica this process is (order service only). */
  orderId: number | null;
  dataDir: string;
  cacheSize: number;
  cacheEnabled: boolean;
  restockIntervalMs: number;
  heartbeatIntervalMs: number;
  /** Replicas (leader included) that must have fsynced an order before it is acknowledged. */
  commitQuorum: number;
  /** Idempotency keys the leader can answer from (most recent orders); 0 keeps every key in the log. */
  idempotencyKeysRetained: number;
  /**
   * Write each durable log's last fsynced byte offset to `<file>.synced` after every fsync (not
   * itself fsynced; it survives SIGKILL), so the chaos tool can simulate a power loss by cutting
   * the file back to it. Off in normal use.
   */
  trackFsyncOffsets: boolean;
  /**
   * Batch concurrent log appends into one write and one fdatasync (default). false: one fdatasync
   * per append, only to measure what batching buys.
   */
  groupCommit: boolean;
  /**
   * LOG_LEVEL (fatal, error, warn, info, debug, trace, silent; default info) and LOG_FORMAT
   * (json, pretty, or auto: pretty on a terminal, JSON otherwise, so launchers and tests get JSON).
   */
  logging: { level: LogLevel; format: LogFormat };
  /**
   * CLUSTER_SECRET, or the contents of the file CLUSTER_SECRET_FILE names: the credential every
   * internal request carries and every internal route checks (shared/auth.ts). null: none, an
   * open cluster, allowed only with a loopback HOST.
   */
  clusterSecret: string | null;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export const DEFAULT_REPLICAS = '1=http://127.0.0.1:8011,2=http://127.0.0.1:8012,3=http://127.0.0.1:8013';

export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  const str = (name: string, fallback: string) => {
    const v = env[name];
    return v === undefined || v === '' ? fallback : v;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return Number(raw);
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    problems.push(`${name}=${JSON.stringify(raw)}: expected true or false`);
    return fallback;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = raw.trim().toLowerCase();
    if ((allowed as readonly string[]).includes(v)) return v as T;
    problems.push(`${name}=${JSON.stringify(raw)}: expected one of ${allowed.join(', ')}`);
    return fallback;
  };
  const url = (name: string, raw: string): string | null => {
    try {
      const u = new URL(raw);
      if (u.protocol !== 'http:') throw new Error('not http');
      return u.origin;
    } catch {
      problems.push(`${name}: ${JSON.stringify(raw)} is not an http:// URL`);
      return null;
    }
  };

  const host = str('HOST', '127.0.0.1');
  const frontendPort = int('FRONTEND_PORT', 8000, 0, 65535);
  const frontendInternalPort = int('FRONTEND_INTERNAL_PORT', 8002, 0, 65535);
  const catalogPort = int('CATALOG_PORT', 8001, 0, 65535);
  const catalogUrl = url('CATALOG_URL', str('CATALOG_URL', `http://127.0.0.1:${catalogPort}`)) ?? '';
  const frontendUrls = str('FRONTEND_URL', `http://127.0.0.1:${frontendInternalPort}`)
    .split(',').map((s) => s.trim()).filter(Boolean)
    .map((u) => url('FRONTEND_URL', u)).filter((u): u is string => u !== null);

  const parsedReplicas = parseReplicaList(str('ORDER_REPLICAS', DEFAULT_REPLICAS));
  problems.push(...parsedReplicas.problems);
  const replicas = parsedReplicas.replicas;
  replicas.sort((a, b) => b.id - a.id);

  let orderId: number | null = null;
  const rawId = env.ORDER_ID;
  if (rawId !== undefined && rawId !== '') {
    if (!/^\d+$/.test(rawId) || !replicas.some((r) => r.id === Number(rawId))) {
      problems.push(`ORDER_ID=${JSON.stringify(rawId)}: must be one of the ids in ORDER_REPLICAS (${replicas.map((r) => r.id).join(', ')})`);
    } else orderId = Number(rawId);
  }

  const commitQuorum = int('COMMIT_QUORUM', Math.min(2, Math.max(1, replicas.length)), 1, Math.max(1, replicas.length));
  const config: Config = {
    host,
    frontendPort,
    frontendInternalPort,
    catalogPort,
    catalogUrl,
    frontendUrls,
    replicas,
    orderId,
    dataDir: path.resolve(str('DATA_DIR', './data')),
    cacheSize: int('CACHE_SIZE', 7, 1, 1_000_000),
    cacheEnabled: bool('CACHE_ENABLED', true),
    restockIntervalMs: int('RESTOCK_INTERVAL_MS', 10_000, 10, 86_400_000),
    heartbeatIntervalMs: int('HEARTBEAT_INTERVAL_MS', 200, 10, 60_000),
    commitQuorum,
    idempotencyKeysRetained: int('IDEMPOTENCY_KEYS_RETAINED', 0, 0, 1_000_000_000),
    trackFsyncOffsets: bool('TRACK_FSYNC_OFFSETS', false),
    groupCommit: bool('GROUP_COMMIT', true),
    logging: { level: oneOf('LOG_LEVEL', LOG_LEVELS, 'info'), format: oneOf('LOG_FORMAT', LOG_FORMATS, 'auto') },
    clusterSecret: readClusterSecret(env, problems),
  };
  if (config.clusterSecret === null && !isLoopbackHost(host)) {
    problems.push(`CLUSTER_SECRET: required because HOST=${host} is not a loopback address (without it every internal route answers anyone who can reach the port); set CLUSTER_SECRET or CLUSTER_SECRET_FILE`);
  }
  if (problems.length) throw new ConfigError(problems);
  return config;
}

/**
 * CLUSTER_SECRET, or the file CLUSTER_SECRET_FILE (one trailing newline dropped; not both), checked by
 * shared/auth.ts's rules; null when neither is set. Tools that call internal routes read the
 * secret through this too (`loadClusterSecret`), so they take the same two variables.
 */
export function readClusterSecret(env: Env, problems: string[]): string | null {
  const value = env.CLUSTER_SECRET;
  const file = env.CLUSTER_SECRET_FILE;
  if (value && file) {
    problems.push('CLUSTER_SECRET and CLUSTER_SECRET_FILE are both set; set one');
    return null;
  }
  let secret: string;
  if (value) secret = value;
  else if (file) {
    try {
      secret = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`CLUSTER_SECRET_FILE=${JSON.stringify(file)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return null;
    }
  } else return null;
  const problem = secretProblem(secret);
  if (problem) {
    problems.push(`${value ? 'CLUSTER_SECRET' : `CLUSTER_SECRET_FILE=${JSON.stringify(file)}`}: the secret ${problem}`);
    return null;
  }
  return secret;
}

/** For a tool: the cluster secret from CLUSTER_SECRET or CLUSTER_SECRET_FILE, null if neither; throws ConfigError. */
export function loadClusterSecret(env: Env): string | null {
  const problems: string[] = [];
  const secret = readClusterSecret(env, problems);
  if (problems.length) throw new ConfigError(problems);
  return secret;
}

/** For main.ts: load the config or print every problem and exit 2. */
export function loadConfigOrExit(env: Env, service: string): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${service}: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}
