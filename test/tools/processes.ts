/**
 * Entry points as a person runs them, for the tests that check what they print: a service's
 * main.ts or a CLI under tsx (or through npm), and `npm start` (scripts/start.ts) held open
 * until the test stops it. Every run gets an environment without the store's variables from the
 * test runner's own (so a developer's LOG_LEVEL cannot change what a test sees), ephemeral ports
 * and a temporary data dir where it starts servers. Not a test file: vitest runs only *.test.ts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTING_NAMES } from '../../shared/config.ts';
import { pipeLines } from '../../scripts/lib/cluster/index.ts';
import { runTs as supportRunTs } from '../support/async.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The runner's environment minus every variable of the config table. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !SETTING_NAMES.has(k)) env[k] = v;
  return { ...env, ...extra };
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed at `timeoutMs`, which fails the run's code). */
export function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * A repo file under tsx (test/support/async.ts's runTs) with none of the runner's store variables.
 */
export const runTs = (
  file: string,
  args: string[] = [],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
) => supportRunTs(file, args, env, { baseEnv: cleanEnv(), timeoutMs });

/** A process's environment as the kernel holds it (/proc/<pid>/environ). */
export async function environOf(pid: number): Promise<Record<string, string>> {
  const raw = await fs.readFile(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

export interface Store {
  pid: number;
  dataDir: string;
  stdout: string[];
  stderr: string[];
  /** Resolves with the exit once the process is gone. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGINT, as Ctrl-C; resolves with the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const ALL_PORTS_FREE = {
  FRONTEND_PORT: '0',
  FRONTEND_INTERNAL_PORT: '0',
  CATALOG_PORT: '0',
  ORDER_REPLICAS: '1=http://127.0.0.1:0,2=http://127.0.0.1:0,3=http://127.0.0.1:0',
};

/**
 * `npm start` (scripts/start.ts under tsx, so the PID is its own) on free ports in a fresh
 * DATA_DIR.
 */
export async function startStore(env: Record<string, string> = {}): Promise<Store> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-start-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env: cleanEnv({ ...ALL_PORTS_FREE, DATA_DIR: dataDir, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  pipeLines(child.stdout!, (l) => stdout.push(l));
  pipeLines(child.stderr!, (l) => stderr.push(l));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  let stopped: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  return {
    pid: child.pid!,
    dataDir,
    stdout,
    stderr,
    exit,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
        const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        const r = await exit;
        clearTimeout(killer);
        await fs.rm(dataDir, { recursive: true, force: true });
        return r;
      })();
      return stopped;
    },
  };
}

/**
 * The PIDs `npm start` printed in its "toystore is up" table (` order-1 http://... pid 123`).
 */
export function pidsPrinted(lines: readonly string[]): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const l of lines) {
    const m = /^\s+(catalog|frontend|order-[123])\s+http:\/\/\S+\s+pid (\d+)/.exec(l);
    if (m) pids[m[1]!] = Number(m[2]);
  }
  return pids;
}
