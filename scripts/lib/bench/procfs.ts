/**
 * What each process costs, read from /proc: resident memory (VmRSS, VmHWM) and CPU time
 * (utime + stime). CPU per request is the steadier figure on a busy machine, where wall-clock
 * throughput is noisy, and it says which process the time goes to. Linux only; elsewhere the
 * readers return null and the report shows '-'.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { round } from './util.ts';

export interface Rss {
  /** Resident set now, MiB. */
  rssMiB: number;
  /** Peak resident set over the process's life (VmHWM), MiB. */
  hwmMiB: number;
}

/**
 * VmRSS and VmHWM of a process from /proc/<pid>/status; null where there is no /proc or it is gone.
 */
export async function readRss(pid: number): Promise<Rss | null> {
  try {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? NaN);
    const rss = kb('VmRSS');
    const hwm = kb('VmHWM');
    if (Number.isNaN(rss)) return null;
    return { rssMiB: round(rss / 1024, 1), hwmMiB: round(hwm / 1024, 1) };
  } catch {
    return null;
  }
}

let clockTicks: number | null = null;
/**
 * CPU time (user + system) a process has used so far, ms, from /proc/<pid>/stat; null where
 * unavailable.
 */
export async function cpuTimeMs(pid: number): Promise<number | null> {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces, so count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime + stime) ? ((utime + stime) * 1000) / clockTicks : null;
  } catch {
    return null;
  }
}

export type Pids = Record<string, number | null>;

/**
 * CPU ms each process spent while `fn` ran, and this process's own (the load generator's, which
 * shares the machine with the servers).
 */
export async function measureCpu<T>(
  pids: Pids,
  fn: () => Promise<T>,
): Promise<{ value: T; cpuMs: Record<string, number>; selfCpuMs: number }> {
  const named = Object.entries(pids).filter((e): e is [string, number] => e[1] !== null);
  const before = await Promise.all(named.map(([, pid]) => cpuTimeMs(pid)));
  const self0 = process.cpuUsage();
  const value = await fn();
  const self = process.cpuUsage(self0);
  const after = await Promise.all(named.map(([, pid]) => cpuTimeMs(pid)));
  const cpuMs: Record<string, number> = {};
  named.forEach(([name], i) => {
    const a = after[i];
    const b = before[i];
    if (a != null && b != null) cpuMs[name] = Math.round(a - b);
  });
  return { value, cpuMs, selfCpuMs: Math.round((self.user + self.system) / 1000) };
}

/** `cpuMs` per unit of work (`count`), 3 decimals, per process. */
export function perUnit(cpuMs: Record<string, number>, count: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(cpuMs).map(([k, ms]) => [k, round(ms / Math.max(1, count), 3)]),
  );
}

/** The sum over processes. */
export const totalOf = (perProcess: Record<string, number> | undefined) =>
  Object.values(perProcess ?? {}).reduce((a, b) => a + b, 0);

/** Samples every given process's RSS on an interval; `stop()` returns the peak per name. */
export function sampleRss(
  pids: () => Pids,
  everyMs = 250,
): { stop(): Promise<Record<string, Rss>> } {
  const peak: Record<string, Rss> = {};
  let sampling = Promise.resolve();
  const take = () => {
    sampling = (async () => {
      for (const [name, pid] of Object.entries(pids())) {
        if (pid === null) continue;
        const r = await readRss(pid);
        if (!r) continue;
        const prev = peak[name];
        peak[name] = {
          rssMiB: Math.max(prev?.rssMiB ?? 0, r.rssMiB),
          hwmMiB: Math.max(prev?.hwmMiB ?? 0, r.hwmMiB),
        };
      }
    })();
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await sampling;
      take();
      await sampling;
      return peak;
    },
  };
}
