/**
 * The production build: `npm run build` output runs with plain `node <out>/<service>/main.js`,
 * no tsx, no TypeScript, on this machine's Node. Built once for the file into a temporary
 * directory; the whole store (catalog, three replicas, a frontend) is started from it on
 * 127.0.0.1 with ephemeral ports and must answer, elect, take an order and serve the status page
 * (an asset the build copies). Then the launcher runs the same build (`builtDir`, as the bench's
 * catch-up figure does): a restarted replica comes back from the build and catches up. The two
 * stores run one after the other, never side by side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertSafeOutDir,
  build,
  REPO_ROOT,
  SERVICE_ENTRIES,
  type BuildResult,
} from '../../scripts/lib/build/build.ts';
import { waitForLeader } from '../../scripts/lib/bench/store-probe.ts';
import { filesIdentical, orderLogPath } from '../../scripts/lib/bench/synth-log.ts';
import {
  freePorts,
  startCluster,
  type Cluster,
  type ServiceName,
} from '../../scripts/lib/cluster/index.ts';
import { until } from '../support/async.ts';
import { runChaos } from '../../scripts/lib/chaos/index.ts';

let out: BuildResult;
let tmp: string;
const children: ChildProcess[] = [];
let urls: { frontend: string; catalog: string; replicas: string[] };

const waitFor = (what: string, cond: () => Promise<boolean>, deadlineMs = 20_000) =>
  until(what, cond, { deadlineMs, everyMs: 50 });
const statusOf = async (url: string) =>
  await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
    async (r) => (await r.arrayBuffer(), r.status),
  );

const SECRET = 'built-services-test-secret-0123456789abcdef';

function startBuilt(entry: string, env: Record<string, string>): ChildProcess {
  // Plain node: no --import, no loader, and nothing inherited that could bring tsx in.
  const child = spawn(process.execPath, [path.join(out.outDir, entry)], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-build-'));
  out = await build(path.join(tmp, 'dist'));
}, 120_000);

afterAll(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function startBuiltStore(): Promise<void> {
  const [frontend, internal, catalog, r1, r2, r3] = await freePorts(6);
  const replicas = [r1, r2, r3].map((p) => `http://127.0.0.1:${p}`);
  urls = {
    frontend: `http://127.0.0.1:${frontend}`,
    catalog: `http://127.0.0.1:${catalog}`,
    replicas,
  };
  const common = {
    CLUSTER_SECRET: SECRET,
    DATA_DIR: path.join(tmp, 'data'),
    CATALOG_PORT: String(catalog),
    CATALOG_URL: urls.catalog,
    FRONTEND_URL: `http://127.0.0.1:${internal}`,
    ORDER_REPLICAS: replicas.map((u, i) => `${i + 1}=${u}`).join(','),
  };
  startBuilt(SERVICE_ENTRIES.catalog, common);
  for (const id of [1, 2, 3])
    startBuilt(SERVICE_ENTRIES.order, { ...common, ORDER_ID: String(id) });
  startBuilt(SERVICE_ENTRIES.frontend, {
    ...common,
    FRONTEND_PORT: String(frontend),
    FRONTEND_INTERNAL_PORT: String(internal),
  });
}

async function stopBuiltStore(): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const kill = setTimeout(() => c.kill('SIGKILL'), 8_000);
          c.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
}

describe('npm run build', () => {
  beforeAll(startBuiltStore, 60_000);
  afterAll(stopBuiltStore);

  it('writes one self-contained bundle per service, with the status page beside the frontend', async () => {
    expect(out.files).toBe(Object.keys(SERVICE_ENTRIES).length);
    expect(out.assets).toContain(path.join('frontend', 'status-page.html'));
    const files = (await fs.readdir(out.outDir, { recursive: true }))
      .map(String)
      .filter((f) => !f.startsWith('node_modules'));
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    for (const entry of Object.values(SERVICE_ENTRIES)) {
      const main = await fs.readFile(path.join(out.outDir, entry), 'utf8');
      // Sources and dependencies are inside: no relative import, no TypeScript, no bare import
      // of a dependency (only node: built-ins, and the CommonJS require made in the banner).
      expect(main).not.toMatch(/from ["']\.\.?\//);
      expect(main).not.toMatch(/(from|import\() *["'][^"']+\.ts["']/);
      expect(main.match(/^import .* from ["']([^"']+)["'];?$/gm) ?? []).toEqual(
        main.match(/^import .* from ["'](node:[^"']+)["'];?$/gm) ?? [],
      );
      expect(main).toContain('hono');
    }
    expect(
      JSON.parse(await fs.readFile(path.join(out.outDir, 'package.json'), 'utf8')),
    ).toMatchObject({ type: 'module' });
  });

  it('the built store starts with plain node, elects, is ready, takes an order and serves the status page', async () => {
    await waitFor(
      'the frontend is ready',
      async () => (await statusOf(`${urls.frontend}/ready`)) === 200,
    );
    for (const r of urls.replicas)
      await waitFor(`${r} is ready`, async () => (await statusOf(`${r}/ready`)) === 200);
    expect(await statusOf(`${urls.catalog}/health`)).toBe(200);
    // Internal routes of the built services need the cluster secret; the public API does not.
    expect(await statusOf(`${urls.catalog}/internal/pending`)).toBe(401);
    expect(await statusOf(`${urls.replicas[0]}/internal/status`)).toBe(401);
    const res = await fetch(`${urls.frontend}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'built-1' },
      body: JSON.stringify({ name: 'Tux', quantity: 1 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { order_number: 0 } });
    const page = await fetch(`${urls.frontend}/status`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    for (const c of children) expect(c.spawnargs.join(' ')).not.toMatch(/tsx/);
  });

  it('refuses an output directory whose emptying would delete sources', () => {
    for (const dir of [
      REPO_ROOT,
      path.dirname(REPO_ROOT),
      path.join(REPO_ROOT, 'order'),
      path.join(REPO_ROOT, 'shared'),
    ]) {
      expect(() => assertSafeOutDir(path.resolve(dir))).toThrow(/refusing/);
    }
    expect(() => assertSafeOutDir(path.join(REPO_ROOT, 'dist'))).not.toThrow();
    expect(() => assertSafeOutDir(path.join(os.tmpdir(), 'x', 'dist'))).not.toThrow();
  });
});

/** The command line of a running process (Linux /proc), its arguments joined by spaces. */
async function cmdlineOf(pid: number): Promise<string> {
  return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
}

