/**
 * The run's network: one Linux network namespace per host, plus one for the bridge that joins
 * them, all created and destroyed here with `ip`.
 *
 * Why it is shaped so:
 * - The bridge lives in a namespace of the run's own, not in the machine's: the machine's
 *   network (its interfaces, routes, firewall) is never touched. Each host namespace has one veth
 *   whose peer is a port of that bridge, an address from 10.213.0.0/24 and no default route, so
 *   its traffic can only reach the other hosts of this run: the range exists nowhere else and
 *   nothing is routed to the uplink. Two runs at once do not collide: each has its own bridge.
 * - Names carry the PID of the process that made them (`tsh-<pid>-<host>`). Teardown kills every
 *   process inside each namespace (`ip netns pids`, by PID) and deletes it. A run that was
 *   SIGKILLed cannot tear down; `sweepStale` removes namespaces whose owner PID is gone, and every
 *   run calls it first.
 * - Teardown has a synchronous twin for `process.on('exit')`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { HOSTS, type HostName } from './topology.ts';
import { isAlive } from './procs.ts';

const exec = promisify(execFile);

/** The controller's host: the client, the fault proxies and the samplers run there. */
export type NetHost = HostName | 'ctl';
export const NET_HOSTS: readonly NetHost[] = [...HOSTS, 'ctl'];
export const SUBNET_PREFIX = '10.213.0';
export const SUBNET = `${SUBNET_PREFIX}.0/24`;
const HOST_OCTET: Record<NetHost, number> = {
  catalog: 10,
  'order-1': 11,
  'order-2': 12,
  'order-3': 13,
  'frontend-1': 21,
  'frontend-2': 22,
  lb: 30,
  ctl: 100,
};
export const NS_PREFIX = 'tsh-';
const NAME_RE = /^tsh-(\d+)-/;

export interface Network {
  readonly ownerPid: number;
  ns(host: NetHost): string;
  addr(host: NetHost): string;
  /** Every namespace of the run, the bridge's included. */
  namespaces(): string[];
}

export function describeNetwork(ownerPid: number): Network {
  const name = (h: NetHost | 'br') => `${NS_PREFIX}${ownerPid}-${h}`;
  return {
    ownerPid,
    ns: (h) => name(h),
    addr: (h) => `${SUBNET_PREFIX}.${HOST_OCTET[h]}`,
    namespaces: () => [...NET_HOSTS.map(name), name('br')],
  };
}

async function ip(...args: string[]): Promise<void> {
  try {
    await exec('ip', args, { timeout: 10_000 });
  } catch (err) {
    throw new Error(
      `ip ${args.join(' ')} failed: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`,
    );
  }
}

/** Creates every namespace, the bridge and one veth per host. On failure, removes what it made. */
export async function createNetwork(ownerPid: number = process.pid): Promise<Network> {
  const net = describeNetwork(ownerPid);
  const br = `${NS_PREFIX}${ownerPid}-br`;
  try {
    await ip('netns', 'add', br);
    await ip('-n', br, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', br, 'link', 'set', 'br0', 'up');
    for (const [i, h] of NET_HOSTS.entries()) {
      const ns = net.ns(h);
      await ip('netns', 'add', ns);
      await ip(
        '-n',
        br,
        'link',
        'add',
        `v${i}`,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns,
      );
      await ip('-n', br, 'link', 'set', `v${i}`, 'master', 'br0', 'up');
      await ip('-n', ns, 'addr', 'add', `${net.addr(h)}/24`, 'dev', 'eth0');
      await ip('-n', ns, 'link', 'set', 'eth0', 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    destroyNetworkSync(net);
    throw err;
  }
  return net;
}

export function listNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 })
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter(Boolean);
  } catch {
    return [];
  }
}

function pidsIn(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

/**
 * Kills every process in each namespace (SIGKILL, by PID) and deletes it. Synchronous: safe in an
 * exit handler.
 */
export function destroyNamespacesSync(names: readonly string[]): {
  killed: number[];
  left: string[];
} {
  const existing = new Set(listNamespaces());
  const killed: number[] = [];
  for (const ns of names) {
    if (!existing.has(ns)) continue;
    for (const pid of pidsIn(ns)) {
      if (pid === process.pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        // gone already
      }
    }
  }
  // A killed process leaves its namespace once the kernel has reaped it: wait briefly for that.
  const until = Date.now() + 3_000;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (killed.some(isAlive) && Date.now() < until) Atomics.wait(nap, 0, 0, 20);
  for (const ns of names) {
    if (!existing.has(ns)) continue;
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // reported below as left
    }
  }
  const after = new Set(listNamespaces());
  return { killed, left: names.filter((n) => after.has(n)) };
}

export function destroyNetworkSync(net: Network): { killed: number[]; left: string[] } {
  return destroyNamespacesSync(net.namespaces());
}

/** Namespaces of runs whose owner is gone (a SIGKILLed run), removed with their processes. */
export function sweepStale(): string[] {
  const stale = listNamespaces().filter((n) => {
    const m = NAME_RE.exec(n);
    return m !== null && Number(m[1]) !== process.pid && !isAlive(Number(m[1]));
  });
  if (stale.length) destroyNamespacesSync(stale);
  return stale;
}

/** Our namespaces still present (for the leak check). */
export function namespacesOf(ownerPid: number): string[] {
  return listNamespaces().filter((n) => n.startsWith(`${NS_PREFIX}${ownerPid}-`));
}

/** Why this machine cannot run the multi-host run, or null when it can. */
export async function whyNoNamespaces(): Promise<string | null> {
  if (process.platform !== 'linux')
    return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (run as root, e.g. in CI)';
  for (const tool of ['ip', 'nft', 'haproxy']) {
    try {
      await exec('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return `${tool} is not installed (Debian: apt-get install ${tool === 'ip' ? 'iproute2' : tool === 'nft' ? 'nftables' : 'haproxy'})`;
    }
  }
  const probe = `${NS_PREFIX}${process.pid}-probe`;
  try {
    await ip('netns', 'add', probe);
    await exec('ip', ['netns', 'exec', probe, 'nft', 'list', 'ruleset'], { timeout: 10_000 });
    return null;
  } catch (err) {
    return `ip netns does not work here: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    destroyNamespacesSync([probe]);
  }
}
