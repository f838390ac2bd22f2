/**
 * Runs named processes from a plain command line (`node dist/order/main.js`, `haproxy -f ...`,
 * or either behind `ip netns exec <ns>`), and kills, restarts and stops them one by one.
 *
 * Why not scripts/cluster.ts: that launcher starts exactly five services from source under tsx
 * on 127.0.0.1; here any number of processes run from the production build (or are not Node at
 * all), each wherever its command line puts it. What they share is reused: `pipeLines` and
 * `describeExit`.
 *
 * `ip netns exec` execs the command in place (no fork), so the PID held here is the service's
 * own and a SIGKILL hits it, not a wrapper. A process counts as started when `ready` says so:
 * a line it prints (a service's `listening on`) or a check that passes (polled with a deadline).
 * Every child gets a stdin pipe only this process holds; a Node child started with
 * `ORPHAN_GUARD` SIGTERMs itself when that pipe closes, so it cannot outlive us.
 *
 * Shaped as one class, `ProcTable` (the table of named processes, what a caller holds), over two
 * named phases of a start that need nothing of the table: `spawnProc` (the child, its output and
 * its exit) and `waitStarted` (ready, exited or timed out, whichever comes first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { describeExit, pipeLines } from '../cluster/index.ts';

export interface ProcSpec {
  name: string;
  command: string;
  args: string[];
  /** The whole environment of the child (nothing is inherited that is not here). */
  env: Record<string, string>;
  cwd?: string;
  /** When it counts as started: a line it prints, or a check polled until true. */
  ready: { line: RegExp } | { check: () => Promise<boolean> };
  readyTimeoutMs?: number;
}

export interface ProcExit {
  name: string;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Caused by kill/stop/restart here; false for a crash. */
  expected: boolean;
}

export interface Procs {
  start(spec: ProcSpec): Promise<void>;
  /** Signal (default SIGKILL) and wait for the exit; at once if not running. */
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again from the spec it was first started with. */
  restart(name: string): Promise<void>;
  isRunning(name: string): boolean;
  pid(name: string): number | null;
  /** Every PID ever started here (for the leak check after teardown). */
  allPids(): number[];
  /** SIGTERM all, SIGKILL what is left after `graceMs`. Idempotent. */
  stopAll(graceMs?: number): Promise<void>;
}

/**
 * Preloaded into Node children (`node --import <ORPHAN_GUARD> ...`), a data: URL needing no file:
 * when the stdin pipe only the parent holds closes (the parent died, even by SIGKILL), SIGTERM
 * ourselves so the service's graceful shutdown runs.
 */
export const ORPHAN_GUARD = `data:text/javascript,${encodeURIComponent(
  "process.stdin.on('error',()=>{});process.stdin.on('end',()=>{process.kill(process.pid,'SIGTERM');setTimeout(()=>process.exit(1),10000).unref();});process.stdin.resume();process.stdin.unref?.();",
)}`;

interface Proc {
  spec: ProcSpec;
  child: ChildProcess;
  pid: number;
  expected: boolean;
  exited: boolean;
  exit: Promise<ProcExit>;
}

const DEFAULT_READY_TIMEOUT_MS = 20_000;

type ProcsOptions = {
  output: (name: string, line: string) => void;
  onExit?: (e: ProcExit) => void;
};

export function createProcs(opts: ProcsOptions): Procs {
  return new ProcTable(opts);
}

/**
 * Spawns `spec`'s child: output goes to `output` line by line; `line` resolves at its ready line.
 */
function spawnProc(spec: ProcSpec, opts: ProcsOptions): { proc: Proc; line: Promise<void> } {
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin!.on('error', () => {});
  let sawLine!: () => void;
  const line = new Promise<void>((resolve) => (sawLine = resolve));
  const onLine = (l: string) => {
    opts.output(spec.name, l);
    if ('line' in spec.ready && spec.ready.line.test(l)) sawLine();
  };
  pipeLines(child.stdout!, onLine);
  pipeLines(child.stderr!, onLine);
  const proc: Proc = {
    spec,
    child,
    pid: child.pid ?? -1,
    expected: false,
    exited: false,
    exit: new Promise<ProcExit>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (proc.exited) return;
        proc.exited = true;
        const e: ProcExit = {
          name: spec.name,
          pid: proc.pid,
          code,
          signal,
          expected: proc.expected,
        };
        opts.onExit?.(e);
        resolve(e);
      };
      child.once('close', done);
      child.once('error', (err) => {
        opts.output(spec.name, `spawn failed: ${err.message}`);
        done(null, null);
      });
    }),
  };
  return { proc, line };
}

