/**
 * One service as a child process: `node --import <tsx loader> --import <orphan guard>
 * <service>/main.ts` from the sources, or `node --import <orphan guard> <built>/<service>/main.js`
 * from a production build (scripts/lib/build: what a production host runs, with no TypeScript
 * compiled at start). Spawned with `process.execPath` so the PID held is the service itself (no
 * npx/sh wrapper in between: a SIGKILL or SIGSTOP hits the real process). `spawnChild` returns
 * a `Proc` whose `ready` settles on the `listening on` line (or the exit before it) and whose
 * `exit` settles once the process is gone and its output drained.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SERVICE_ENTRIES, sourceEntryOf } from '../build/build.ts';
import { pipeLines } from './output.ts';
import { describeExit } from './signals.ts';
import { ClusterStartError, type ExitInfo, type ServiceName } from './types.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Which program each service runs: its key in the build's `SERVICE_ENTRIES`. */
const PROGRAM: Record<ServiceName, keyof typeof SERVICE_ENTRIES> = {
  catalog: 'catalog',
  'order-1': 'order',
  'order-2': 'order',
  'order-3': 'order',
  frontend: 'frontend',
};
const READY_RE = /listening on http:\/\//;

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
  tsxLoaderUrl ??= pathToFileURL(
    createRequire(path.join(REPO_ROOT, 'package.json')).resolve('tsx'),
  ).href;
  return tsxLoaderUrl;
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  paused: boolean;
  expected: boolean;
  exited: boolean;
  /**
   * The kernel has released its PID (Node reaps on 'exit', before 'close' drains the output). From
   * then on the PID may belong to another process (PIDs wrap at 32768 here), so it is never
   * signalled or looked up again.
   */
  reaped: boolean;
  exit: Promise<ExitInfo>;
  /** Resolves on the `listening on` line; rejects if the process exits first. */
  ready: Promise<void>;
}

export interface ChildHooks {
  /** Every stdout/stderr line. Must not throw (callers wrap user callbacks). */
  onLine: (line: string, stream: 'stdout' | 'stderr') => void;
  onExit: (info: ExitInfo) => void;
}

/**
 * Node's arguments for `service`: its compiled entry in `builtDir` (absolute), or its TypeScript
 * source under tsx. The source entry is the built one with `.ts` for `.js`: the build compiles
 * the tree as it is (scripts/lib/build), so one table names both.
 */
function childArgs(service: ServiceName, builtDir?: string): string[] {
  const entry = SERVICE_ENTRIES[PROGRAM[service]];
  return builtDir
    ? ['--import', ORPHAN_GUARD, path.join(builtDir, entry)]
    : [
        '--import',
        tsxLoader(),
        '--import',
        ORPHAN_GUARD,
        path.join(REPO_ROOT, sourceEntryOf(entry)),
      ];
}

export function spawnChild(
  service: ServiceName,
  env: Record<string, string>,
  hooks: ChildHooks,
  /** A production build to run (absolute); undefined: the sources under tsx. */
  builtDir?: string,
): Proc {
  const child = spawn(process.execPath, childArgs(service, builtDir), {
    cwd: REPO_ROOT,
    env,
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
  const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
    hooks.onLine(line, stream);
    if (READY_RE.test(line)) onReady();
  };
  pipeLines(child.stdout!, onLine('stdout'));
  pipeLines(child.stderr!, onLine('stderr'));
  child.stdin!.on('error', () => {}); // EPIPE once the child is gone

  const proc: Proc = {
    child,
    pid: child.pid ?? -1,
    paused: false,
    expected: false,
    exited: false,
    reaped: false,
    ready,
    exit: null as unknown as Promise<ExitInfo>,
  };
  proc.exit = new Promise<ExitInfo>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      if (proc.exited) return;
      proc.exited = true;
      const info: ExitInfo = { service, pid: proc.pid, code, signal, expected: proc.expected };
      onEarlyExit(new Error(`${service} exited (${describeExit(info)}) before it was listening`));
      hooks.onExit(info);
      resolve(info);
    };
    child.once('exit', () => (proc.reaped = true));
    // 'close' comes after 'exit' once stdout/stderr are drained, so no line is lost.
    child.once('close', done);
    child.once('error', (err) => {
      hooks.onLine(`spawn failed: ${err.message}`, 'stderr');
      done(null, null);
    });
  });
  return proc;
}

/** Waits for `listening on`, failing on exit or at the deadline (with the recent output). */
export async function waitReady(
  service: ServiceName,
  proc: Proc,
  deadline: number,
  readyTimeoutMs: number,
  recent: () => string[],
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${service} did not report listening within ${readyTimeoutMs} ms`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    await Promise.race([proc.ready, timeout]);
  } catch (err) {
    throw new ClusterStartError((err as Error).message, recent());
  } finally {
    clearTimeout(timer);
  }
}

/** Sends `signal` to the process unless its PID was already released (see `Proc.reaped`). */
export function signalProc(p: Proc, signal: NodeJS.Signals): void {
  if (p.reaped || p.exited) return;
  try {
    p.child.kill(signal);
  } catch {
    // already gone: its exit event is on the way
  }
}
