/**
 * One service as a real child process, started by a test outside the cluster launcher: with a
 * lowered open-file limit (`ulimit -n`, through `sh -c '... exec node ...'`, so the PID we hold is
 * the service itself), or with an environment the launcher cannot express (a second frontend, a
 * catalog pushing to two). It resolves once the service prints its `listening on` line, and
 * `stop()` SIGTERMs it (SIGKILL after a deadline). Not a test file: vitest only runs *.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pipeLines } from '../../scripts/lib/cluster/index.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = pathToFileURL(createRequire(path.join(REPO_ROOT, 'package.json')).resolve('tsx')).href;

export interface ServiceProcess {
  pid: number;
  lines: string[];
  isRunning(): boolean;
  stop(): Promise<void>;
}

export async function startService(opts: {
  /** e.g. 'frontend/main.ts' */
  entry: string;
  env: Record<string, string>;
  /** `ulimit -n` for the process (soft and hard). */
  fileLimit?: number;
  readyTimeoutMs?: number;
}): Promise<ServiceProcess> {
  const node = [process.execPath, '--import', TSX, path.join(REPO_ROOT, opts.entry)];
  const [cmd, ...args] =
    opts.fileLimit === undefined
      ? node
      : ['/bin/sh', '-c', `ulimit -n ${opts.fileLimit} && exec "$@"`, 'sh', ...node];
  const child: ChildProcess = spawn(cmd!, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('close', () => ((exited = true), resolve())),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${opts.entry} did not start:\n${lines.join('\n')}`)),
      opts.readyTimeoutMs ?? 20_000,
    );
    const onLine = (line: string) => {
      lines.push(line);
      if (lines.length > 500) lines.shift();
      if (/listening on http:\/\//.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    };
    pipeLines(child.stdout!, onLine);
    pipeLines(child.stderr!, onLine);
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`${opts.entry} exited before it was listening:\n${lines.join('\n')}`));
    });
  });
  const handle: ServiceProcess = {
    pid: child.pid!,
    lines,
    isRunning: () => !exited,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      await exit;
      clearTimeout(killer);
    },
  };
  try {
    await ready;
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}