/**
 * Resolves once `proc` counts as started; rejects if it exits first or its ready timeout passes.
 */
async function waitStarted(proc: Proc, line: Promise<void>): Promise<void> {
  const { spec } = proc;
  const deadline = Date.now() + (spec.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  const exited = proc.exit.then((e) =>
    Promise.reject(new Error(`${spec.name} exited (${describeExit(e)}) before it was started`)),
  );
  exited.catch(() => {});
  const started =
    'line' in spec.ready ? line : pollUntil(spec.ready.check, deadline, () => proc.exited);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) =>
      (timer = setTimeout(
        () =>
          reject(
            new Error(
              `${spec.name} did not start within ${spec.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS} ms`,
            ),
          ),
        deadline - Date.now(),
      )),
  );
  try {
    await Promise.race([started, exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The named processes started here, each with the spec it was first started with. */
class ProcTable implements Procs {
  private readonly procs = new Map<string, Proc>();
  private readonly pids = new Set<number>();
  private stopping: Promise<void> | null = null;
  // Last resort when this process exits without stopAll(): nothing started here outlives it
  // (haproxy has no orphan guard of its own).
  private readonly onProcessExit = () => {
    for (const p of this.procs.values()) if (!p.exited) signalPid(p.pid, 'SIGKILL');
  };

  constructor(private readonly opts: ProcsOptions) {
    process.on('exit', this.onProcessExit);
  }

  async start(spec: ProcSpec): Promise<void> {
    if (this.stopping) throw new Error(`cannot start ${spec.name}: stopping`);
    if (this.live(spec.name)) throw new Error(`${spec.name} is already running`);
    const { proc, line } = spawnProc(spec, this.opts);
    if (proc.pid > 0) this.pids.add(proc.pid);
    this.procs.set(spec.name, proc);
    try {
      await waitStarted(proc, line);
    } catch (err) {
      await this.kill(spec.name);
      throw err;
    }
  }

  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.live(name);
    if (!p) return;
    p.expected = true;
    signalPid(p.pid, signal);
    await p.exit;
  }

  async restart(name: string): Promise<void> {
    const spec = this.procs.get(name)?.spec;
    if (!spec) throw new Error(`unknown process ${name}`);
    await this.kill(name, 'SIGTERM');
    await this.start(spec);
  }

  isRunning(name: string): boolean {
    return this.live(name) !== null;
  }

  pid(name: string): number | null {
    return this.live(name)?.pid ?? null;
  }

  allPids(): number[] {
    return [...this.pids];
  }

  stopAll(graceMs = 8_000): Promise<void> {
    this.stopping ??= (async () => {
      await terminate(
        [...this.procs.values()].filter((p) => !p.exited),
        graceMs,
      );
      process.off('exit', this.onProcessExit);
    })();
    return this.stopping;
  }

  private live(name: string): Proc | null {
    const p = this.procs.get(name);
    return p && !p.exited ? p : null;
  }
}

/**
 * SIGTERM every one of `running`, SIGKILL what is left after `graceMs`, then wait up to 3 s more.
 */
async function terminate(running: Proc[], graceMs: number): Promise<void> {
  for (const p of running) {
    p.expected = true;
    signalPid(p.pid, 'SIGTERM');
  }
  if (!(await settlesWithin(Promise.all(running.map((p) => p.exit)), graceMs))) {
    for (const p of running) if (!p.exited) signalPid(p.pid, 'SIGKILL');
    await settlesWithin(Promise.all(running.map((p) => p.exit)), 3_000);
  }
}

/** Never 0 or negative: those address process groups. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls `cond` every 50 ms until it is true; rejects at the deadline or once `gone()`. */
export async function pollUntil(
  cond: () => Promise<boolean>,
  deadlineMs: number,
  gone: () => boolean = () => false,
): Promise<void> {
  while (Date.now() < deadlineMs && !gone()) {
    if (await cond().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!gone()) throw new Error('condition not met before the deadline');
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
