/**
 * The config table (shared/config.ts) decides what each service reads: a service ignores what
 * the table says it does not read, validates what it does, and every default is valid.
 */
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  loadConfig,
  nonDefaultVariables,
  SERVICES,
  SETTING_LIST,
  settingsReadBy,
} from '../../shared/config.ts';

function problemsOf(
  env: Record<string, string>,
  reader?: Parameters<typeof loadConfig>[1],
): string[] {
  try {
    loadConfig(env, reader);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
}

describe('the config table', () => {
  it('names each variable once, and every variable has a reader and a meaning', () => {
    const names = SETTING_LIST.map((s) => s.env);
    expect(new Set(names).size).toBe(names.length);
    for (const s of SETTING_LIST) {
      expect(s.readBy.length, s.env).toBeGreaterThan(0);
      expect(s.meaning.length, s.env).toBeGreaterThan(3);
    }
  });

  it('every default is a valid value (an empty environment loads for every reader)', () => {
    for (const reader of [...SERVICES, 'start'] as const)
      expect(() => loadConfig({}, reader)).not.toThrow();
  });

  it('a service ignores a bad value of a variable it does not read, and refuses one it reads', () => {
    expect(problemsOf({ CACHE_SIZE: 'lots' }, 'catalog')).toEqual([]);
    expect(problemsOf({ CACHE_SIZE: 'lots' }, 'order')).toEqual([]);
    expect(problemsOf({ CACHE_SIZE: 'lots' }, 'frontend')).toEqual([
      expect.stringMatching(/^CACHE_SIZE="lots"/),
    ]);
    // ORDER_ID is the replica's alone: the catalog and the frontend run whatever it says.
    expect(problemsOf({ ORDER_ID: '9' }, 'catalog')).toEqual([]);
    expect(problemsOf({ ORDER_ID: '9' }, 'order')).toEqual([
      expect.stringMatching(/^ORDER_ID="9"/),
    ]);
  });

  it("what a service does not read takes the default, so it cannot act on another service's setting", () => {
    const env = { CACHE_SIZE: '3', IDEMPOTENCY_KEYS_RETAINED: '5', RESTOCK_INTERVAL_MS: '500' };
    expect(loadConfig(env, 'catalog')).toMatchObject({
      cacheSize: 7,
      idempotencyKeysRetained: 5,
      restockIntervalMs: 500,
    });
    expect(loadConfig(env, 'order')).toMatchObject({
      cacheSize: 7,
      idempotencyKeysRetained: 5,
      restockIntervalMs: 10_000,
    });
    expect(loadConfig(env, 'frontend')).toMatchObject({
      cacheSize: 3,
      idempotencyKeysRetained: 0,
      restockIntervalMs: 10_000,
    });
  });

  it('every bad variable a service reads is reported at once, each naming its variable', () => {
    const problems = problemsOf(
      {
        HOST: 'http://x',
        FRONTEND_PORT: '70000',
        CACHE_ENABLED: 'maybe',
        LOG_LEVEL: 'loud',
        GROUP_COMMIT: 'perhaps',
      },
      'frontend',
    );
    expect(problems.map((p) => /^[A-Z_]+/.exec(p)?.[0]).sort()).toEqual([
      'CACHE_ENABLED',
      'FRONTEND_PORT',
      'HOST',
      'LOG_LEVEL',
    ]);
  });

  it('HOST is an address or a host name, not a URL', () => {
    // Off loopback a service needs the cluster secret too (the secret's own tests: config.test.ts).
    const CLUSTER_SECRET = 'a-cluster-secret-of-forty-characters-xyz';
    for (const ok of ['127.0.0.1', '0.0.0.0', '::1', 'localhost', 'catalog.internal', 'order-2'])
      expect(loadConfig({ HOST: ok, CLUSTER_SECRET }).host).toBe(ok);
    for (const bad of ['http://127.0.0.1', '127.0.0.1:8000', 'a b', '-x', 'x..y'])
      expect(problemsOf({ HOST: bad })).toEqual([expect.stringMatching(/^HOST=/)]);
  });

  it('the readers of the launcher-only variables are npm start alone', () => {
    expect(settingsReadBy('start').map((s) => s.env)).toEqual(
      expect.arrayContaining(['LOG_REQUESTS', 'SUMMARY_INTERVAL_MS']),
    );
    for (const service of SERVICES)
      expect(settingsReadBy(service).map((s) => s.env)).not.toContain('LOG_REQUESTS');
  });

  it('nonDefaultVariables names what differs from the default, comparing values, not spellings', () => {
    const env = {
      ORDER_ID: '3',
      DATA_DIR: './data',
      CACHE_ENABLED: 'on',
      COMMIT_QUORUM: '2',
      GROUP_COMMIT: 'false',
      CATALOG_PORT: '9001',
      CATALOG_URL: 'http://127.0.0.1:9001/',
    };
    // DATA_DIR resolves to the default; CATALOG_URL is what CATALOG_PORT derives; CACHE_ENABLED the
    // order service does not read.
    expect(nonDefaultVariables(env, 'order')).toEqual(['CATALOG_PORT', 'ORDER_ID', 'GROUP_COMMIT']);
  });
});
