/**
 * The one config module (shared/config.ts): its defaults, and that every bad field is reported
 * together, each naming its variable.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadClusterSecret, loadConfig, SETTINGS } from '../../shared/config.ts';

const SECRET = 'a-cluster-secret-of-forty-characters-xyz';

/** The problems a bad environment is reported with (fails the test if it loads). */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('defaults', () => {
  it('an empty environment gives the documented defaults', () => {
    const c = loadConfig({});
    expect(c.host).toBe('127.0.0.1');
    expect(c.frontendPort).toBe(8000);
    expect(c.catalogPort).toBe(8001);
    expect(c.frontendInternalPort).toBe(8002);
    expect(c.catalogUrl).toBe('http://127.0.0.1:8001');
    expect(c.frontendUrls).toEqual(['http://127.0.0.1:8002']);
    expect(c.replicas).toEqual([
      { id: 3, url: 'http://127.0.0.1:8013', port: 8013 },
      { id: 2, url: 'http://127.0.0.1:8012', port: 8012 },
      { id: 1, url: 'http://127.0.0.1:8011', port: 8011 },
    ]);
    expect(c.orderId).toBeNull();
    expect(c.cacheSize).toBe(7);
    expect(c.cacheEnabled).toBe(true);
    expect(c.restockIntervalMs).toBe(10_000);
    expect(c.heartbeatIntervalMs).toBeGreaterThan(0);
    expect(c.heartbeatIntervalMs).toBeLessThanOrEqual(500);
    expect(c.commitQuorum).toBe(2);
    expect(path.isAbsolute(c.dataDir)).toBe(true);
    expect(c.dataDir).toBe(path.resolve('data'));
  });

  it('empty strings count as unset', () => {
    const c = loadConfig({
      FRONTEND_PORT: '',
      CACHE_ENABLED: '',
      ORDER_ID: '',
      ORDER_REPLICAS: '',
      CATALOG_URL: '',
    });
    expect(c.frontendPort).toBe(8000);
    expect(c.cacheEnabled).toBe(true);
    expect(c.orderId).toBeNull();
    expect(c.replicas.map((r) => r.id)).toEqual([3, 2, 1]);
    expect(c.catalogUrl).toBe('http://127.0.0.1:8001');
  });

  it('the catalog URL and frontend URL follow the configured ports when not given', () => {
    const c = loadConfig({ CATALOG_PORT: '9101', FRONTEND_INTERNAL_PORT: '9102' });
    expect(c.catalogUrl).toBe('http://127.0.0.1:9101');
    expect(c.frontendUrls).toEqual(['http://127.0.0.1:9102']);
  });
});

describe('parsing values', () => {
  it('reads valid settings', () => {
    const c = loadConfig({
      HOST: '0.0.0.0',
      CLUSTER_SECRET: SECRET,
      FRONTEND_PORT: '9000',
      CACHE_SIZE: '100',
      CACHE_ENABLED: 'off',
      RESTOCK_INTERVAL_MS: '500',
      HEARTBEAT_INTERVAL_MS: '50',
      ORDER_ID: '2',
      DATA_DIR: 'some/dir',
    });
    expect(c.host).toBe('0.0.0.0');
    expect(c.frontendPort).toBe(9000);
    expect(c.cacheSize).toBe(100);
    expect(c.cacheEnabled).toBe(false);
    expect(c.restockIntervalMs).toBe(500);
    expect(c.heartbeatIntervalMs).toBe(50);
    expect(c.orderId).toBe(2);
    expect(c.dataDir).toBe(path.resolve('some/dir'));
  });

  it('CACHE_ENABLED accepts the usual spellings of true and false', () => {
    for (const v of ['true', 'TRUE', '1', 'yes', 'on', ' On '])
      expect(loadConfig({ CACHE_ENABLED: v }).cacheEnabled).toBe(true);
    for (const v of ['false', 'False', '0', 'no', 'off'])
      expect(loadConfig({ CACHE_ENABLED: v }).cacheEnabled).toBe(false);
  });

  it('a comma-separated FRONTEND_URL gives every frontend, normalized to its origin', () => {
    const c = loadConfig({
      FRONTEND_URL: 'http://10.0.0.1:8002, http://10.0.0.2:8002/ ,http://fe3:9002',
    });
    expect(c.frontendUrls).toEqual([
      'http://10.0.0.1:8002',
      'http://10.0.0.2:8002',
      'http://fe3:9002',
    ]);
  });

  it('ORDER_REPLICAS is sorted by id, highest first, with each port', () => {
    const c = loadConfig({ ORDER_REPLICAS: '5=http://a:7005,9=http://b:7009,7=http://c' });
    expect(c.replicas).toEqual([
      { id: 9, url: 'http://b:7009', port: 7009 },
      { id: 7, url: 'http://c', port: 80 },
      { id: 5, url: 'http://a:7005', port: 7005 },
    ]);
  });
});

