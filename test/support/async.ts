/**
 * Test helpers shared across suites: a promise a test settles by hand, polling a condition with a
 * deadline (in real or logical time), and running one of the project's CLI scripts as a real
 * child process.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Runs `scripts/<script>` under tsx from the repo root (`env` added to this process's); resolves
 * with its exit code and output.
 */
export function runScript(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runTs(`scripts/${script}`, args, env);
}

export interface RunOptions {
  /** The environment `env` is added to; default this process's. */
  baseEnv?: Record<string, string | undefined>;
  /** SIGKILL the child after this long (its code is then null). */
  timeoutMs?: number;
}

/** Runs any .ts file of the repo (a path from its root) under tsx, as runScript does. */
export function runTs(
  file: string,
  args: string[],
  env: Record<string, string> = {},
  o: RunOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
      cwd: ROOT,
      env: { ...(o.baseEnv ?? process.env), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer =
      o.timeoutMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface UntilOptions {
  /** How long to keep trying, in the time `now` measures. Default 20 s. */
  deadlineMs?: number;
  /** Pause between tries. Default 25 ms. */
  everyMs?: number;
  /** The time the deadline is measured in (a ManualClock's `now`); default real monotonic time. */
  now?: () => number;
  /** Lets `ms` pass between tries (a ManualClock's `advance`); default a real timer. */
  pass?: (ms: number) => Promise<void>;
  /** With logical time: also give up after this much real time (a story that never converges). */
  realDeadlineMs?: number;
  /** Appended to the timeout error: recent output, events... */
  context?: () => string;
}

const realPass = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `check` until it returns something other than undefined, with a deadline: the one
 * poll-with-deadline every test uses (never a bare sleep). A check that throws means "not yet";
 * the last error is in the timeout message.
 */
export async function pollFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  o: UntilOptions = {},
): Promise<T> {
  const now = o.now ?? (() => performance.now());
  const pass = o.pass ?? realPass;
  const end = now() + (o.deadlineMs ?? 20_000);
  const realEnd = performance.now() + Math.max(o.realDeadlineMs ?? 0, o.now ? 20_000 : 0);
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (now() > end || (o.now && performance.now() > realEnd)) {
      const why = last === undefined ? '' : `: ${String(last)}`;
      const context = o.context?.();
      throw new Error(`timed out waiting until ${what}${why}${context ? `\n${context}` : ''}`);
    }
    await pass(o.everyMs ?? 25);
  }
}

/** Polls `cond` until it holds (see pollFor); resolves with how long that took, in `now`'s time. */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  o: UntilOptions = {},
): Promise<number> {
  const now = o.now ?? (() => performance.now());
  const start = now();
  await pollFor(what, async () => ((await cond()) ? true : undefined), o);
  return now() - start;
}
