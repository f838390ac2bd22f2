/**
 * The process launcher: starts the whole store (catalog, order replicas 1..3, frontend) as real
 * child processes and hands back a handle to kill, pause, restart and stop them one by one.
 *
 * Used by `npm start` (scripts/start.ts), by the end-to-end tests and by chaos/bench tools, so it
 * is a plain library: importing it starts nothing and installs nothing. Every child's
 * configuration is computed from the options (ports, URLs, ORDER_ID, DATA_DIR), never inherited
 * from the parent's environment, so a test cannot accidentally talk to a developer's running
 * store. The `links` option gives each process its own view of its peers' URLs, so a chaos tool
 * can route chosen links through fault proxies (scripts/fault-proxy.ts).
 *
 * Each child is `node --import <tsx loader> --import <orphan guard> <service>/main.ts`, spawned
 * with `process.execPath` so the PID we hold is the service itself (no npx/sh wrapper in between:
 * a SIGKILL or SIGSTOP hits the real process). Children must not outlive the parent:
 *  - the parent's `exit` event SIGTERMs (and SIGCONTs) every child still running;
 *  - the orphan guard, preloaded into every child, watches a pipe on the child's stdin that only
 *    the parent holds: when the parent dies in any way (even SIGKILL) the kernel closes it, the
 *    child sees EOF and SIGTERMs itself, which runs the service's normal graceful shutdown.
 *  Limit: a child that is SIGSTOPped when the parent is SIGKILLed cannot act until continued
 *  (the kernel does SIGHUP+SIGCONT it when its process group becomes orphaned, as with
 *  `npm start` from a shell, but not when the group lives on, e.g. inside a test runner).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type ReplicaId = 1 | 2 | 3;
export type ServiceName = 'catalog' | 'order-1' | 'order-2' | 'order-3' | 'frontend';
/** Start order: the catalog and replicas first, then the frontend (so it finds a leader at once). */
export const SERVICE_NAMES: readonly ServiceName[] = ['catalog', 'order-1', 'order-2', 'order-3', 'frontend'];
export const REPLICA_IDS: readonly ReplicaId[] = [1, 2, 3];

export interface ClusterPorts {
  frontend: number;
  frontendInternal: number;
  catalog: number;
  replicas: [number, number, number];
}

export interface ClusterUrls {
  frontend: string;
  frontendInternal: string;
  catalog: string;
  replicas: Record<ReplicaId, string>;
}

export interface ExitInfo {
  service: ServiceName;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the launcher caused it (kill, restart, stop); false for a crash or a kill by hand. */
  expected: boolean;
}

export interface StartClusterOptions {
  /** Every service keeps its files under here (catalog/, order-1/, ...). Resolved to absolute. */
  dataDir: string;
  /** Fixed ports; any left out are picked with `freePorts`. */
  ports?: Partial<ClusterPorts>;
  /**
   * Extra environment for every child (CACHE_SIZE, CACHE_ENABLED, COMMIT_QUORUM, HOST, ...).
   * The topology variables (ports, URLs, ORDER_ID, DATA_DIR) are computed and may not be set here.
   */
  env?: Record<string, string>;
  /** Every stdout/stderr line of every child. Default: print it prefixed `[order-2]`. */
  output?: (service: ServiceName, line: string) => void;
  /** Called whenever a child exits, expected or not. */
  onExit?: (info: ExitInfo) => void;
  heartbeatIntervalMs?: number;
  restockIntervalMs?: number;
  /** How long a service may take to print its `listening on` line. Default 20 s. */
  readyTimeoutMs?: number;
  /**
   * Each process's own view of its peers, for routing links through fault proxies: returns the
   * URL `from` should use to reach `to`, whose real URL is `realUrl` (return `realUrl` to leave
   * the link direct). Called once per link at launch, with the final ports. It decides
   * CATALOG_URL (frontend, replicas), FRONTEND_URL (catalog: invalidations) and every other
   * replica's entry in ORDER_REPLICAS (frontend, replicas). A replica's own entry stays real: it
   * listens on that port. The cluster's `urls` stay the real ones.
   */
  links?: LinkResolver;
}

/** See `StartClusterOptions.links`. */
export type LinkResolver = (from: ServiceName, to: ServiceName, realUrl: string) => string;

