/**
 * Shared helpers of the benchmark suite (scripts/bench.ts): where the numbers come from
 * (machine, commit), the disk's fdatasync rate, service memory from /proc, waiting for a leader,
 * spawning a TypeScript process the way the launcher does, synthesizing valid order logs, and
 * comparing replicas' logs byte for byte.
 *
 * Nothing here starts anything on import. Every process it spawns listens on 127.0.0.1 with an
 * ephemeral port and is killed by the caller (or, failing that, when the bench process exits).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';
import { LOG_HEADER, orderCodec } from '../../../order/file-log.ts';
import { signEntry } from '../../../order/log.ts';
import { encodeRecord, writeMarkFor } from '../../../shared/wal.ts';
import { pipeLines } from '../../cluster.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------- provenance

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
  /** 1-minute load average when the run started: a busy machine makes every number noisy. */
  loadAverage1m: number;
  fdLimit: string;
}

export function machineInfo(): MachineInfo {
  let fdLimit = 'unknown';
  try {
    fdLimit = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  } catch {
    // not a POSIX shell: leave it unknown
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    kernel: `${os.type()} ${os.release()}`,
    os: `${os.platform()} ${os.arch()}`,
    node: process.version,
    loadAverage1m: round(os.loadavg()[0] ?? 0, 2),
    fdLimit,
  };
}

export interface CommitInfo {
  commit: string;
  dirty: boolean;
  /** `abc1234` or `abc1234-dirty`. */
  label: string;
}

export function commitInfo(): CommitInfo {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain').length > 0;
    return { commit, dirty, label: dirty ? `${commit}-dirty` : commit };
  } catch {
    return { commit: 'unknown', dirty: false, label: 'unknown' };
  }
}

// ---------------------------------------------------------------- disk

/** Writes 100 bytes and fdatasyncs, in a loop, for `ms` in `dir`'s filesystem; returns syncs/s. */
export async function fdatasyncRate(dir: string, ms: number): Promise<{ syncsPerSecond: number; syncs: number; meanMs: number }> {
  const file = path.join(dir, `fsync-probe-${process.pid}`);
  const handle = await fs.open(file, 'w');
  const bytes = Buffer.alloc(100, 0x61);
  let syncs = 0;
  let position = 0;
  const started = performance.now();
  try {
    while (performance.now() - started < ms) {
      await handle.write(bytes, 0, bytes.length, position);
      position += bytes.length;
      await handle.datasync();
      syncs++;
    }
  } finally {
    await handle.close();
    await fs.rm(file, { force: true });
  }
  const elapsed = performance.now() - started;
  return { syncsPerSecond: Math.round((syncs * 1000) / elapsed), syncs, meanMs: round(elapsed / Math.max(1, syncs), 3) };
}

// ---------------------------------------------------------------- memory

export interface Rss {
  /** Resident set now, MiB. */
  rssMiB: number;
  /** Peak resident set over the process's life (VmHWM), MiB. */
  hwmMiB: number;
}

/** VmRSS and VmHWM of a process from /proc/<pid>/status; null where there is no /proc or it is gone. */
export async function readRss(pid: number): Promise<Rss | null> {
  try {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? NaN);
    const rss = kb('VmRSS');
    const hwm = kb('VmHWM');
    if (Number.isNaN(rss)) return null;
    return { rssMiB: round(rss / 1024, 1), hwmMiB: round(hwm / 1024, 1) };
  } catch {
    return null;
  }
}

let clockTicks: number | null = null;
/** CPU time (user + system) a process has used so far, ms, from /proc/<pid>/stat; null where unavailable. */
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

/**
 * CPU ms each process spent while `fn` ran. On a busy machine wall-clock throughput is noisy,
 * but the CPU a request costs each service is not (much): it says where the time goes.
 */
