/**
 * Each child's environment. Its configuration is computed from the launch options and the final
 * ports, never inherited, and holds exactly the variables the config table (shared/config.ts)
 * says its service reads:
 *  - the topology (ports, URLs, ORDER_ID, DATA_DIR), with each process's own view of its peers
 *    (the `links` option routes chosen links through fault proxies);
 *  - the caller's settings (`opts.env`), each only to the services that read it;
 *  - the cluster's secret (`opts.clusterSecret`) as CLUSTER_SECRET, to the services that read it;
 *  - from the parent's environment, everything that is not a variable of the table (PATH, HOME,
 *    NODE_OPTIONS...). A setting in the parent's environment reaches no child by accident: a
 *    test's or a developer's GROUP_COMMIT stays theirs.
 * Variables `opts.env` holds that the table does not know (NODE_OPTIONS for a profiler hook) go
 * to every child.
 */
import path from 'node:path';
import { SETTING_LIST, SETTING_NAMES, SETTINGS, type Service } from '../../../shared/config.ts';
import {
  REPLICA_IDS,
  SERVICE_NAMES,
  type ClusterPorts,
  type ClusterUrls,
  type ServiceName,
  type StartClusterOptions,
} from './types.ts';

/** Computed by the launcher; refusing them in `opts.env` keeps the URLs we report true. */
export const TOPOLOGY_VARS: readonly string[] = SETTING_LIST.filter((s) => s.topology).map(
  (s) => s.env,
);
/**
 * The table's `secret` entries: set from `opts.clusterSecret` only, so `cluster.clusterSecret` is
 * what every service has.
 */
export const SECRET_VARS: readonly string[] = SETTING_LIST.filter((s) => s.secret).map(
  (s) => s.env,
);

/** Which service a launched process is. */
export const serviceOf = (name: ServiceName): Service =>
  name.startsWith('order-') ? 'order' : (name as Service);

/** The real URLs of a cluster on 127.0.0.1 with these ports. */
export function urlsOf(ports: ClusterPorts): ClusterUrls {
  const host = '127.0.0.1';
  return {
    frontend: `http://${host}:${ports.frontend}`,
    frontendInternal: `http://${host}:${ports.frontendInternal}`,
    catalog: `http://${host}:${ports.catalog}`,
    replicas: {
      1: `http://${host}:${ports.replicas[0]}`,
      2: `http://${host}:${ports.replicas[1]}`,
      3: `http://${host}:${ports.replicas[2]}`,
    },
  };
}

/**
 * `env` cut down to the table's variables `service` reads, plus every variable the table does not
 * know.
 */
export function envFor(service: Service, env: Record<string, string>): Record<string, string> {
  const reads = new Set(SETTING_LIST.filter((s) => s.readBy.includes(service)).map((s) => s.env));
  return Object.fromEntries(
    Object.entries(env).filter(([k]) => reads.has(k) || !SETTING_NAMES.has(k)),
  );
}

/**
 * Every service's configuration environment, computed once, so a restarted process sees the
 * same links as before.
 */
export function serviceEnvs(
  opts: StartClusterOptions,
  ports: ClusterPorts,
  urls: ClusterUrls,
): Map<ServiceName, Record<string, string>> {
  const common: Record<string, string> = {
    ...opts.env,
    ...(opts.heartbeatIntervalMs !== undefined && {
      HEARTBEAT_INTERVAL_MS: String(opts.heartbeatIntervalMs),
    }),
    ...(opts.restockIntervalMs !== undefined && {
      RESTOCK_INTERVAL_MS: String(opts.restockIntervalMs),
    }),
    FRONTEND_PORT: String(ports.frontend),
    FRONTEND_INTERNAL_PORT: String(ports.frontendInternal),
    CATALOG_PORT: String(ports.catalog),
    CATALOG_URL: urls.catalog,
    FRONTEND_URL: urls.frontendInternal,
    ORDER_REPLICAS: REPLICA_IDS.map((id) => `${id}=${urls.replicas[id]}`).join(','),
    DATA_DIR: path.resolve(opts.dataDir),
    // envFor hands it to exactly the services the table says read it.
    ...(typeof opts.clusterSecret === 'string' && {
      [SETTINGS.clusterSecret.env]: opts.clusterSecret,
    }),
  };
  const viewOf = (from: ServiceName): Record<string, string> => {
    const link = (to: ServiceName, realUrl: string) => {
      if (!opts.links) return realUrl;
      const routed = opts.links(from, to, realUrl);
      if (!/^http:\/\/[^/]+$/.test(routed))
        throw new TypeError(
          `startCluster: links(${from}, ${to}) returned ${JSON.stringify(routed)}, not an http://host:port origin`,
        );
      return routed;
    };
    const replicasSeenBy = () =>
      REPLICA_IDS.map(
        (id) =>
          `${id}=${from === `order-${id}` ? urls.replicas[id] : link(`order-${id}`, urls.replicas[id])}`,
      ).join(',');
    if (from === 'catalog')
      return { ...common, FRONTEND_URL: link('frontend', urls.frontendInternal) };
    if (from === 'frontend')
      return {
        ...common,
        CATALOG_URL: link('catalog', urls.catalog),
        ORDER_REPLICAS: replicasSeenBy(),
      };
    return {
      ...common,
      CATALOG_URL: link('catalog', urls.catalog),
      ORDER_REPLICAS: replicasSeenBy(),
      ORDER_ID: from.slice('order-'.length),
    };
  };
  return new Map(SERVICE_NAMES.map((s) => [s, envFor(serviceOf(s), viewOf(s))] as const));
}

/** The parent's environment minus every variable of the config table. */
export function inheritedEnv(parent: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent))
    if (v !== undefined && !SETTING_NAMES.has(k)) inherited[k] = v;
  return inherited;
}
