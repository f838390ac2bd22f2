/**
 * Where the numbers come from: the machine (CPU, cores, kernel, Node, the load average when the
 * run started) and the commit. Every results file carries both, because a figure from a busy
 * 2-core machine means little without them.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { REPO_ROOT, round } from './util.ts';

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
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain').length > 0;
    return { commit, dirty, label: dirty ? `${commit}-dirty` : commit };
  } catch {
    return { commit: 'unknown', dirty: false, label: 'unknown' };
  }
}