export async function measureCpu<T>(pids: Record<string, number | null>, fn: () => Promise<T>): Promise<{ value: T; cpuMs: Record<string, number> }> {
  const named = Object.entries(pids).filter((e): e is [string, number] => e[1] !== null);
  const before = await Promise.all(named.map(([, pid]) => cpuTimeMs(pid)));
  const value = await fn();
  const after = await Promise.all(named.map(([, pid]) => cpuTimeMs(pid)));
  const cpuMs: Record<string, number> = {};
  named.forEach(([name], i) => {
    const a = after[i];
    const b = before[i];
    if (a != null && b != null) cpuMs[name] = Math.round(a - b);
  });
  return { value, cpuMs };
}

/** Samples every given process's RSS on an interval; `stop()` returns the peak per name. */
export function sampleRss(pids: () => Record<string, number | null>, everyMs = 250): { stop(): Promise<Record<string, Rss>> } {
  const peak: Record<string, Rss> = {};
  let sampling = Promise.resolve();
  const take = () => {
    sampling = (async () => {
      for (const [name, pid] of Object.entries(pids())) {
        if (pid === null) continue;
        const r = await readRss(pid);
        if (!r) continue;
        const prev = peak[name];
        peak[name] = { rssMiB: Math.max(prev?.rssMiB ?? 0, r.rssMiB), hwmMiB: Math.max(prev?.hwmMiB ?? 0, r.hwmMiB) };
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

// ---------------------------------------------------------------- the store

interface HealthView {
  leaderId: number | null;
  epoch: number | null;
  electing: boolean;
}

/** Polls the frontend's /health until it routes to a leader; returns the leader's id. */
export async function waitForLeader(frontendUrl: string, timeoutMs = 20_000, not?: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${frontendUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      const view = ((await res.json()) as { data?: HealthView }).data;
      last = JSON.stringify(view);
      if (view && view.leaderId !== null && !view.electing && view.leaderId !== not) return view.leaderId;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(20);
  }
  throw new Error(`no leader at ${frontendUrl} within ${timeoutMs} ms (last: ${last})`);
}

export const TOYS = [
  'Tux', 'Barbie', 'Lego', 'Monopoly', 'Frisbee', 'Slinky', 'Yo-Yo', 'Etch A Sketch', 'Crayola Crayons', 'Play-Doh',
  "Rubik's Cube", 'Jigsaw Puzzle', 'Teddy Bear', 'Scrabble', 'Hot Wheels',
] as const;

// ---------------------------------------------------------------- processes

let tsxLoaderUrl: string | null = null;
function tsxLoader(): string {
  tsxLoaderUrl ??= pathToFileURL(createRequire(path.join(REPO_ROOT, 'package.json')).resolve('tsx')).href;
  return tsxLoaderUrl;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  /** performance.now() just before spawn. */
  spawnedAt: number;
  /** Resolves with performance.now() and the URL when a `listening on http://...` line appears; rejects on exit first. */
  ready: Promise<{ at: number; url: string }>;
  /** Recent output lines (for error messages). */
  recent: string[];
  /** SIGTERM (or `signal`) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * Spawns `node --import tsx <file> ...args` like scripts/cluster.ts does (process.execPath, so the
 * PID is the service itself). `nodeArgs` go before the loader (e.g. --cpu-prof).
 */
export function spawnTs(file: string, opts: { args?: string[]; env?: Record<string, string>; nodeArgs?: string[]; timeoutMs?: number } = {}): Spawned {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', tsxLoader(), path.resolve(REPO_ROOT, file), ...(opts.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const recent: string[] = [];
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('close', () => {
    exited = true;
    live.delete(child);
    resolve();
  }));
  const ready = new Promise<{ at: number; url: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not report listening within ${opts.timeoutMs ?? 30_000} ms:\n${recent.join('\n')}`)), opts.timeoutMs ?? 30_000);
    const onLine = (line: string) => {
      recent.push(line);
      if (recent.length > 50) recent.shift();
      const m = /listening on (http:\/\/[^\s"]+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ at: performance.now(), url: m[1]!.replace(/\/$/, '') });
      }
    };
    for (const stream of [child.stdout!, child.stderr!]) pipeLines(stream, onLine);
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`${file} exited before listening:\n${recent.join('\n')}`));
    });
  });
  ready.catch(() => {});
  return {
    child,
    pid: child.pid ?? -1,
    spawnedAt,
    ready,
    recent,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (exited) return;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      await exit;
      clearTimeout(killer);
    },
  };
}

// ---------------------------------------------------------------- order logs

export interface SynthLog {
  /** The whole file: header and `count` records. */
  bytes: Buffer;
  /** offsets[i]: where record i starts; offsets[count]: the end of the file. */
  offsets: number[];
  count: number;
}

/**
 * A valid order log of `count` orders, all in `epoch`, as a replica would have written it:
 * header `number,epoch,name,quantity,key,crc`, crc32 chained per record (order/log.ts), random
 * UUID keys. Records are joined directly (none of the fields needs CSV quoting, the same thing
 * csv-stringify writes); the first records are checked against `encodeRecord` to make sure.
 */
export function synthesizeLog(count: number, epoch = 1): SynthLog {
  const parts: string[] = [LOG_HEADER];
  const offsets: number[] = [];
  let pos = Buffer.byteLength(LOG_HEADER);
  let prevCrc = 0;
  for (let index = 0; index < count; index++) {
    const name = TOYS[index % TOYS.length]!;
    const quantity = 1 + (index % 5);
    const key = randomUUID();
    const content = `${index},${epoch},${name},${quantity},${key}`;
    const crc = crc32(content, prevCrc) >>> 0;
    const line = `${content},${crc}\n`;
    if (index < 32) {
      const entry = signEntry(prevCrc, { index, epoch, name, quantity, key });
      const expected = encodeRecord(orderCodec, entry);
      if (entry.crc !== crc || expected !== line) throw new Error(`synthesizeLog: record ${index} differs from encodeRecord: ${JSON.stringify(expected)} vs ${JSON.stringify(line)}`);
    }
    offsets.push(pos);
    pos += line.length; // ASCII only
    parts.push(line);
    prevCrc = crc;
  }
  offsets.push(pos);
  return { bytes: Buffer.from(parts.join('')), offsets, count };
}

export interface ReplicaMeta {
  promisedEpoch: number;
  votedFor: number | null;
  logEpoch: number;
}

/** Writes a replica's data dir (`<dataDir>/order-<id>/orders.csv` and `meta.json`). */
export async function writeReplicaDir(dataDir: string, id: number, log: Buffer, meta: ReplicaMeta): Promise<void> {
  const dir = path.join(dataDir, `order-${id}`);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'orders.csv'), log);
  // A replica refuses a log with records but no durable mark (lost records): vouch for this one.
  await writeMarkFor(path.join(dir, 'orders.csv'), orderCodec);
  await fs.writeFile(path.join(dir, 'meta.json'), `${JSON.stringify(meta)}\n`);
}

export const orderLogPath = (dataDir: string, id: number) => path.join(dataDir, `order-${id}`, 'orders.csv');

/** True if every file has the same bytes (sizes first, so a lagging file costs one stat). */
export async function filesIdentical(files: readonly string[]): Promise<boolean> {
  const sizes = await Promise.all(files.map((f) => fs.stat(f).then((s) => s.size, () => -1)));
  if (sizes.some((s) => s < 0 || s !== sizes[0])) return false;
  const [first, ...rest] = await Promise.all(files.map((f) => fs.readFile(f)));
  return rest.every((b) => b.equals(first!));
}

/** Polls until the files are byte-identical; resolves with performance.now() then, or null at the deadline. */
export async function waitIdentical(files: readonly string[], timeoutMs: number, pollMs = 2): Promise<number | null> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await filesIdentical(files)) return performance.now();
    await sleep(pollMs);
  }
  return null;
}

/** A fresh temporary data dir under the OS temp dir. */
export function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `toystore-bench-${prefix}-`));
}