describe('the launcher with builtDir', () => {
  let cluster: Cluster | undefined;
  let dataDir: string;
  const lines: string[] = [];
  const program = (s: ServiceName) =>
    (s.startsWith('order-') ? 'order' : s) as keyof typeof SERVICE_ENTRIES;
  const expectBuilt = async (s: ServiceName) => {
    const cmd = await cmdlineOf(cluster!.pids()[s]!);
    expect(cmd).toContain(path.join(out.outDir, SERVICE_ENTRIES[program(s)]));
    expect(cmd).not.toMatch(/tsx|\.ts\b/);
  };
  const order = (key: string) =>
    fetch(`${cluster!.urls.frontend}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ name: 'Tux', quantity: 1 }),
      signal: AbortSignal.timeout(10_000),
    });

  beforeAll(async () => {
    dataDir = path.join(tmp, 'launched');
    cluster = await startCluster({
      dataDir,
      builtDir: out.outDir,
      heartbeatIntervalMs: 50,
      env: { LOG_LEVEL: 'warn' },
      output: (service, line) => lines.push(`[${service}] ${line}`),
    });
  }, 60_000);
  afterAll(async () => {
    // stop() signals each child by the PID it holds.
    await cluster?.stop();
  });

  it('runs every service from the build with node, and a real order goes through', async () => {
    for (const s of Object.keys(cluster!.pids()) as ServiceName[]) await expectBuilt(s);
    await waitForLeader(cluster!.urls.frontend, 20_000);
    const res = await order('launched-1');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { order_number: 0 } });
  });

  it('when a follower is killed and orders go on without it, it restarts from the build and catches up', async () => {
    const c = cluster!;
    const leader = await waitForLeader(c.urls.frontend, 20_000);
    const lag = ([1, 2, 3] as const).find((id) => id !== leader)!;
    const service: ServiceName = `order-${lag}`;
    const before = c.pids()[service];
    await c.kill(service);
    for (const key of ['launched-2', 'launched-3', 'launched-4'])
      expect((await order(key)).status).toBe(200);
    await c.restart(service);
    expect(c.pids()[service]).not.toBe(before);
    await expectBuilt(service);
    const logs = [orderLogPath(dataDir, lag), orderLogPath(dataDir, leader)];
    await waitFor("the restarted replica holds the leader's log, byte for byte", () =>
      filesIdentical(logs),
    );
    const records = (await fs.readFile(logs[0]!, 'utf8')).split('\n').filter(Boolean);
    expect(records.length).toBeGreaterThanOrEqual(4);
  });
});

/** The command lines of this process's own children (Linux /proc), read synchronously. */
function childCmdlines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid)
        out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return out;
}

describe('npm run chaos --built', () => {
  it('when chaos runs the build, every service it starts and restarts is the build, and nothing is lost', async () => {
    const seen: string[][] = [];
    const report = await runChaos({
      seed: 7,
      durationMs: 6_000,
      clients: 2,
      faults: ['kill'],
      keep: false,
      tmpRoot: tmp,
      builtDir: out.outDir,
      heartbeatIntervalMs: 50,
      // After every kill and restart, which programs this process is running.
      onEvent: (e) => {
        if (e.kind === 'phase' || e.kind === 'fault') seen.push(childCmdlines());
      },
    });
    const story = report.violations.map((v) => `${v.source}/${v.kind}: ${v.message}`).join('\n');
    expect(report.violations, story).toEqual([]);
    expect(report.faultsInjected.kill).toBeGreaterThan(0);
    const services = seen.flat().filter((c) => c.includes('main.'));
    // Five services at least once, restarts included: each from the build, none from a source.
    expect(services.length).toBeGreaterThanOrEqual(5);
    for (const cmd of services) {
      expect(cmd).toContain(out.outDir);
      expect(cmd).not.toMatch(/tsx|\.ts\b/);
    }
  }, 120_000);
});

describe('Node versions', () => {
  it("package.json declares this machine's Node line and the current LTS lines", async () => {
    const pkg = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    const lines = pkg.engines.node.split('||').map((s) => Number(/\^(\d+)/.exec(s.trim())?.[1]));
    expect(lines).toContain(Number(process.versions.node.split('.')[0]));
    expect(lines).toEqual(expect.arrayContaining([20, 22, 24, 26]));
  });
});
