/** Free loopback ports for a cluster whose ports the caller did not fix. */
import net from 'node:net';
import type { ClusterPorts } from './types.ts';

/**
 * n distinct ports that were free on 127.0.0.1 a moment ago: all n listeners on port 0 are open
 * at once (so the kernel hands out distinct ports), then closed. Racy by nature: between the close
 * and the child's bind another process may take a port. `startCluster` retries with new ports
 * when a child it gave picked ports to fails with EADDRINUSE.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(
      servers.map(
        (s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())),
      ),
    );
  }
}

/** `given` completed with free ports (distinct from the given ones). */
export async function fillPorts(given: Partial<ClusterPorts>): Promise<ClusterPorts> {
  const free = await freePorts(6);
  const used = new Set([
    given.frontend,
    given.frontendInternal,
    given.catalog,
    ...(given.replicas ?? []),
  ]);
  const pool = free.filter((p) => !used.has(p));
  const next = () => pool.shift()!;
  return {
    frontend: given.frontend ?? next(),
    frontendInternal: given.frontendInternal ?? next(),
    catalog: given.catalog ?? next(),
    replicas: given.replicas ?? [next(), next(), next()],
  };
}

/** The ports of `ports` that cannot be bound on 127.0.0.1 right now (taken by another process). */
export async function portsTaken(ports: readonly number[]): Promise<number[]> {
  const taken: number[] = [];
  for (const port of ports) {
    const server = net.createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(true));
    });
    if (free) await new Promise<void>((resolve) => server.close(() => resolve()));
    else taken.push(port);
  }
  return taken;
}
