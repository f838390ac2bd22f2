/**
 * The launcher's environments (scripts/lib/cluster/env.ts): each child gets exactly the table's
 * variables its service reads, and none of the table's variables from the launcher's own
 * environment. Before, IDEMPOTENCY_KEYS_RETAINED never reached the replicas (it was missing from
 * a hand-kept list) while GROUP_COMMIT did, inherited, though the launcher said nothing was.
 */
import { describe, expect, it } from 'vitest';
import { SETTING_LIST, settingsReadBy } from '../../shared/config.ts';
import {
  envFor,
  inheritedEnv,
  SECRET_VARS,
  serviceEnvs,
  serviceOf,
  TOPOLOGY_VARS,
  urlsOf,
} from '../../scripts/lib/cluster/env.ts';
import { startCluster } from '../../scripts/lib/cluster/launcher.ts';
import { SERVICE_NAMES, type ClusterPorts } from '../../scripts/lib/cluster/types.ts';

const PORTS: ClusterPorts = {
  frontend: 9000,
  frontendInternal: 9002,
  catalog: 9001,
  replicas: [9011, 9012, 9013],
};
const envsWith = (env: Record<string, string>) =>
  serviceEnvs({ dataDir: '/tmp/x', env }, PORTS, urlsOf(PORTS));

describe('what each child is given', () => {
  it('IDEMPOTENCY_KEYS_RETAINED and GROUP_COMMIT reach the catalog and every replica, and not the frontend', () => {
    const envs = envsWith({ IDEMPOTENCY_KEYS_RETAINED: '5', GROUP_COMMIT: 'false' });
    for (const s of ['catalog', 'order-1', 'order-2', 'order-3'] as const)
      expect(envs.get(s)).toMatchObject({ IDEMPOTENCY_KEYS_RETAINED: '5', GROUP_COMMIT: 'false' });
    expect(envs.get('frontend')).not.toHaveProperty('IDEMPOTENCY_KEYS_RETAINED');
    expect(envs.get('frontend')).not.toHaveProperty('GROUP_COMMIT');
  });

  it('every variable of the table a child gets is one its service reads, and it gets all topology it reads', () => {
    const all = Object.fromEntries(
      SETTING_LIST.filter((s) => !s.topology).map((s) => [s.env, 'x']),
    );
    const envs = envsWith(all);
    for (const name of SERVICE_NAMES) {
      const reads = settingsReadBy(serviceOf(name)).map((s) => s.env);
      const given = Object.keys(envs.get(name)!);
      expect(
        given.filter((k) => !reads.includes(k)),
        name,
      ).toEqual([]);
      expect(
        reads.filter((k) => !given.includes(k)),
        name,
      ).toEqual([]);
    }
  });

  it('a variable the table does not know (a profiler hook) goes to every child', () => {
    const envs = envsWith({ NODE_OPTIONS: '--import x', BENCH_CPU_PROF_DIR: '/tmp/p' });
    for (const name of SERVICE_NAMES)
      expect(envs.get(name)).toMatchObject({
        NODE_OPTIONS: '--import x',
        BENCH_CPU_PROF_DIR: '/tmp/p',
      });
  });

  it('the topology variables are the table entries marked so', () => {
    expect([...TOPOLOGY_VARS].sort()).toEqual([
      'CATALOG_PORT',
      'CATALOG_URL',
      'DATA_DIR',
      'FRONTEND_INTERNAL_PORT',
      'FRONTEND_PORT',
      'FRONTEND_URL',
      'ORDER_ID',
      'ORDER_REPLICAS',
    ]);
    expect(envFor('catalog', { ORDER_ID: '2', DATA_DIR: '/d' })).toEqual({ DATA_DIR: '/d' });
  });
});

describe("the cluster's secret", () => {
  const SECRET = 'a-cluster-secret-of-forty-characters-xyz';

  it('reaches every service that reads it (the table says all three) as CLUSTER_SECRET; an open cluster gives none', () => {
    const envs = serviceEnvs({ dataDir: '/tmp/x', clusterSecret: SECRET }, PORTS, urlsOf(PORTS));
    for (const name of SERVICE_NAMES) expect(envs.get(name)!.CLUSTER_SECRET, name).toBe(SECRET);
    const open = serviceEnvs({ dataDir: '/tmp/x', clusterSecret: null }, PORTS, urlsOf(PORTS));
    for (const name of SERVICE_NAMES)
      expect(open.get(name), name).not.toHaveProperty('CLUSTER_SECRET');
  });

  it("is the launcher's to give: the table's secret variables in opts.env are refused before anything starts", async () => {
    expect([...SECRET_VARS].sort()).toEqual(['CLUSTER_SECRET', 'CLUSTER_SECRET_FILE']);
    for (const v of SECRET_VARS) {
      await expect(startCluster({ dataDir: '/nonexistent', env: { [v]: SECRET } })).rejects.toThrow(
        new RegExp(`${v} come from opts.clusterSecret`),
      );
    }
  });
});

describe('what a child inherits', () => {
  it("none of the table's variables, whatever the launcher's own environment holds; everything else", () => {
    const parent = {
      PATH: '/bin',
      HOME: '/root',
      GROUP_COMMIT: 'false',
      LOG_LEVEL: 'debug',
      IDEMPOTENCY_KEYS_RETAINED: '5',
      CACHE_SIZE: '1',
      FORCE_COLOR: '1',
    };
    expect(inheritedEnv(parent)).toEqual({ PATH: '/bin', HOME: '/root', FORCE_COLOR: '1' });
  });
});
