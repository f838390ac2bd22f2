/**
 * The process launcher: starts the whole store (catalog, order replicas 1..3, frontend) as real
 * child processes and hands back a handle to kill, pause, restart and stop them one by one.
 *
 * Used by `npm start` (scripts/start.ts), by the end-to-end tests and by chaos/bench tools, so it
 * is a plain library: importing it starts nothing and installs nothing. Every child's
 * configuration is computed from the options (ports, URLs, ORDER_ID, DATA_DIR), never inherited
 * from the parent's environment, so a test cannot accidentally talk to a developer's running
 * store. The `links` option gives each process its own view of its peers' URLs, so a chaos tool
 * can route chosen links through fault proxies (scripts/lib/fault-proxy).
 *
 * Each child is `node --import <tsx loader> --import <orphan guard> <service>/main.ts`, or with
 * `builtDir` the production build's `node --import <orphan guard> <builtDir>/<service>/main.js`
 * (child.ts), spawned with `process.execPath` so the PID we hold is the service itself (no
 * npx/sh wrapper in between: a SIGKILL or SIGSTOP hits the real process). Children must not
 * outlive the parent:
 *  - the parent's `exit` event SIGTERMs (and SIGCONTs) every child still running;
 *  - the orphan guard, preloaded into every child, watches a pipe on the child's stdin that only
 *    the parent holds: when the parent dies in any way (even SIGKILL) the kernel closes it, the
 *    child sees EOF and SIGTERMs itself, which runs the service's normal graceful shutdown.
 *  Limit: a child that is SIGSTOPped when the parent is SIGKILLed cannot act until continued
 *  (the kernel does SIGHUP+SIGCONT it when its process group becomes orphaned, as with
 *  `npm start` from a shell, but not when the group lives on, e.g. inside a test runner).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { SERVICE_ENTRIES } from '../build/build.ts';
import { signalProc, spawnChild, waitReady, type Proc } from './child.ts';
import { newClusterSecret } from '../../../shared/auth.ts';
import { inheritedEnv, SECRET_VARS, serviceEnvs, TOPOLOGY_VARS, urlsOf } from './env.ts';
import { prefixedOutput } from './output.ts';
import { fillPorts, portsTaken } from './ports.ts';
import { untilState, within } from './signals.ts';
import {
  ClusterStartError,
  SERVICE_NAMES,
  type Cluster,
  type ClusterPorts,
  type ClusterUrls,
  type ServiceName,
  type StartClusterOptions,
} from './types.ts';

/**
 * For all five to print `listening on`. Generous: on a busy machine five tsx processes take tens
 * of seconds to start, and a service that cannot listen says so and exits at once anyway.
 */
const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** Services give themselves 5 s to shut down (shared/serve.ts); allow a little more. */
const STOP_DEADLINE_MS = 8_000;
const KILL_DEADLINE_MS = 3_000;
const RECENT_LINES = 200;
const START_ATTEMPTS = 3;

/** Starts the store; resolves once every service printed its `listening on` line. */
export async function startCluster(options: StartClusterOptions): Promise<Cluster> {
  const badVars = Object.keys(options.env ?? {}).filter((k) => TOPOLOGY_VARS.includes(k));
  if (badVars.length)
    throw new TypeError(
      `startCluster: ${badVars.join(', ')} are computed by the launcher; use opts.ports / opts.dataDir`,
    );
  const secretVars = Object.keys(options.env ?? {}).filter((k) => SECRET_VARS.includes(k));
  if (secretVars.length)
    throw new TypeError(`startCluster: ${secretVars.join(', ')} come from opts.clusterSecret`);
  // One secret for the whole launch (port retries and restarts included): a cluster of its own.
  const opts = {
    ...options,
    clusterSecret: options.clusterSecret === undefined ? newClusterSecret() : options.clusterSecret,
    builtDir: options.builtDir === undefined ? undefined : await checkBuild(options.builtDir),
  };
  const given = opts.ports ?? {};
  const picksPorts =
    given.frontend === undefined ||
    given.frontendInternal === undefined ||
    given.catalog === undefined ||
    given.replicas === undefined;
  for (let attempt = 1; ; attempt++) {
    const ports = await fillPorts(given);
    const cluster = new LaunchedCluster(opts, ports);
    try {
      await cluster.startAll();
      return cluster;
    } catch (err) {
      // Only our own port picks can be retried; a fixed port in use is the caller's to fix (and
      // retrying would only fail the same way twice more).
      if (
        !(
          picksPorts &&
          attempt < START_ATTEMPTS &&
          err instanceof ClusterStartError &&
          err.addressInUse
        )
      )
        throw err;
      if ((await portsTaken(fixedPorts(given))).length > 0) throw err;
    }
  }
}

/**
 * The build's absolute path, once each entry is there: a wrong directory is the caller's mistake,
 * said as such, rather than five children each exiting with a module-not-found trace.
 */
async function checkBuild(builtDir: string): Promise<string> {
  const dir = path.resolve(builtDir);
  for (const entry of Object.values(SERVICE_ENTRIES)) {
    const file = path.join(dir, entry);
    const found = await fs.stat(file).then(
      (st) => st.isFile(),
      () => false,
    );
    if (!found)
      throw new TypeError(
        `startCluster: builtDir ${dir} is not a build (no ${entry}; npm run build)`,
      );
  }
  return dir;
}

function fixedPorts(given: Partial<ClusterPorts>): number[] {
  return [given.frontend, given.frontendInternal, given.catalog, ...(given.replicas ?? [])].filter(
    (p): p is number => p !== undefined && p !== 0,
  );
}