describe('bad settings', () => {
  it('every bad field is reported together, each naming its variable', () => {
    const problems = problemsOf({
      FRONTEND_PORT: 'abc',
      CACHE_SIZE: '0',
      CACHE_ENABLED: 'maybe',
      ORDER_ID: '9',
    });
    expect(problems).toHaveLength(4);
    for (const name of ['FRONTEND_PORT', 'CACHE_SIZE', 'CACHE_ENABLED', 'ORDER_ID']) {
      expect(problems.filter((p) => p.includes(name))).toHaveLength(1);
    }
  });

  it('the error message lists every problem', () => {
    try {
      loadConfig({ FRONTEND_PORT: 'abc', CACHE_SIZE: '0' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/FRONTEND_PORT/);
      expect((err as Error).message).toMatch(/CACHE_SIZE/);
    }
  });

  it('ports out of range or not integers are refused', () => {
    for (const v of ['-1', '65536', '80.5', '1e3', 'abc']) {
      const problems = problemsOf({ CATALOG_PORT: v });
      expect(problems.some((p) => p.startsWith('CATALOG_PORT='))).toBe(true);
    }
  });

  it('interval settings have bounds', () => {
    expect(problemsOf({ HEARTBEAT_INTERVAL_MS: '9' })[0]).toMatch(/^HEARTBEAT_INTERVAL_MS=/);
    expect(problemsOf({ RESTOCK_INTERVAL_MS: '86400001' })[0]).toMatch(/^RESTOCK_INTERVAL_MS=/);
  });

  it('a CATALOG_URL or FRONTEND_URL that is not http:// is refused', () => {
    expect(problemsOf({ CATALOG_URL: 'ftp://x:1' })).toEqual([
      expect.stringContaining('CATALOG_URL'),
    ]);
    expect(problemsOf({ CATALOG_URL: 'not a url' })).toEqual([
      expect.stringContaining('CATALOG_URL'),
    ]);
    expect(problemsOf({ FRONTEND_URL: 'http://ok:1,https://bad:2' })).toEqual([
      expect.stringContaining('FRONTEND_URL'),
    ]);
  });

  it('an ORDER_REPLICAS entry without "=" is refused', () => {
    const problems = problemsOf({ ORDER_REPLICAS: '1=http://a:1,http://b:2' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/ORDER_REPLICAS/);
    expect(problems[0]).toContain('http://b:2');
  });

  it('an ORDER_REPLICAS id the wire cannot carry (above 2^31 - 1, or 0) is refused', () => {
    expect(problemsOf({ ORDER_REPLICAS: '1=http://a:1,3000000000=http://b:2' })).toEqual([
      expect.stringMatching(/id 3000000000 must be an integer from 1 to 2147483647/),
    ]);
    expect(problemsOf({ ORDER_REPLICAS: '0=http://a:1' })).toEqual([
      expect.stringMatching(/id 0 must be/),
    ]);
  });

  it('a duplicate ORDER_REPLICAS id is refused', () => {
    const problems = problemsOf({ ORDER_REPLICAS: '1=http://a:1,2=http://b:2,1=http://c:3' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/ORDER_REPLICAS.*1.*twice/);
  });

  it('a non-http ORDER_REPLICAS URL is refused', () => {
    const problems = problemsOf({ ORDER_REPLICAS: '1=http://a:1,2=https://b:2' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/ORDER_REPLICAS/);
    expect(problems[0]).toContain('https://b:2');
  });

  it('a zero ORDER_REPLICAS id is refused', () => {
    expect(problemsOf({ ORDER_REPLICAS: '0=http://a:1,2=http://b:2' })).toEqual([
      expect.stringMatching(/ORDER_REPLICAS.*0/),
    ]);
  });

  it('an ORDER_REPLICAS with no valid entry says a replica is required', () => {
    const problems = problemsOf({ ORDER_REPLICAS: 'junk' });
    expect(problems.some((p) => /at least one replica/.test(p))).toBe(true);
  });

  it('ORDER_ID must be one of the ids in the list', () => {
    expect(loadConfig({ ORDER_REPLICAS: '4=http://a:1,6=http://b:2', ORDER_ID: '6' }).orderId).toBe(
      6,
    );
    expect(problemsOf({ ORDER_REPLICAS: '4=http://a:1,6=http://b:2', ORDER_ID: '5' })).toEqual([
      expect.stringMatching(/^ORDER_ID=/),
    ]);
    expect(problemsOf({ ORDER_ID: 'two' })).toEqual([expect.stringMatching(/^ORDER_ID=/)]);
    expect(problemsOf({ ORDER_ID: '-1' })).toEqual([expect.stringMatching(/^ORDER_ID=/)]);
  });

  it('COMMIT_QUORUM must be from 1 to the number of replicas', () => {
    expect(loadConfig({ COMMIT_QUORUM: '1' }).commitQuorum).toBe(1);
    expect(loadConfig({ COMMIT_QUORUM: '3' }).commitQuorum).toBe(3);
    expect(problemsOf({ COMMIT_QUORUM: '0' })).toEqual([expect.stringMatching(/^COMMIT_QUORUM=/)]);
    expect(problemsOf({ COMMIT_QUORUM: '4' })).toEqual([expect.stringMatching(/^COMMIT_QUORUM=/)]);
    expect(problemsOf({ ORDER_REPLICAS: '1=http://a:1,2=http://b:2', COMMIT_QUORUM: '3' })).toEqual(
      [expect.stringMatching(/^COMMIT_QUORUM=/)],
    );
  });

  it('COMMIT_QUORUM defaults to 1 for a single replica', () => {
    expect(loadConfig({ ORDER_REPLICAS: '1=http://a:1' }).commitQuorum).toBe(1);
  });
});

describe('the cluster secret', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const file = (content: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'toystore-secret-'));
    dirs.push(dir);
    const f = path.join(dir, 'secret');
    fs.writeFileSync(f, content, { mode: 0o600 });
    return f;
  };

  it('a service bound to a non-loopback address refuses to start without one, in one line naming HOST and both variables', () => {
    for (const host of ['0.0.0.0', '::', '10.213.0.11', 'order-1']) {
      const problems = problemsOf({ HOST: host });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(
        new RegExp(
          `^CLUSTER_SECRET: required because HOST=${host.replace(/\./g, '\\.')} is not a loopback address.*CLUSTER_SECRET_FILE`,
        ),
      );
      expect(problems[0]).not.toContain('\n');
    }
  });

  it('on loopback a cluster may run open (no secret): the developer default', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1'])
      expect(loadConfig({ HOST: host }).clusterSecret).toBeNull();
    expect(loadConfig({}).clusterSecret).toBeNull();
  });

  it('comes from CLUSTER_SECRET, or from the file CLUSTER_SECRET_FILE names with its trailing newline dropped', () => {
    expect(loadConfig({ HOST: '0.0.0.0', CLUSTER_SECRET: SECRET }).clusterSecret).toBe(SECRET);
    expect(
      loadConfig({ HOST: '0.0.0.0', CLUSTER_SECRET_FILE: file(`${SECRET}\n`) }).clusterSecret,
    ).toBe(SECRET);
    expect(loadClusterSecret({ CLUSTER_SECRET_FILE: file(SECRET) })).toBe(SECRET);
    expect(loadClusterSecret({})).toBeNull();
  });

  it('refuses both variables at once, an unreadable file, a short secret and one with spaces, each naming its variable', () => {
    expect(problemsOf({ CLUSTER_SECRET: SECRET, CLUSTER_SECRET_FILE: file(SECRET) })).toEqual([
      expect.stringMatching(/both set/),
    ]);
    expect(problemsOf({ CLUSTER_SECRET_FILE: '/nonexistent/secret' })).toEqual([
      expect.stringMatching(
        /^CLUSTER_SECRET_FILE="\/nonexistent\/secret": cannot read it \(ENOENT\)/,
      ),
    ]);
    expect(problemsOf({ CLUSTER_SECRET: 'short' })).toEqual([
      expect.stringMatching(/^CLUSTER_SECRET: the secret must be at least 32 characters/),
    ]);
    expect(problemsOf({ CLUSTER_SECRET_FILE: file(`${SECRET} with spaces\n`) })).toEqual([
      expect.stringMatching(/^CLUSTER_SECRET_FILE=.*visible ASCII/),
    ]);
    expect(() => loadClusterSecret({ CLUSTER_SECRET: 'short' })).toThrow(ConfigError);
  });

  it("a bad secret is reported without the secret: neither the value nor the file's contents appear, the file's path does", () => {
    const leaked = 'short-private-value';
    const fromFile = file(`${leaked}\n`);
    const problems = [
      ...problemsOf({ CLUSTER_SECRET: leaked }),
      ...problemsOf({ CLUSTER_SECRET_FILE: fromFile }),
    ];
    expect(problems).toHaveLength(2);
    for (const p of problems) expect(p).not.toContain(leaked);
    expect(problems[1]).toContain(fromFile);
    try {
      loadConfig({ CLUSTER_SECRET: `${leaked} x` }, 'order');
      expect.unreachable('a secret with a space loads');
    } catch (err) {
      expect((err as ConfigError).message).not.toContain(leaked);
    }
  });

  it('npm start may run without one off loopback (it makes one); every service may not', () => {
    expect(loadConfig({ HOST: '0.0.0.0' }, 'start').clusterSecret).toBeNull();
    for (const service of ['catalog', 'order', 'frontend'] as const) {
      expect(() => loadConfig({ HOST: '0.0.0.0' }, service), service).toThrow(
        /CLUSTER_SECRET: required because HOST=0\.0\.0\.0/,
      );
    }
  });

  it('the two variables are rows of the config table, read by every service and npm start, marked secret', () => {
    for (const s of [SETTINGS.clusterSecret, SETTINGS.clusterSecretFile]) {
      expect(s.secret, s.env).toBe(true);
      expect([...s.readBy].sort(), s.env).toEqual(['catalog', 'frontend', 'order', 'start']);
    }
  });
});
