/**
 * The store on its hosts: every service from the production build in its own namespace, the
 * load balancer in front of the frontends, and the fault proxies on the controller's address
 * for the links that can be slowed. Runs inside the controller (which sits in the `ctl`
 * namespace and reaches every host's address directly).
 *
 * Each service gets exactly `envFor(host, placement)` (plus PATH and the log level): the
 * documented variables, with addresses of the run's namespaces. A restarted service gets the
 * same environment, as a restarted machine would.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { startFaultProxy, type FaultProxy } from '../fault-proxy/proxy.ts';
import {
  clusterCredential,
  newClusterSecret,
  withClusterCredential,
} from '../../../shared/auth.ts';
import { createPooledHttp, type HttpClient } from '../../../shared/http.ts';
import { frontendPublicRoutes } from '../../../shared/protocol/index.ts';
import { haproxyConfig } from './haproxy.ts';
import type { Network } from './netns.ts';
import {
  createProcs,
  ORPHAN_GUARD,
  pollUntil,
  type ProcExit,
  type Procs,
  type ProcSpec,
} from './procs.ts';
import {
  delayableLinks,
  ENTRY,
  envFor,
  FRONTEND_HOSTS,
  kindOf,
  mainPort,
  originOf,
  PORTS,
  readinessPath,
  REPLICA_HOSTS,
  SERVICE_HOSTS,
  type HostName,
  type Placement,
  type ServiceHost,
} from './topology.ts';

export interface StoreOptions {
  net: Network;
  distDir: string;
  runDir: string;
  /** Tuning variables on top of the topology's (LOG_LEVEL, RESTOCK_INTERVAL_MS). */
  tuning: Record<string, string>;
  output: (name: string, line: string) => void;
  onExit: (e: ProcExit) => void;
}

export interface Store {
  procs: Procs;
  /**
   * For the controller's own probes and samples (closed with the store); it carries the cluster
   * credential.
   */
  http: HttpClient;
  /** The HTTP status `url` answers within `timeoutMs`, 0 when it does not answer. */
  statusOf(url: string, timeoutMs?: number): Promise<number>;
  placement: Placement;
  proxies: Map<string, FaultProxy>;
  url(host: HostName, port?: number): string;
  lbUrl: string;
  envOf(host: ServiceHost): Record<string, string>;
  close(): Promise<void>;
}

const LISTENING = /listening on http:\/\//;

export async function startStore(o: StoreOptions): Promise<Store> {
  const { net } = o;
  const proxies = new Map<string, FaultProxy>();
  const procs = createProcs({ output: o.output, onExit: o.onExit });
  const { secretFile, http, statusOf } = await clusterAccess(o.runDir);
  const placement: Placement = {
    address: (h) => net.addr(h),
    bind: (h) => net.addr(h),
    dataDir: (h) => path.join(o.runDir, 'disk', h),
    secretFile: () => secretFile,
    route: (from, to, url) => proxies.get(`${from}->${to}`)?.url ?? url,
  };
  const close = async () => {
    await procs.stopAll();
    await Promise.all([...proxies.values()].map((p) => p.close()));
    await http.close();
  };
  try {
    for (const [from, to] of delayableLinks()) {
      proxies.set(
        `${from}->${to}`,
        await startFaultProxy({
          host: net.addr('ctl'),
          target: originOf(placement, to, PORTS.replica[to]),
        }),
      );
    }
    const envs = new Map(
      SERVICE_HOSTS.map((h) => [h, { ...envFor(h, placement), ...o.tuning }] as const),
    );
    await startServices(o, procs, placement, envs);
    const url = (h: HostName, port = mainPort(h)) => `http://${net.addr(h)}:${port}`;
    await startLoadBalancer(o, procs, placement, () =>
      statusOf(`${url('lb')}${frontendPublicRoutes.health.path}`),
    );
    return {
      procs,
      http,
      statusOf,
      placement,
      proxies,
      url,
      lbUrl: url('lb'),
      envOf: (h) => ({ ...envs.get(h)! }),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The run's own cluster secret, in a file only root reads (given to every service as
 * CLUSTER_SECRET_FILE), and the controller's HTTP client that carries it.
 */
async function clusterAccess(runDir: string): Promise<{
  secretFile: string;
  http: HttpClient & { close(): Promise<void> };
  statusOf: Store['statusOf'];
}> {
  const secret = newClusterSecret();
  const secretFile = path.join(runDir, 'cluster-secret');
  await fs.writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
  const http = withClusterCredential(
    createPooledHttp({ connectionsPerOrigin: 4 }),
    clusterCredential(secret),
  );
  const statusOf = (url: string, timeoutMs = 500) =>
    http({ method: 'GET', url, timeoutMs }).then(
      (r) => r.status,
      () => 0,
    );
  return { secretFile, http, statusOf };
}

/**
 * Every service in its namespace from the build: the catalog and the replicas first, then the
 * frontends.
 */
async function startServices(
  o: StoreOptions,
  procs: Procs,
  placement: Placement,
  envs: ReadonlyMap<ServiceHost, Record<string, string>>,
): Promise<void> {
  const spec = (h: ServiceHost): ProcSpec => ({
    name: h,
    command: 'ip',
    args: [
      'netns',
      'exec',
      o.net.ns(h),
      process.execPath,
      '--import',
      ORPHAN_GUARD,
      path.join(o.distDir, ENTRY[kindOf(h)]),
    ],
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...envs.get(h)! },
    ready: { line: LISTENING },
  });
  for (const h of SERVICE_HOSTS) await fs.mkdir(placement.dataDir(h), { recursive: true });
  await Promise.all(['catalog', ...REPLICA_HOSTS].map((h) => procs.start(spec(h as ServiceHost))));
  await Promise.all(FRONTEND_HOSTS.map((h) => procs.start(spec(h))));
}

async function startLoadBalancer(
  o: StoreOptions,
  procs: Procs,
  placement: Placement,
  lbHealth: () => Promise<number>,
): Promise<void> {
  const cfg = path.join(o.runDir, 'haproxy.cfg');
  await fs.writeFile(cfg, haproxyConfig(placement, { bind: o.net.addr('lb') }));
  await procs.start({
    name: 'lb',
    command: 'ip',
    args: ['netns', 'exec', o.net.ns('lb'), 'haproxy', '-f', cfg, '-db'],
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    ready: { check: async () => (await lbHealth()) === 200 },
  });
}

/** Polls every service's readiness endpoint until all answer 200. */
export async function waitAllReady(
  store: Store,
  deadlineMs: number,
  hosts: readonly ServiceHost[] = SERVICE_HOSTS,
): Promise<void> {
  await pollUntil(async () => {
    const codes = await Promise.all(
      hosts.map((h) => store.statusOf(`${store.url(h)}${readinessPath(h)}`)),
    );
    return codes.every((c) => c === 200);
  }, Date.now() + deadlineMs);
}
