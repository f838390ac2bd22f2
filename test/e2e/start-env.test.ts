/**
 * `npm start` as a person runs it, and what reaches each service's process: read from the kernel
 * (/proc/<pid>/environ of the PIDs it printed), not from what the launcher says it did.
 *
 * The bug this pins: `IDEMPOTENCY_KEYS_RETAINED=5 npm start` never reached the replicas (a
 * hand-kept pass-through list missed it), while GROUP_COMMIT did, inherited, though the
 * launcher said nothing was inherited.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from '../../scripts/lib/cluster/index.ts';
import { pollFor } from '../support/async.ts';
import { environOf, pidsPrinted, startStore, type Store } from '../tools/processes.ts';

describe('npm start passes each setting to exactly the services that read it', () => {
  let store: Store;
  let pids: Record<string, number>;

  beforeAll(async () => {
    store = await startStore({
      IDEMPOTENCY_KEYS_RETAINED: '5',
      GROUP_COMMIT: 'false',
      CACHE_SIZE: '3',
      // Not npm start's to give: the launcher computes them for each service.
      ORDER_ID: '2',
      CATALOG_URL: 'http://127.0.0.1:1',
    });
    pids = await pollFor(
      'npm start to print every PID',
      () => {
        const p = pidsPrinted(store.stdout);
        return Object.keys(p).length === 5 ? p : undefined;
      },
      { deadlineMs: 90_000 },
    );
  }, 120_000);

  afterAll(async () => {
    const exit = await store?.stop();
    expect(exit?.code).toBe(0);
  });

  it('IDEMPOTENCY_KEYS_RETAINED and GROUP_COMMIT reach the catalog and every replica, and not the frontend', async () => {
    for (const s of ['catalog', 'order-1', 'order-2', 'order-3']) {
      expect(await environOf(pids[s]!), s).toMatchObject({
        IDEMPOTENCY_KEYS_RETAINED: '5',
        GROUP_COMMIT: 'false',
      });
    }
    const frontend = await environOf(pids.frontend!);
    expect(frontend).not.toHaveProperty('IDEMPOTENCY_KEYS_RETAINED');
    expect(frontend).not.toHaveProperty('GROUP_COMMIT');
  });

  it('CACHE_SIZE reaches the frontend alone', async () => {
    expect(await environOf(pids.frontend!)).toMatchObject({ CACHE_SIZE: '3' });
    for (const s of ['catalog', 'order-1', 'order-2', 'order-3'])
      expect(await environOf(pids[s]!), s).not.toHaveProperty('CACHE_SIZE');
  });

  it('ORDER_ID and CATALOG_URL from its own environment are ignored, and it says so', async () => {
    for (const id of [1, 2, 3])
      expect((await environOf(pids[`order-${id}`]!)).ORDER_ID).toBe(String(id));
    expect(await environOf(pids.catalog!)).not.toHaveProperty('ORDER_ID');
    expect(await environOf(pids.frontend!)).not.toHaveProperty('ORDER_ID');
    expect((await environOf(pids['order-3']!)).CATALOG_URL).not.toBe('http://127.0.0.1:1');
    expect(store.stdout.join('\n')).toMatch(/ignoring ORDER_ID/);
    expect(store.stdout.join('\n')).toMatch(/ignoring CATALOG_URL/);
  });
});

describe('npm start with no cluster secret set', () => {
  let store: Store;
  let pids: Record<string, number>;

  beforeAll(async () => {
    store = await startStore();
    pids = await pollFor(
      'npm start to print every PID',
      () => {
        const p = pidsPrinted(store.stdout);
        return Object.keys(p).length === 5 ? p : undefined;
      },
      { deadlineMs: 90_000 },
    );
  }, 120_000);

  afterAll(async () => {
    const exit = await store?.stop();
    expect(exit?.code).toBe(0);
  });

  it('makes DATA_DIR/cluster-secret and gives it to every service as CLUSTER_SECRET', async () => {
    const secret = (await fs.readFile(path.join(store.dataDir, 'cluster-secret'), 'utf8')).trim();
    for (const s of ['catalog', 'order-1', 'order-2', 'order-3', 'frontend'])
      expect((await environOf(pids[s]!)).CLUSTER_SECRET, s).toBe(secret);
  });

  it('prints how to give a command started by hand the same secret (the file, in the restart command too), and never the secret', async () => {
    const secret = (await fs.readFile(path.join(store.dataDir, 'cluster-secret'), 'utf8')).trim();
    const file = `CLUSTER_SECRET_FILE=${path.join(store.dataDir, 'cluster-secret')}`;
    const printed = store.stdout.join('\n');
    expect(printed).toMatch(new RegExp(`secret: .*${file}`));
    expect(printed).toMatch(new RegExp(`restart: +ORDER_ID=3 .*${file} npm run order`));
    expect(printed + store.stderr.join('\n')).not.toContain(secret);
  });
});

describe('a program that launches the store with startCluster', () => {
  it("gives its children none of the table's variables from its own environment", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-start-env-'));
    const saved = { GROUP_COMMIT: process.env.GROUP_COMMIT, LOG_LEVEL: process.env.LOG_LEVEL };
    process.env.GROUP_COMMIT = 'false';
    process.env.LOG_LEVEL = 'debug';
    let cluster;
    try {
      cluster = await startCluster({ dataDir: dir, output: () => {}, env: { LOG_LEVEL: 'warn' } });
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    try {
      for (const [service, pid] of Object.entries(cluster.pids())) {
        const env = await environOf(pid!);
        expect(env, service).not.toHaveProperty('GROUP_COMMIT');
        expect(env.LOG_LEVEL, service).toBe('warn');
        expect(env.PATH, service).toBe(process.env.PATH);
      }
    } finally {
      await cluster.stop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