/** The handle: one `Proc` per service at a time, all signalled by PID. */
class LaunchedCluster implements Cluster {
  readonly urls: ClusterUrls;
  readonly dataDir: string;
  readonly clusterSecret: string | null;
  private readonly envs: Map<ServiceName, Record<string, string>>;
  private readonly inherited = inheritedEnv();
  private readonly output: NonNullable<StartClusterOptions['output']>;
  private readonly readyTimeoutMs: number;
  private readonly procs = new Map<ServiceName, Proc>();
  private readonly recent: string[] = [];
  private stopping: Promise<void> | null = null;
  /** restart() calls on one service run one after another (two at once would race for its port). */
  private readonly restarts = new Map<ServiceName, Promise<void>>();
  /** Last resort when the parent exits without stop(): SIGTERM (+SIGCONT) synchronously. */
  private readonly onParentExit = () => {
    for (const p of this.procs.values()) {
      if (p.exited) continue;
      signalProc(p, 'SIGTERM');
      signalProc(p, 'SIGCONT');
    }
  };

  constructor(
    private readonly opts: StartClusterOptions,
    readonly ports: ClusterPorts,
  ) {
    this.dataDir = path.resolve(opts.dataDir);
    this.clusterSecret = opts.clusterSecret ?? null;
    this.urls = urlsOf(ports);
    this.envs = serviceEnvs(opts, ports, this.urls);
    this.output = opts.output ?? prefixedOutput();
    this.readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    process.on('exit', this.onParentExit);
  }

  /** The catalog and replicas first, then the frontend (so it finds a leader at once). */
  async startAll(): Promise<void> {
    try {
      const deadline = Date.now() + this.readyTimeoutMs;
      const backends: ServiceName[] = ['catalog', 'order-1', 'order-2', 'order-3'];
      const started = backends.map((s) => [s, this.spawn(s)] as const);
      await Promise.all(started.map(([s, p]) => this.waitReady(s, p, deadline)));
      await this.waitReady('frontend', this.spawn('frontend'), deadline);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  pids(): Record<ServiceName, number | null> {
    const out = {} as Record<ServiceName, number | null>;
    for (const s of SERVICE_NAMES) out[s] = this.live(s)?.pid ?? null;
    return out;
  }
  isRunning(service: ServiceName): boolean {
    return this.live(service) !== null;
  }
  envOf(service: ServiceName): Record<string, string> {
    return { ...this.envs.get(service)! };
  }

  async kill(service: ServiceName, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.live(service);
    if (!p) return;
    p.expected = true;
    signalProc(p, signal);
    // A stopped process only acts on a catchable signal once continued.
    if (p.paused && signal !== 'SIGKILL' && signal !== 'SIGSTOP') {
      signalProc(p, 'SIGCONT');
      p.paused = false;
    }
    await p.exit;
  }

  restart(service: ServiceName): Promise<void> {
    const run = (this.restarts.get(service) ?? Promise.resolve())
      .catch(() => {})
      .then(() => this.restartNow(service));
    this.restarts.set(service, run);
    return run;
  }

  async pause(service: ServiceName): Promise<void> {
    const p = this.live(service);
    if (!p) throw new Error(`cannot pause ${service}: not running`);
    signalProc(p, 'SIGSTOP');
    p.paused = true;
    await untilState(p, (state) => state === 'T');
  }

  async resume(service: ServiceName): Promise<void> {
    const p = this.live(service);
    if (!p) throw new Error(`cannot resume ${service}: not running`);
    signalProc(p, 'SIGCONT');
    p.paused = false;
    await untilState(p, (state) => state !== 'T');
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    const running = [...this.procs.values()].filter((p) => !p.exited);
    for (const p of running) {
      p.expected = true;
      signalProc(p, 'SIGTERM');
      if (p.paused) signalProc(p, 'SIGCONT');
    }
    if (!(await within(Promise.all(running.map((p) => p.exit)), STOP_DEADLINE_MS))) {
      const stragglers = running.filter((p) => !p.exited);
      for (const p of stragglers) signalProc(p, 'SIGKILL');
      await within(Promise.all(stragglers.map((p) => p.exit)), KILL_DEADLINE_MS);
    }
    process.off('exit', this.onParentExit);
  }

  private async restartNow(service: ServiceName): Promise<void> {
    if (this.stopping) throw new Error(`cannot restart ${service}: the cluster is stopped`);
    if (this.live(service)) await this.kill(service, 'SIGTERM');
    if (this.stopping) throw new Error(`cannot restart ${service}: the cluster is stopped`);
    const proc = this.spawn(service);
    try {
      await this.waitReady(service, proc, Date.now() + this.readyTimeoutMs);
    } catch (err) {
      await this.kill(service);
      throw err;
    }
  }

  private spawn(service: ServiceName): Proc {
    const proc = spawnChild(
      service,
      { ...this.inherited, ...this.envOf(service) },
      {
        onLine: (line, stream) => {
          this.remember(service, line);
          try {
            this.output(service, line, stream);
          } catch {
            // a throwing output callback must not take the launcher down
          }
        },
        onExit: (info) => {
          try {
            this.opts.onExit?.(info);
          } catch {
            // as for output
          }
        },
      },
      this.opts.builtDir,
    );
    this.procs.set(service, proc);
    return proc;
  }

  private waitReady(service: ServiceName, proc: Proc, deadline: number): Promise<void> {
    return waitReady(service, proc, deadline, this.readyTimeoutMs, () => [...this.recent]);
  }

  private remember(service: ServiceName, line: string): void {
    this.recent.push(`[${service}] ${line}`);
    if (this.recent.length > RECENT_LINES) this.recent.shift();
  }

  private live(service: ServiceName): Proc | null {
    const p = this.procs.get(service);
    return p && !p.exited ? p : null;
  }
}