export interface Cluster {
  readonly urls: ClusterUrls;
  readonly ports: ClusterPorts;
  /** Absolute. */
  readonly dataDir: string;
  /** PID of each service, null while it is not running. */
  pids(): Record<ServiceName, number | null>;
  isRunning(service: ServiceName): boolean;
  /** The configuration environment the launcher gives a service (without the inherited rest). */
  envOf(service: ServiceName): Record<string, string>;
  /**
   * Sends `signal` (default SIGKILL; a paused process is continued for catchable signals) and
   * resolves once it has exited; at once if it is not running. A signal the service survives
   * leaves the promise pending.
   */
  kill(service: ServiceName, signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again with the same env and ports (stopping it with SIGTERM first if still up). */
  restart(service: ServiceName): Promise<void>;
  /**
   * SIGSTOP: the process keeps its sockets (the kernel still accepts connections) but answers
   * nothing, like a hung machine. Signals are delivered asynchronously, so this resolves once the
   * process is seen stopped (Linux /proc; elsewhere at once).
   */
  pause(service: ServiceName): Promise<void>;
  /** SIGCONT; resolves once the process is seen running again. */
  resume(service: ServiceName): Promise<void>;
  /** SIGTERM everything, SIGKILL what is still up after the deadline. Idempotent. */
  stop(): Promise<void>;
}

/** Startup failed: a service exited or did not say it was listening in time. */
export class ClusterStartError extends Error {
  constructor(message: string, readonly output: string[]) {
    super(`${message}\n--- recent output ---\n${output.join('\n')}`);
    this.name = 'ClusterStartError';
  }
  get addressInUse(): boolean {
    return this.output.some((l) => l.includes('EADDRINUSE'));
  }
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY: Record<ServiceName, string> = {
  catalog: 'catalog/main.ts',
  'order-1': 'order/main.ts',
  'order-2': 'order/main.ts',
  'order-3': 'order/main.ts',
  frontend: 'frontend/main.ts',
};
const READY_RE = /listening on http:\/\//;
const DEFAULT_READY_TIMEOUT_MS = 20_000;
/** Services give themselves 5 s to shut down (shared/serve.ts); allow a little more. */
const STOP_DEADLINE_MS = 8_000;
const KILL_DEADLINE_MS = 3_000;
const RECENT_LINES = 200;
const START_ATTEMPTS = 3;

/** Computed by the launcher; refusing them in `opts.env` keeps the URLs we report true. */
const TOPOLOGY_VARS = ['FRONTEND_PORT', 'FRONTEND_INTERNAL_PORT', 'CATALOG_PORT', 'CATALOG_URL', 'FRONTEND_URL', 'ORDER_REPLICAS', 'ORDER_ID', 'DATA_DIR'];
/** Not inherited from the parent's environment: only `opts` decides them. */
const CONFIG_VARS = [
  ...TOPOLOGY_VARS,
  'HOST',
  'CACHE_SIZE',
  'CACHE_ENABLED',
  'RESTOCK_INTERVAL_MS',
  'HEARTBEAT_INTERVAL_MS',
  'COMMIT_QUORUM',
  'IDEMPOTENCY_KEYS_RETAINED',
  'TRACK_FSYNC_OFFSETS',
];

/**
 * Preloaded into every child (see the module comment); a data: URL, so it needs no file of its
 * own. Three jobs:
 *  - parent gone (EOF on the stdin pipe only the parent holds): SIGTERM ourselves;
 *  - ignore EPIPE on stdout/stderr, so a log line written during that shutdown cannot crash the
 *    service before it has flushed its data;
 *  - hold a SIGTERM that arrives before the service installed its handler. The services print
 *    `listening on` one statement before they call onShutdownSignal, and a parent that reacts to
 *    the line at once (stop() right after start, kill(s, 'SIGTERM') right after restart) won that
 *    race in practice, killing the child without its graceful shutdown. The held signal is
 *    re-emitted as soon as the service adds a SIGTERM listener; if none comes within 2 s, the
 *    process exits 143 as an unhandled SIGTERM would.
 */
const ORPHAN_GUARD = `data:text/javascript,${encodeURIComponent(`
for (const s of [process.stdout, process.stderr]) s.on('error', (e) => { if (e.code !== 'EPIPE') throw e; });
let held = false;
process.on('SIGTERM', () => {
  if (held || process.listenerCount('SIGTERM') > 1) return;
  held = true;
  const giveUp = setTimeout(() => process.exit(143), 2000);
  process.on('newListener', function deliver(event) {
    if (event !== 'SIGTERM') return;
    process.off('newListener', deliver);
    clearTimeout(giveUp);
    setImmediate(() => process.emit('SIGTERM', 'SIGTERM'));
  });
});
process.stdin.on('error', () => {});
process.stdin.on('end', () => {
  process.kill(process.pid, 'SIGTERM');
  setTimeout(() => process.exit(1), 10000).unref();
});
process.stdin.resume();
process.stdin.unref?.();
`)}`;

let tsxLoaderUrl: string | null = null;
/** An absolute URL, so children do not depend on their cwd to find tsx. */
function tsxLoader(): string {
  tsxLoaderUrl ??= pathToFileURL(createRequire(path.join(REPO_ROOT, 'package.json')).resolve('tsx')).href;
  return tsxLoaderUrl;
}

/**
 * n distinct ports that were free on 127.0.0.1 a moment ago: all n listeners on port 0 are open
 * at once (so the kernel hands out distinct ports), then closed. Racy by nature: between the close
 * and the child's bind another process may take a port. `startCluster` retries with new ports
 * when a child it gave picked ports to fails with EADDRINUSE.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

const COLORS: Record<ServiceName, string> = {
  catalog: '\x1b[36m',
  'order-1': '\x1b[32m',
  'order-2': '\x1b[33m',
  'order-3': '\x1b[35m',
  frontend: '\x1b[34m',
};
const NAME_WIDTH = Math.max(...SERVICE_NAMES.map((s) => s.length));

/** `[order-2]  line` on stdout, the prefix colored per service when stdout is a terminal. */
export function prefixedOutput(color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR): (service: ServiceName, line: string) => void {
  return (service, line) => {
    const tag = `[${service}]`.padEnd(NAME_WIDTH + 2);
    process.stdout.write(color ? `${COLORS[service]}${tag}\x1b[0m ${line}\n` : `${tag} ${line}\n`);
  };
}

/** Starts the store; resolves once every service printed its `listening on` line. */
export async function startCluster(opts: StartClusterOptions): Promise<Cluster> {
  const badVars = Object.keys(opts.env ?? {}).filter((k) => TOPOLOGY_VARS.includes(k));
  if (badVars.length) throw new TypeError(`startCluster: ${badVars.join(', ')} are computed by the launcher; use opts.ports / opts.dataDir`);
  const given = opts.ports ?? {};
  const picksPorts = given.frontend === undefined || given.frontendInternal === undefined || given.catalog === undefined || given.replicas === undefined;
  for (let attempt = 1; ; attempt++) {
    const ports = await fillPorts(given);
    try {
      return await launch(opts, ports);
    } catch (err) {
      // Only our own port picks can be retried; a fixed port in use is the caller's to fix.
      if (!(picksPorts && attempt < START_ATTEMPTS && err instanceof ClusterStartError && err.addressInUse)) throw err;
    }
  }
}

async function fillPorts(given: Partial<ClusterPorts>): Promise<ClusterPorts> {
  const free = await freePorts(6);
  const used = new Set([given.frontend, given.frontendInternal, given.catalog, ...(given.replicas ?? [])]);
  const pool = free.filter((p) => !used.has(p));
  const next = () => pool.shift()!;
  return {
    frontend: given.frontend ?? next(),
    frontendInternal: given.frontendInternal ?? next(),
    catalog: given.catalog ?? next(),
    replicas: given.replicas ?? [next(), next(), next()],
  };
}

interface Proc {
  child: ChildProcess;
  pid: number;
  paused: boolean;
  expected: boolean;
  exited: boolean;
  exit: Promise<ExitInfo>;
  /** Resolves on the `listening on` line; rejects if the process exits first. */
  ready: Promise<void>;
}

async function launch(opts: StartClusterOptions, ports: ClusterPorts): Promise<Cluster> {
  const dataDir = path.resolve(opts.dataDir);
  const output = opts.output ?? prefixedOutput();
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const host = '127.0.0.1';
  const urls: ClusterUrls = {
    frontend: `http://${host}:${ports.frontend}`,
    frontendInternal: `http://${host}:${ports.frontendInternal}`,
    catalog: `http://${host}:${ports.catalog}`,
    replicas: { 1: `http://${host}:${ports.replicas[0]}`, 2: `http://${host}:${ports.replicas[1]}`, 3: `http://${host}:${ports.replicas[2]}` },
  };

  const common: Record<string, string> = {
    ...opts.env,
    ...(opts.heartbeatIntervalMs !== undefined && { HEARTBEAT_INTERVAL_MS: String(opts.heartbeatIntervalMs) }),
    ...(opts.restockIntervalMs !== undefined && { RESTOCK_INTERVAL_MS: String(opts.restockIntervalMs) }),
    FRONTEND_PORT: String(ports.frontend),
    FRONTEND_INTERNAL_PORT: String(ports.frontendInternal),
    CATALOG_PORT: String(ports.catalog),
    CATALOG_URL: urls.catalog,
    FRONTEND_URL: urls.frontendInternal,
    ORDER_REPLICAS: REPLICA_IDS.map((id) => `${id}=${urls.replicas[id]}`).join(','),
    DATA_DIR: dataDir,
  };
  const viewOf = (from: ServiceName): Record<string, string> => {
    const link = (to: ServiceName, realUrl: string) => {
      if (!opts.links) return realUrl;
      const routed = opts.links(from, to, realUrl);
      if (!/^http:\/\/[^/]+$/.test(routed)) throw new TypeError(`startCluster: links(${from}, ${to}) returned ${JSON.stringify(routed)}, not an http://host:port origin`);
      return routed;
    };
    const replicasSeenBy = () => REPLICA_IDS.map((id) => `${id}=${from === `order-${id}` ? urls.replicas[id] : link(`order-${id}`, urls.replicas[id])}`).join(',');
    if (from === 'catalog') return { ...common, FRONTEND_URL: link('frontend', urls.frontendInternal) };
    if (from === 'frontend') return { ...common, CATALOG_URL: link('catalog', urls.catalog), ORDER_REPLICAS: replicasSeenBy() };
    return { ...common, CATALOG_URL: link('catalog', urls.catalog), ORDER_REPLICAS: replicasSeenBy(), ORDER_ID: from.slice('order-'.length) };
  };
  // Computed once, so a restarted process sees the same links as before.
  const envs = new Map(SERVICE_NAMES.map((s) => [s, viewOf(s)] as const));
  const envOf = (service: ServiceName): Record<string, string> => ({ ...envs.get(service)! });
  const inherited: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !CONFIG_VARS.includes(k)) inherited[k] = v;

