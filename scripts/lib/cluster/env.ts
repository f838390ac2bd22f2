/**
 * Each child's configuration environment, computed from the launch options and the final ports,
 * never inherited: the topology (ports, URLs, ORDER_ID, DATA_DIR) and each process's own view of
 * its peers (the `links` option routes chosen links through fault proxies).
 */
import path from 'node:path';
import { REPLICA_IDS, SERVICE_NAMES, type ClusterPorts, type ClusterUrls, type ServiceName, type StartClusterOptions } from './types.ts';

/** Set from `opts.clusterSecret` only, so `cluster.clusterSecret` is what every service has. */
export const SECRET_VARS = ['CLUSTER_SECRET', 'CLUSTER_SECRET_FILE'];
/** Computed by the launcher; refusing them in `opts.env` keeps the URLs we report true. */
export const TOPOLOGY_VARS = ['FRONTEND_PORT', 'FRONTEND_INTERNAL_PORT', 'CATALOG_PORT', 'CATALOG_URL', 'FRONTEND_URL', 'ORDER_REPLICAS', 'ORDER_ID', 'DATA_DIR'];
/** Not inherited from the parent's environment: only `opts` decides them. */
export const CONFIG_VARS = [
  ...TOPOLOGY_VARS,
  'HOST',
  'CACHE_SIZE',
  'CACHE_ENABLED',
  'RESTOCK_INTERVAL_MS',
  'HEARTBEAT_INTERVAL_MS',
  'COMMIT_QUORUM',
  'IDEMPOTENCY_KEYS_RETAINED',
  'TRACK_FSYNC_OFFSETS',
  ...SECRET_VARS,
];


/** The real URLs of a cluster on 127.0.0.1 with these ports. */
export function urlsOf(ports: ClusterPorts): ClusterUrls {
  const host = '127.0.0.1';
  return {
    frontend: `http://${host}:${ports.frontend}`,
    frontendInternal: `http://${host}:${ports.frontendInternal}`,
    catalog: `http://${host}:${ports.catalog}`,
    replicas: { 1: `http://${host}:${ports.replicas[0]}`, 2: `http://${host}:${ports.replicas[1]}`, 3: `http://${host}:${ports.replicas[2]}` },
  };
}

/**
 * Every service's configuration environment, computed once, so a restarted process sees the
 * same links as before.
 */
export function serviceEnvs(opts: StartClusterOptions, ports: ClusterPorts, urls: ClusterUrls): Map<ServiceName, Record<string, string>> {
  const common: Record<string, string> = {
    ...opts.env,
    ...(opts.heartbeatIntervalMs !== undefined && { HEARTBEAT_INTERVAL_MS: String(opts.heartbeatIntervalMs) }),
    ...(opts.restockIntervalMs !== undefined && { RESTOCK_INTERVAL_MS: String(opts.restockIntervalMs) }),
    FRONTEND_PORT: String(ports.frontend),
    FRONTEND_INTERNAL_PORT: String(ports.frontendInternal),
    CATALOG_PORT: String(ports.catalog),
    CATALOG_URL: urls.catalog,
    FRONTEND_URL: urls.frontendInternal,
    ORDER_REPLICAS: REPLICA_IDS.map((id) => `${id}=${urls.replicas[id]}`).join(','),
    DATA_DIR: path.resolve(opts.dataDir),
    ...(typeof opts.clusterSecret === 'string' && { CLUSTER_SECRET: opts.clusterSecret }),
  };
  const viewOf = (from: ServiceName): Record<string, string> => {
    const link = (to: ServiceName, realUrl: string) => {
      if (!opts.links) return realUrl;
      const routed = opts.links(from, to, realUrl);
      if (!/^http:\/\/[^/]+$/.test(routed)) throw new TypeError(`startCluster: links(${from}, ${to}) returned ${JSON.stringify(routed)}, not an http://host:port origin`);
      return routed;
    };
    const replicasSeenBy = () => REPLICA_IDS.map((id) => `${id}=${from === `order-${id}` ? urls.replicas[id] : link(`order-${id}`, urls.replicas[id])}`).join(',');
    if (from === 'catalog') return { ...common, FRONTEND_URL: link('frontend', urls.frontendInternal) };
    if (from === 'frontend') return { ...common, CATALOG_URL: link('catalog', urls.catalog), ORDER_REPLICAS: replicasSeenBy() };
    return { ...common, CATALOG_URL: link('catalog', urls.catalog), ORDER_REPLICAS: replicasSeenBy(), ORDER_ID: from.slice('order-'.length) };
  };
  return new Map(SERVICE_NAMES.map((s) => [s, viewOf(s)] as const));
}

/** The parent's environment minus every configuration variable. */
export function inheritedEnv(): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !CONFIG_VARS.includes(k)) inherited[k] = v;
  return inherited;
}
