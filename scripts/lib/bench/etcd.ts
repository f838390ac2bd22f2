/**
 * The anchor for durable writes: a 3-member etcd cluster on loopback, the thing a user would pick
 * for "a write fsynced on a majority of three before the reply". Started by the bench beside the
 * store, in the same run and the same process tree, so the ratio compares two systems on the same
 * machine at the same moment.
 *
 * Each member gets two ephemeral ports (client, peer) on 127.0.0.1 and its own dir under a
 * temporary dir; its log goes to a file there (etcd's own defaults otherwise: fsync on, 100 ms
 * heartbeat, WAL and bbolt on the same disk as the store's data). Members are held and stopped
 * by PID. Writes go through the v3 JSON gateway (`POST /v3/kv/put`, base64 key and value) to the
 * leader, etcd's best case (a follower would forward to it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePorts } from '../cluster/index.ts';
import type { HttpRequest } from '../../../shared/http.ts';
import { spawnChild, type Child } from './spawn.ts';
import { sleep } from './util.ts';

/** How to get it on Debian; printed wherever etcd is missing. */
export const ETCD_INSTALL_HINT =
  'Debian: sudo apt-get install etcd-server (or set ETCD_BIN to an etcd binary)';

export interface EtcdBinary {
  path: string;
  /** `3.4.23`, or 'unknown'. */
  version: string;
}

/**
 * ETCD_BIN if set, else `etcd` on PATH; null when there is none (the etcd targets are then not
 * measured).
 */
export function findEtcd(env: NodeJS.ProcessEnv = process.env): EtcdBinary | null {
  const candidates = env.ETCD_BIN
    ? [env.ETCD_BIN]
    : (env.PATH ?? '')
        .split(path.delimiter)
        .filter(Boolean)
        .map((d) => path.join(d, 'etcd'));
  for (const file of candidates) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (!fs.statSync(file).isFile()) continue;
    } catch {
      continue;
    }
    let version = 'unknown';
    try {
      version =
        /etcd Version:\s*(\S+)/.exec(
          execFileSync(file, ['--version'], { encoding: 'utf8', timeout: 10_000 }),
        )?.[1] ?? 'unknown';
    } catch {
      // runs or not, the start will tell
    }
    return { path: file, version };
  }
  return null;
}

export interface EtcdCluster {
  version: string;
  /** Client URL of each member, by name (etcd-1..3). */
  clientUrls: Record<string, string>;
  /** The leader's client URL: where the bench sends its puts. */
  leaderUrl: string;
  leaderName: string;
  pids(): Record<string, number | null>;
  stop(): Promise<void>;
}

const NAMES = ['etcd-1', 'etcd-2', 'etcd-3'] as const;
const START_ATTEMPTS = 3;

/** Starts the three members in `dir` and waits until they have a leader and all report healthy. */
export async function startEtcdCluster(
  bin: EtcdBinary,
  dir: string,
  readyTimeoutMs = 30_000,
): Promise<EtcdCluster> {
  for (let attempt = 1; ; attempt++) {
    const members = await spawnMembers(bin, path.join(dir, `attempt-${attempt}`));
    try {
      const leader = await waitReady(members, readyTimeoutMs);
      return handle(bin, members, leader);
    } catch (err) {
      await Promise.all(members.map((m) => m.proc.stop('SIGTERM', 3_000)));
      // Ports are picked free and then bound by etcd: another process may take one in between.
      if (
        attempt >= START_ATTEMPTS ||
        !members.some((m) => logOf(m).includes('address already in use'))
      )
        throw err;
    }
  }
}

interface Member {
  name: string;
  clientUrl: string;
  logFile: string;
  proc: Child;
}

const logOf = (m: Member) => {
  try {
    return fs.readFileSync(m.logFile, 'utf8');
  } catch {
    return '';
  }
};

async function spawnMembers(bin: EtcdBinary, dir: string): Promise<Member[]> {
  const ports = await freePorts(NAMES.length * 2);
  const peerUrl = (i: number) => `http://127.0.0.1:${ports[2 * i + 1]}`;
  const initialCluster = NAMES.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
  return NAMES.map((name, i) => {
    const clientUrl = `http://127.0.0.1:${ports[2 * i]}`;
    const memberDir = path.join(dir, name);
    fs.mkdirSync(memberDir, { recursive: true });
    const logFile = path.join(dir, `${name}.log`);
    const out = fs.openSync(logFile, 'a');
    const args = [
      `--name=${name}`,
      `--data-dir=${memberDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl(i)}`,
      `--initial-advertise-peer-urls=${peerUrl(i)}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=toystore-bench-${process.pid}`,
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
    ];
    const proc = spawnChild(bin.path, args, {
      stdio: ['ignore', out, out],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    });
    fs.closeSync(out);
    return { name, clientUrl, logFile, proc };
  });
}

interface StatusView {
  header?: { member_id?: string };
  leader?: string;
}

/** Polls every member's status until one is the leader and every member agrees and is healthy. */
async function waitReady(members: Member[], timeoutMs: number): Promise<Member> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    const dead = members.find((m) => !m.proc.isRunning());
    if (dead)
      throw new Error(
        `etcd member ${dead.name} exited while starting:\n${logOf(dead).split('\n').slice(-8).join('\n')}`,
      );
    const views = await Promise.all(
      members.map((m) => status(m.clientUrl).catch((err: Error) => ((last = err.message), null))),
    );
    const leaderId = views[0]?.leader;
    const leader = members.find((_, i) => views[i]?.header?.member_id === leaderId);
    if (
      leaderId &&
      leaderId !== '0' &&
      leader &&
      views.every((v) => v?.leader === leaderId) &&
      (await allHealthy(members))
    )
      return leader;
    await sleep(50);
  }
  throw new Error(
    `etcd cluster not ready within ${timeoutMs} ms (last: ${last || 'no leader yet'})`,
  );
}

async function status(url: string): Promise<StatusView> {
  const res = await fetch(`${url}/v3/maintenance/status`, {
    method: 'POST',
    body: '{}',
    signal: AbortSignal.timeout(2_000),
  });
  return (await res.json()) as StatusView;
}

async function allHealthy(members: Member[]): Promise<boolean> {
  const ok = await Promise.all(
    members.map((m) =>
      fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(2_000) })
        .then(async (r) => ((await r.json()) as { health?: string }).health === 'true')
        .catch(() => false),
    ),
  );
  return ok.every(Boolean);
}

function handle(bin: EtcdBinary, members: Member[], leader: Member): EtcdCluster {
  return {
    version: bin.version,
    clientUrls: Object.fromEntries(members.map((m) => [m.name, m.clientUrl])),
    leaderUrl: leader.clientUrl,
    leaderName: leader.name,
    pids: () =>
      Object.fromEntries(members.map((m) => [m.name, m.proc.isRunning() ? m.proc.pid : null])),
    stop: async () => void (await Promise.all(members.map((m) => m.proc.stop('SIGTERM', 5_000)))),
  };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A v3 put through the JSON gateway: the etcd side of the durable-write comparison. */
export function etcdPut(url: string, key: string, value: string): HttpRequest {
  return { method: 'POST', url: `${url}/v3/kv/put`, body: { key: b64(key), value: b64(value) } };
}