  const procs = new Map<ServiceName, Proc>();
  const recent: string[] = [];
  let stopping: Promise<void> | null = null;

  const remember = (service: ServiceName, line: string) => {
    recent.push(`[${service}] ${line}`);
    if (recent.length > RECENT_LINES) recent.shift();
  };

  function spawnService(service: ServiceName): Proc {
    const child = spawn(process.execPath, ['--import', tsxLoader(), '--import', ORPHAN_GUARD, path.join(REPO_ROOT, ENTRY[service])], {
      cwd: REPO_ROOT,
      env: { ...inherited, ...envOf(service) },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: false,
    });
    let onReady!: () => void;
    let onEarlyExit!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onEarlyExit = reject;
    });
    ready.catch(() => {}); // observed by whoever waits; never an unhandled rejection
    const onLine = (line: string) => {
      remember(service, line);
      try {
        output(service, line);
      } catch {
        // a throwing output callback must not take the launcher down
      }
      if (READY_RE.test(line)) onReady();
    };
    pipeLines(child.stdout!, onLine);
    pipeLines(child.stderr!, onLine);
    child.stdin!.on('error', () => {}); // EPIPE once the child is gone

    const proc: Proc = {
      child,
      pid: child.pid ?? -1,
      paused: false,
      expected: false,
      exited: false,
      ready,
      exit: new Promise<ExitInfo>((resolve) => {
        const done = (code: number | null, signal: NodeJS.Signals | null) => {
          if (proc.exited) return;
          proc.exited = true;
          const info: ExitInfo = { service, pid: proc.pid, code, signal, expected: proc.expected };
          onEarlyExit(new Error(`${service} exited (${describeExit(info)}) before it was listening`));
          try {
            opts.onExit?.(info);
          } catch {
            // as for output
          }
          resolve(info);
        };
        // 'close' comes after 'exit' once stdout/stderr are drained, so no line is lost.
        child.once('close', done);
        child.once('error', (err) => {
          remember(service, `spawn failed: ${err.message}`);
          done(null, null);
        });
      }),
    };
    procs.set(service, proc);
    return proc;
  }

  /** Waits for `listening on`, failing on exit or at the deadline. */
  async function waitReady(service: ServiceName, proc: Proc, deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${service} did not report listening within ${readyTimeoutMs} ms`)), Math.max(0, deadline - Date.now()));
    });
    try {
      await Promise.race([proc.ready, timeout]);
    } catch (err) {
      throw new ClusterStartError((err as Error).message, [...recent]);
    } finally {
      clearTimeout(timer);
    }
  }

  const live = (service: ServiceName): Proc | null => {
    const p = procs.get(service);
    return p && !p.exited ? p : null;
  };

  // Last resort when the parent exits without stop(): SIGTERM (+SIGCONT) synchronously.
  const onParentExit = () => {
    for (const p of procs.values()) {
      if (p.exited) continue;
      trySignal(p.pid, 'SIGTERM');
      trySignal(p.pid, 'SIGCONT');
    }
  };
  process.on('exit', onParentExit);

  async function kill(service: ServiceName, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = live(service);
    if (!p) return;
    p.expected = true;
    trySignal(p.pid, signal);
    // A stopped process only acts on a catchable signal once continued.
    if (p.paused && signal !== 'SIGKILL' && signal !== 'SIGSTOP') {
      trySignal(p.pid, 'SIGCONT');
      p.paused = false;
    }
    await p.exit;
  }

  async function stop(): Promise<void> {
    stopping ??= (async () => {
      const running = [...procs.values()].filter((p) => !p.exited);
      for (const p of running) {
        p.expected = true;
        trySignal(p.pid, 'SIGTERM');
        if (p.paused) trySignal(p.pid, 'SIGCONT');
      }
      if (!(await within(Promise.all(running.map((p) => p.exit)), STOP_DEADLINE_MS))) {
        const stragglers = running.filter((p) => !p.exited);
        for (const p of stragglers) trySignal(p.pid, 'SIGKILL');
        await within(Promise.all(stragglers.map((p) => p.exit)), KILL_DEADLINE_MS);
      }
      process.off('exit', onParentExit);
    })();
    return stopping;
  }

  // restart() calls on one service run one after another (two at once would race for its port).
  const restarts = new Map<ServiceName, Promise<void>>();
  function restart(service: ServiceName): Promise<void> {
    const run = (restarts.get(service) ?? Promise.resolve()).catch(() => {}).then(() => restartNow(service));
    restarts.set(service, run);
    return run;
  }

  async function restartNow(service: ServiceName): Promise<void> {
    if (stopping) throw new Error(`cannot restart ${service}: the cluster is stopped`);
    if (live(service)) await kill(service, 'SIGTERM');
    if (stopping) throw new Error(`cannot restart ${service}: the cluster is stopped`);
    const proc = spawnService(service);
    try {
      await waitReady(service, proc, Date.now() + readyTimeoutMs);
    } catch (err) {
      await kill(service);
      throw err;
    }
  }

  const cluster: Cluster = {
    urls,
    ports,
    dataDir,
    pids() {
      const out = {} as Record<ServiceName, number | null>;
      for (const s of SERVICE_NAMES) out[s] = live(s)?.pid ?? null;
      return out;
    },
    isRunning: (service) => live(service) !== null,
    envOf,
    kill,
    restart,
    async pause(service) {
      const p = live(service);
      if (!p) throw new Error(`cannot pause ${service}: not running`);
      trySignal(p.pid, 'SIGSTOP');
      p.paused = true;
      await untilState(p, (state) => state === 'T');
    },
    async resume(service) {
      const p = live(service);
      if (!p) throw new Error(`cannot resume ${service}: not running`);
      trySignal(p.pid, 'SIGCONT');
      p.paused = false;
      await untilState(p, (state) => state !== 'T');
    },
    stop,
  };

  try {
    const deadline = Date.now() + readyTimeoutMs;
    const backends: ServiceName[] = ['catalog', 'order-1', 'order-2', 'order-3'];
    const started = backends.map((s) => [s, spawnService(s)] as const);
    await Promise.all(started.map(([s, p]) => waitReady(s, p, deadline)));
    await waitReady('frontend', spawnService('frontend'), deadline);
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}

/** Splits a stream into lines (a last line without newline is delivered at the end). */
export function pipeLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i).replace(/\r$/, ''));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => {
    if (buf) onLine(buf);
    buf = '';
  });
}

/**
 * Waits (up to 2 s) until the process state letter in /proc/<pid>/stat satisfies `ok`
 * ('T' = stopped). Returns at once where there is no /proc, or when the process has exited.
 */
async function untilState(p: Proc, ok: (state: string) => boolean): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!p.exited && Date.now() < deadline) {
    let stat: string;
    try {
      stat = await readFile(`/proc/${p.pid}/stat`, 'utf8');
    } catch {
      return;
    }
    // "pid (comm) S ...": comm may hold spaces and parentheses, so cut at the last ')'.
    if (ok(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  // Never 0 or negative: those address process groups (-1 would be every process we may signal).
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone (ESRCH): its exit event is on the way
  }
}

/** True if `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export function describeExit(info: Pick<ExitInfo, 'code' | 'signal'>): string {
  return info.signal ? `signal ${info.signal}` : `code ${info.code}`;
}
