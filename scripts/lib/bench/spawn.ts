/**
 * Child processes the bench starts itself (the bare ceiling servers, a lone replica for the
 * start-up figure, the etcd members), as opposed to the store's clusters, which the launcher
 * (scripts/cluster.ts) owns. Each is held by PID and stopped by PID; whatever is still running
 * when the bench exits is SIGKILLed then (the CLI turns SIGINT/SIGTERM into an exit, so Ctrl-C
 * runs this too).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pipeLines } from '../cluster/index.ts';
import { REPO_ROOT } from './util.ts';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface Child {
  child: ChildProcess;
  pid: number;
  /** performance.now() just before spawn. */
  spawnedAt: number;
  /** Resolves once the process has exited (and its pipes are drained). */
  exited: Promise<void>;
  isRunning(): boolean;
  /** SIGTERM (or `signal`), SIGKILL after `graceMs`, and wait for the exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Spawns `command` and registers it to be killed if the bench exits first. */
export function spawnChild(command: string, args: readonly string[], opts: SpawnOptions): Child {
  const spawnedAt = performance.now();
  const child = spawn(command, args, opts);
  live.add(child);
  let running = true;
  const exited = new Promise<void>((resolve) => {
    const done = () => {
      running = false;
      live.delete(child);
      resolve();
    };
    child.once('close', done);
    child.once('error', done);
  });
  return {
    child,
    pid: child.pid ?? -1,
    spawnedAt,
    exited,
    isRunning: () => running,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 8_000) {
      if (!running) return;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}

let tsxLoaderUrl: string | null = null;
function tsxLoader(): string {
  tsxLoaderUrl ??= pathToFileURL(
    createRequire(path.join(REPO_ROOT, 'package.json')).resolve('tsx'),
  ).href;
  return tsxLoaderUrl;
}

export interface Spawned extends Child {
  /**
   * Resolves with performance.now() and the URL when a `listening on http://...` line appears;
   * rejects on exit first.
   */
  ready: Promise<{ at: number; url: string }>;
  /** Recent output lines (for error messages). */
  recent: string[];
}

/**
 * Spawns `node --import tsx <file> ...args` like scripts/cluster.ts does (process.execPath, so the
 * PID is the service itself). `nodeArgs` go before the loader (e.g. --cpu-prof).
 */
export function spawnTs(file: string, opts: SpawnServiceOptions = {}): Spawned {
  return spawnNode(['--import', tsxLoader(), path.resolve(REPO_ROOT, file)], file, opts);
}

export interface SpawnServiceOptions {
  args?: string[];
  env?: Record<string, string>;
  nodeArgs?: string[];
  timeoutMs?: number;
}

/** Spawns `node <file>` for a compiled file (the production build, `npm run build`): no loader. */
export function spawnBuilt(file: string, opts: SpawnServiceOptions = {}): Spawned {
  return spawnNode([file], file, opts);
}

function spawnNode(entry: string[], file: string, opts: SpawnServiceOptions): Spawned {
  const proc = spawnChild(
    process.execPath,
    [...(opts.nodeArgs ?? []), ...entry, ...(opts.args ?? [])],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const recent: string[] = [];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const ready = new Promise<{ at: number; url: string }>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `${file} did not report listening within ${timeoutMs} ms:\n${recent.join('\n')}`,
          ),
        ),
      timeoutMs,
    );
    const onLine = (line: string) => {
      recent.push(line);
      if (recent.length > 50) recent.shift();
      const m = /listening on (http:\/\/[^\s"]+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ at: performance.now(), url: m[1]!.replace(/\/$/, '') });
      }
    };
    for (const stream of [proc.child.stdout!, proc.child.stderr!]) pipeLines(stream, onLine);
    void proc.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${file} exited before listening:\n${recent.join('\n')}`));
    });
  });
  ready.catch(() => {});
  return { ...proc, ready, recent };
}
