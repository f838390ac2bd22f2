/**
 * The load balancer in front of the two frontends: an haproxy configuration, rendered from the
 * topology for one placement (the namespace run writes it to its run dir; deploy/haproxy.cfg is
 * the same function for compose, and a test keeps the file equal to it).
 *
 * Choices, each for a reason:
 * - Two backends. `ready` health-checks `GET /ready` (a frontend with a leader that has quorum)
 *   and takes the traffic while any of its servers is up. If none is (no quorum anywhere, or
 *   both frontends electing), `live` (checked on `GET /health`) takes it, so product queries
 *   still work and orders get the store's own retryable 503 rather than haproxy's.
 * - Retries on another frontend (`option redispatch`) when the connection fails or the frontend
 *   dies before answering (`empty-response`): a frontend killed under load costs the clients
 *   nothing. Replaying a request whose first attempt may have run is safe only for an order that
 *   carries an Idempotency-Key (the store answers the repeat with the same outcome) and for
 *   GETs; a POST without a key is never replayed (`disable-l7-retry`), as the store could not
 *   tell the repeat from a second order.
 * - `timeout server` is longer than the frontend's own deadline for an order (10 s of retries
 *   across failovers), so haproxy never gives up on an order the store is still placing.
 */
import { FRONTEND_HOSTS, PORTS, type Placement } from './topology.ts';

export interface HaproxyOptions {
  /** What the load balancer binds. */
  bind: string;
  /** Health-check interval. */
  checkIntervalMs?: number;
  /**
   * A DNS server to re-resolve the frontends' names with (compose: Docker's, 127.0.0.11:53), so
   * haproxy starts before they resolve and follows a restarted container to its new address.
   */
  dns?: string;
}

export function haproxyConfig(p: Placement, o: HaproxyOptions): string {
  const inter = o.checkIntervalMs ?? 500;
  const resolvers = o.dns ? `\nresolvers dns\n  nameserver dns ${o.dns}\n  hold valid 1s\n` : '';
  const byName = o.dns ? ' resolvers dns init-addr last,libc,none' : '';
  const servers = () =>
    FRONTEND_HOSTS.map((f) => `  server ${f} ${p.address(f)}:${PORTS.frontendPublic} check`).join(
      '\n',
    );
  return `# Rendered by scripts/lib/hosts/haproxy.ts from the topology (scripts/lib/hosts/topology.ts).
global
  maxconn 4096
  log stdout format raw local0 warning

defaults
  mode http
  log global
  option http-keep-alive
  timeout connect 1s
  timeout client 30s
  timeout server 15s
  timeout http-keep-alive 4s
  timeout check 2s
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response
  default-server inter ${inter} fall 2 rise 2${byName}
${resolvers}
frontend store
  bind ${o.bind}:${PORTS.lb}
  # A POST without an Idempotency-Key must not be replayed: it could buy twice.
  http-request disable-l7-retry if METH_POST !{ req.hdr(idempotency-key) -m found }
  use_backend ready if { nbsrv(ready) gt 0 }
  default_backend live

backend ready
  balance roundrobin
  option httpchk GET /ready
  http-check expect status 200
${servers()}

backend live
  balance roundrobin
  option httpchk GET /health
  http-check expect status 200
${servers()}
`;
}
