/**
 * The one definition of the multi-host topology: which hosts exist, what runs on each, on which
 * ports, with which environment. The namespace run (run.ts) and compose.yaml are both this
 * topology; test/hosts/compose.test.ts holds compose.yaml to it.
 *
 * Seven hosts: the catalog, three order replicas, two frontends and a load balancer (haproxy) in
 * front of the frontends as the clients' single address. Every service uses the documented default
 * ports (each is alone on its host), and is configured only through the documented variables
 * (README "Configuration"): HOST, ports, CATALOG_URL, FRONTEND_URL (both frontends, so the catalog
 * invalidates both caches), ORDER_REPLICAS, ORDER_ID, DATA_DIR, COMMIT_QUORUM,
 * HEARTBEAT_INTERVAL_MS, and CLUSTER_SECRET_FILE (every service binds a non-loopback address, so
 * each needs the cluster secret; a file, so the secret is in no process's environment). What
 * differs between a deployment and the namespace run is only how a host name becomes an address,
 * and where a link is routed (through a fault proxy, to add delay): `Placement` says that, and the
 * variables are otherwise identical.
 */
import { loadConfig } from '../../../shared/config.ts';
import {
  catalogRoutes,
  frontendPublicRoutes,
  orderRoutes,
} from '../../../shared/protocol/index.ts';

export type ServiceHost =
  | 'catalog'
  | 'order-1'
  | 'order-2'
  | 'order-3'
  | 'frontend-1'
  | 'frontend-2';
export type HostName = ServiceHost | 'lb';
export type ServiceKind = 'catalog' | 'order' | 'frontend';
export type ReplicaHost = 'order-1' | 'order-2' | 'order-3';
export type FrontendHost = 'frontend-1' | 'frontend-2';

export const REPLICA_HOSTS: readonly ReplicaHost[] = ['order-1', 'order-2', 'order-3'];
export const FRONTEND_HOSTS: readonly FrontendHost[] = ['frontend-1', 'frontend-2'];
/** Start order: catalog and replicas, then the frontends (they elect), then the load balancer. */
export const SERVICE_HOSTS: readonly ServiceHost[] = [
  'catalog',
  ...REPLICA_HOSTS,
  ...FRONTEND_HOSTS,
];
export const HOSTS: readonly HostName[] = [...SERVICE_HOSTS, 'lb'];

/**
 * The configuration every variable left at its default gives (the config table, shared/config.ts).
 */
const DEFAULTS = loadConfig({});

/** The documented defaults, taken from the config table: one service per host. */
export const PORTS = {
  catalog: DEFAULTS.catalogPort,
  replica: Object.fromEntries(DEFAULTS.replicas.map((r) => [`order-${r.id}`, r.port])) as Record<
    ReplicaHost,
    number
  >,
  frontendPublic: DEFAULTS.frontendPort,
  frontendInternal: DEFAULTS.frontendInternalPort,
  /** The load balancer's public port: the clients' single address. */
  lb: DEFAULTS.frontendPort,
} as const;

/** Settings every service gets the same (the lab's defaults, stated so both places agree). */
export const CLUSTER_SETTINGS: Readonly<Record<string, string>> = {
  COMMIT_QUORUM: '2',
  HEARTBEAT_INTERVAL_MS: '200',
  LOG_FORMAT: 'json',
};

export const kindOf = (h: ServiceHost): ServiceKind =>
  h === 'catalog' ? 'catalog' : h.startsWith('order-') ? 'order' : 'frontend';
export const replicaId = (h: ReplicaHost): number => Number(h.slice('order-'.length));

/** The production build's entry point of each kind (see scripts/lib/build/build.ts). */
export const ENTRY: Record<ServiceKind, string> = {
  catalog: 'catalog/main.js',
  order: 'order/main.js',
  frontend: 'frontend/main.js',
};

/** Where each service's readiness is asked (the catalog has no dependencies: live is ready). */
export function readinessPath(h: ServiceHost): string {
  const kind = kindOf(h);
  return kind === 'catalog'
    ? catalogRoutes.health.path
    : kind === 'order'
      ? orderRoutes.ready.path
      : frontendPublicRoutes.ready.path;
}

/** The port a host's main listener (and its probe) is on. */
export function mainPort(h: HostName): number {
  if (h === 'lb') return PORTS.lb;
  if (h === 'catalog') return PORTS.catalog;
  if (h === 'frontend-1' || h === 'frontend-2') return PORTS.frontendPublic;
  return PORTS.replica[h];
}

/** How hosts become addresses in one deployment. */
export interface Placement {
  /** The host part of a URL that reaches `host` (a DNS name, or an address). */
  address(host: HostName): string;
  /** What `host` binds (HOST). */
  bind(host: ServiceHost): string;
  /** DATA_DIR of `host`. */
  dataDir(host: ServiceHost): string;
  /** CLUSTER_SECRET_FILE of `host`: where it reads the cluster secret. */
  secretFile(host: ServiceHost): string;
  /** The origin `from` uses to reach `to` whose real origin is `url` (default: `url`). */
  route?(from: ServiceHost, to: ServiceHost, url: string): string;
}

export const originOf = (p: Placement, host: HostName, port: number) =>
  `http://${p.address(host)}:${port}`;

/** The complete configuration environment of one service. */
export function envFor(host: ServiceHost, p: Placement): Record<string, string> {
  const via = (to: ServiceHost, url: string) => p.route?.(host, to, url) ?? url;
  const catalogUrl = via('catalog', originOf(p, 'catalog', PORTS.catalog));
  const replicas = REPLICA_HOSTS.map((r) => {
    const real = originOf(p, r, PORTS.replica[r]);
    // A replica listens on the port of its own entry, so its own entry is always the real one.
    return `${replicaId(r)}=${r === host ? real : via(r, real)}`;
  }).join(',');
  const base = { ...CLUSTER_SETTINGS, HOST: p.bind(host), CLUSTER_SECRET_FILE: p.secretFile(host) };
  switch (kindOf(host)) {
    case 'catalog':
      return {
        ...base,
        CATALOG_PORT: String(PORTS.catalog),
        FRONTEND_URL: FRONTEND_HOSTS.map((f) =>
          via(f, originOf(p, f, PORTS.frontendInternal)),
        ).join(','),
        DATA_DIR: p.dataDir(host),
      };
    case 'order':
      return {
        ...base,
        ORDER_ID: String(replicaId(host as ReplicaHost)),
        ORDER_REPLICAS: replicas,
        CATALOG_URL: catalogUrl,
        DATA_DIR: p.dataDir(host),
      };
    case 'frontend':
      return {
        ...base,
        FRONTEND_PORT: String(PORTS.frontendPublic),
        FRONTEND_INTERNAL_PORT: String(PORTS.frontendInternal),
        CATALOG_URL: catalogUrl,
        ORDER_REPLICAS: replicas,
      };
  }
}

/**
 * The links the namespace run can slow down through a fault proxy: frontends and replicas to
 * replicas.
 */
export function delayableLinks(): Array<[ServiceHost, ReplicaHost]> {
  const links: Array<[ServiceHost, ReplicaHost]> = [];
  for (const from of [...FRONTEND_HOSTS, ...REPLICA_HOSTS])
    for (const to of REPLICA_HOSTS) if (from !== to) links.push([from, to]);
  return links;
}
