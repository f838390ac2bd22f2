/**
 * One fault proxy per directed link between the store's processes, and the links a partition
 * shape cuts around the current leader.
 */
import { REPLICA_IDS, type ReplicaId, type ServiceName } from '../cluster/index.ts';
import { PASS, startFaultProxy, type FaultMode, type FaultProxy } from '../fault-proxy/proxy.ts';
import type { PartitionShape } from './schedule.ts';

export type Link = `${ServiceName}->${ServiceName}`;

/** Every directed link a process of the store uses to call another. */
export function allLinks(): Array<[ServiceName, ServiceName]> {
  const out: Array<[ServiceName, ServiceName]> = [];
  const replicas = REPLICA_IDS.map((id) => `order-${id}` as ServiceName);
  for (const r of replicas) out.push(['frontend', r]);
  out.push(['frontend', 'catalog']);
  for (const a of replicas) for (const b of replicas) if (a !== b) out.push([a, b]);
  for (const r of replicas) out.push([r, 'catalog']);
  out.push(['catalog', 'frontend']);
  return out;
}

export interface LinkMesh {
  /** For `startCluster({ links })`: points each link at its proxy and returns the proxy's URL. */
  resolve(from: ServiceName, to: ServiceName, realUrl: string): string;
  /**
   * Puts `links` in `mode` until the returned release is called. Holds on one link stack (with
   * overlapping partitions): the newest hold in force decides the mode, and the link passes
   * again only once every hold on it is released.
   */
  hold(links: ReadonlyArray<readonly [ServiceName, ServiceName]>, mode: FaultMode): () => void;
  /** Every link back to pass, every hold dropped. */
  healAll(): void;
  /** Links not passing now. */
  faulty(): Link[];
  /** Connections each link's proxy accepted so far. */
  connections(): Record<Link, number>;
  close(): Promise<void>;
}

/**
 * One fault proxy per directed link, all on 127.0.0.1, targets filled in when the cluster launches.
 */
export async function startLinkMesh(): Promise<LinkMesh> {
  const proxies = new Map<Link, FaultProxy>();
  try {
    for (const [from, to] of allLinks()) proxies.set(`${from}->${to}`, await startFaultProxy());
  } catch (err) {
    await Promise.allSettled([...proxies.values()].map((p) => p.close()));
    throw err;
  }
  const holds = new Map<Link, Array<{ mode: FaultMode }>>();
  const get = (from: ServiceName, to: ServiceName) => {
    const p = proxies.get(`${from}->${to}`);
    if (!p) throw new Error(`no link ${from} -> ${to}`);
    return p;
  };
  return {
    resolve(from, to, realUrl) {
      const p = get(from, to);
      p.setTarget(realUrl);
      return p.url;
    },
    hold(links, mode) {
      const token = { mode };
      for (const [from, to] of links) {
        const l: Link = `${from}->${to}`;
        get(from, to).setMode(mode);
        holds.set(l, [...(holds.get(l) ?? []), token]);
      }
      return () => {
        for (const [from, to] of links) {
          const l: Link = `${from}->${to}`;
          const left = (holds.get(l) ?? []).filter((t) => t !== token);
          holds.set(l, left);
          get(from, to).setMode(left.at(-1)?.mode ?? PASS);
        }
      };
    },
    healAll() {
      holds.clear();
      for (const p of proxies.values()) if (p.mode.kind !== 'pass') p.setMode(PASS);
    },
    faulty: () => [...proxies].filter(([, p]) => p.mode.kind !== 'pass').map(([l]) => l),
    connections: () =>
      Object.fromEntries([...proxies].map(([l, p]) => [l, p.stats().accepted])) as Record<
        Link,
        number
      >,
    close: async () => void (await Promise.allSettled([...proxies.values()].map((p) => p.close()))),
  };
}

/** The directed links a partition shape cuts, given who leads now. */
export function linksOf(
  shape: PartitionShape,
  leader: ReplicaId,
): Array<[ServiceName, ServiceName]> {
  const L: ServiceName = `order-${leader}`;
  const others = REPLICA_IDS.filter((id) => id !== leader).map(
    (id) => `order-${id}` as ServiceName,
  );
  switch (shape.shape) {
    case 'leader-follower': {
      const F = others[Math.min(others.length - 1, Math.floor(shape.pick * others.length))]!;
      if (shape.direction === 'from-leader') return [[L, F]];
      if (shape.direction === 'to-leader') return [[F, L]];
      return [
        [L, F],
        [F, L],
      ];
    }
    case 'frontend-leader':
      return [['frontend', L]];
    case 'isolate-leader':
      return [
        ...others.flatMap(
          (F): Array<[ServiceName, ServiceName]> => [
            [L, F],
            [F, L],
          ],
        ),
        ['frontend', L],
      ];
    case 'leader-followers':
      return others.flatMap(
        (F): Array<[ServiceName, ServiceName]> => [
          [L, F],
          [F, L],
        ],
      );
    case 'leader-catalog':
      return [[L, 'catalog']];
    case 'catalog-frontend':
      return [['catalog', 'frontend']];
  }
}
