/**
 * compose.yaml as the topology says it must be: what each service runs, with which environment,
 * volume, healthcheck and dependencies. compose.yaml is written by hand (with comments for a
 * reader); test/hosts/compose.test.ts parses it and compares it with `expectedCompose()`, and
 * deploy/haproxy.cfg with `composeHaproxyConfig()`, so neither can drift from the topology the
 * namespace run tests.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../build/build.ts';
import { haproxyConfig, type HaproxyOptions } from './haproxy.ts';
import {
  ENTRY,
  envFor,
  FRONTEND_HOSTS,
  kindOf,
  mainPort,
  PORTS,
  readinessPath,
  REPLICA_HOSTS,
  SERVICE_HOSTS,
  type HostName,
  type Placement,
  type ServiceHost,
} from './topology.ts';

/**
 * The compose secret holding the cluster secret (compose.yaml `secrets:`, from the CLUSTER_SECRET
 * of whoever runs compose).
 */
export const COMPOSE_SECRET = 'cluster_secret';
/**
 * Each service is a container named after its host, reached by that name, binding every
 * interface, its data on `/data`, the cluster secret where compose mounts its secrets.
 */
export const COMPOSE_PLACEMENT: Placement = {
  address: (h) => h,
  bind: () => '0.0.0.0',
  dataDir: () => '/data',
  secretFile: () => `/run/secrets/${COMPOSE_SECRET}`,
};
/** Docker's embedded DNS: haproxy re-resolves the frontends through it. */
export const COMPOSE_HAPROXY: HaproxyOptions = { bind: '0.0.0.0', dns: '127.0.0.11:53' };
export const DEPLOY_HAPROXY_CFG = 'deploy/haproxy.cfg';
export const HAPROXY_CFG_IN_IMAGE = '/usr/local/etc/haproxy/haproxy.cfg';

export const composeHaproxyConfig = () => haproxyConfig(COMPOSE_PLACEMENT, COMPOSE_HAPROXY);
export const writeDeployHaproxy = () =>
  fs.writeFile(path.join(REPO_ROOT, DEPLOY_HAPROXY_CFG), composeHaproxyConfig());

/** Hosts that keep data, each on a named volume of its own. */
export const DATA_HOSTS: readonly ServiceHost[] = ['catalog', ...REPLICA_HOSTS];
export const volumeOf = (h: ServiceHost) => `${h}-data`;

/** The URL a container's healthcheck asks (inside the container). */
export const healthcheckUrl = (h: ServiceHost) =>
  `http://127.0.0.1:${mainPort(h)}${readinessPath(h)}`;

export interface ExpectedService {
  command: string[] | null;
  /** Compose secrets mounted into the container. */
  secrets: string[];
  environment: Record<string, string> | null;
  volumes: string[];
  healthcheckUrl: string | null;
  dependsOn: string[];
  ports: string[];
}

export function expectedCompose(): Record<HostName, ExpectedService> {
  const out = {} as Record<HostName, ExpectedService>;
  for (const h of SERVICE_HOSTS) {
    const kind = kindOf(h);
    out[h] = {
      command: ['node', `dist/${ENTRY[kind]}`],
      secrets: [COMPOSE_SECRET],
      environment: envFor(h, COMPOSE_PLACEMENT),
      volumes: DATA_HOSTS.includes(h) ? [`${volumeOf(h)}:/data`] : [],
      healthcheckUrl: healthcheckUrl(h),
      // Replicas are ready only once a frontend has elected a leader: nobody waits on their health.
      dependsOn:
        kind === 'catalog' ? [] : kind === 'order' ? ['catalog'] : ['catalog', ...REPLICA_HOSTS],
      ports: [],
    };
  }
  out.lb = {
    command: null,
    secrets: [],
    environment: null,
    volumes: [`./${DEPLOY_HAPROXY_CFG}:${HAPROXY_CFG_IN_IMAGE}:ro`],
    healthcheckUrl: null,
    dependsOn: [...FRONTEND_HOSTS],
    ports: [`${PORTS.lb}:${PORTS.lb}`],
  };
  return out;
}
