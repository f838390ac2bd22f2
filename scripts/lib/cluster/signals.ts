/** Signalling child processes by PID, and waiting for what a signal did. */
import { readFile } from 'node:fs/promises';
import type { ExitInfo } from './types.ts';

/**
 * Waits (up to 2 s) until the process state letter in /proc/<pid>/stat satisfies `ok`
 * ('T' = stopped). Returns at once where there is no /proc, or when the process has exited.
 */
export async function untilState(
  p: { pid: number; exited: boolean; reaped?: boolean },
  ok: (state: string) => boolean,
): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!p.exited && !p.reaped && Date.now() < deadline) {
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

export function trySignal(pid: number, signal: NodeJS.Signals): void {
  // Never 0 or negative: those address process groups (-1 would be every process we may signal).
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone (ESRCH): its exit event is on the way
  }
}

/** True if `p` settled within `ms`. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
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
