/**
 * `npm start`: runs the whole store on one machine — catalog, order replicas 1..3 and the
 * frontend, each its own process — through the launcher in scripts/lib/cluster.
 *
 * Ports default to the lab's (frontend 8000, its internal listener 8002, catalog 8001, replicas
 * 8011/8012/8013) and DATA_DIR to ./data; the usual variables override them (FRONTEND_PORT,
 * FRONTEND_INTERNAL_PORT, CATALOG_PORT, ORDER_REPLICAS with ids 1..3, DATA_DIR; a port of 0 means
 * "any free port"), and CACHE_SIZE, CACHE_ENABLED, RESTOCK_INTERVAL_MS, HEARTBEAT_INTERVAL_MS,
 * COMMIT_QUORUM, HOST, LOG_LEVEL and LOG_FORMAT are passed through (LOG_FORMAT defaults to
 * pretty here: a person reads this output). This script is the one exception to "only main.ts
 * reads process.env": it validates with the same loadConfig and hands plain values on.
 *
 * Every service's log lines are shown prefixed with its name. A service that dies (a replica
 * killed by hand, on purpose) is reported and the others keep running. Ctrl-C, SIGTERM or SIGHUP
 * stops them all gracefully and exits 0; a second Ctrl-C SIGKILLs whatever is left.
 */
import path from 'node:path';
import { helpRequested, printHelp, serviceHelp } from '../shared/cli.ts';
import { DEFAULT_REPLICAS, loadConfigOrExit, SERVICES, SETTING_LIST } from '../shared/config.ts';
import { ClusterStartError, describeExit, prefixedOutput, REPLICA_IDS, SERVICE_NAMES, startCluster, type Cluster, type ClusterPorts, type ServiceName } from './lib/cluster/index.ts';

/** Every setting npm start reads that a service reads and the launcher does not compute (shared/config.ts). */
const PASSED_THROUGH = SETTING_LIST.filter((s) => !s.topology && s.readBy.includes('start') && SERVICES.some((svc) => s.readBy.includes(svc))).map((s) => s.env);

const say = (msg: string) => process.stdout.write(`[start]    ${msg}\n`);

if (helpRequested(process.argv.slice(2))) printHelp(serviceHelp('start'));
const config = loadConfigOrExit(process.env, 'start');
const ids = config.replicas.map((r) => r.id).sort();
if (ids.join(',') !== REPLICA_IDS.join(',')) {
  console.error(`start: ORDER_REPLICAS must name replicas ${REPLICA_IDS.join(', ')} (got ${ids.join(', ')})`);
  process.exit(2);
}
// What the launcher computes for each service and npm start does not read (CATALOG_URL, ORDER_ID...).
for (const s of SETTING_LIST) if (s.topology && !s.readBy.includes('start') && process.env[s.env]) say(`ignoring ${s.env}: the launcher sets it for each service`);

const portOf = (id: number) => config.replicas.find((r) => r.id === id)!.port;
const orZero = (p: number) => (p === 0 ? undefined : p);
const replicaPorts = REPLICA_IDS.map(portOf);
const ports: Partial<ClusterPorts> = {
  frontend: orZero(config.frontendPort),
  frontendInternal: orZero(config.frontendInternalPort),
  catalog: orZero(config.catalogPort),
  replicas: replicaPorts.includes(0) ? undefined : (replicaPorts as [number, number, number]),
};
const env: Record<string, string> = {};
for (const v of PASSED_THROUGH) if (process.env[v]) env[v] = process.env[v]!;
// Services log JSON lines; here a person reads them, so ask for pino-pretty's format (LOG_FORMAT=json
// keeps JSON), in color when our own output is a terminal (the children write to pipes).
env.LOG_FORMAT ??= 'pretty';
if (process.stdout.isTTY && !process.env.NO_COLOR && env.LOG_FORMAT === 'pretty') env.FORCE_COLOR ??= '1';

let cluster: Cluster | null = null;
let starting: Promise<Cluster> | null = null;
let shuttingDown = false;
let shutdownStartedMs = 0;
/** One Ctrl-C reaches us twice (the terminal signals the process group and tsx relays it too). */
const SAME_KEYPRESS_MS = 1_000;

async function shutdown(signal: string): Promise<void> {
  if (shuttingDown && performance.now() - shutdownStartedMs < SAME_KEYPRESS_MS) return;
  if (shuttingDown) {
    say(`${signal} again: killing what is left`);
    for (const pid of Object.values(cluster?.pids() ?? {})) if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    process.exit(130);
  }
  shuttingDown = true;
  shutdownStartedMs = performance.now();
  say(`${signal}: stopping every service`);
  // Mid-startup: let it finish (or fail, which stops what it started), then stop the rest.
  const c = cluster ?? (await starting?.catch(() => null));
  await c?.stop();
  say('all stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGHUP', () => void shutdown('SIGHUP')); // the terminal went away

try {
  starting = startCluster({
    dataDir: config.dataDir,
    ports,
    env,
    output: prefixedOutput(),
    onExit: (info) => {
      if (info.expected || shuttingDown || !cluster) return; // during startup the error says it
      say(`${info.service} (pid ${info.pid}) exited unexpectedly (${describeExit(info)}); the others keep running`);
      if (info.service.startsWith('order-') && cluster) say(`restart it by hand: ${restartCommand(cluster, info.service)}`);
      if (cluster && SERVICE_NAMES.every((s) => !cluster!.isRunning(s))) {
        say('no service is left running; exiting');
        process.exit(1);
      }
    },
  });
  cluster = await starting;
} catch (err) {
  if (shuttingDown) await new Promise(() => {}); // the signal handler exits
  if (err instanceof ClusterStartError) {
    // Their output is already on screen; the first line says what went wrong.
    console.error(`start: ${err.message.split('\n')[0]}`);
    if (err.addressInUse) console.error('start: a port is taken (another toystore running?). Set FRONTEND_PORT, FRONTEND_INTERNAL_PORT, CATALOG_PORT or ORDER_REPLICAS, or 0 for any free port.');
  } else console.error('start: failed', err);
  process.exit(1);
}
if (shuttingDown) await new Promise(() => {});
printSummary(cluster);

function printSummary(c: Cluster): void {
  const pids = c.pids();
  const row = (s: ServiceName, url: string, extra = '') => `  ${s.padEnd(9)} ${url.padEnd(24)} pid ${String(pids[s]).padEnd(8)}${extra}`;
  const lines = [
    '',
    `toystore is up (data in ${c.dataDir})`,
    row('frontend', c.urls.frontend, `internal ${c.urls.frontendInternal}`),
    row('catalog', c.urls.catalog),
    ...REPLICA_IDS.map((id) => row(`order-${id}`, c.urls.replicas[id])),
    '',
    `try:       curl ${c.urls.frontend}/products/Tux`,
    `           curl -X POST -H 'content-type: application/json' -d '{"name":"Tux","quantity":1}' ${c.urls.frontend}/orders`,
    `           curl ${c.urls.frontend}/orders/0`,
    `           curl ${c.urls.frontend}/health`,
    `crash:     kill -9 ${pids['order-3']}    # order-3, the leader (the highest id that is up); the frontend elects another`,
    `restart:   ${restartCommand(c, 'order-3')}    # in another terminal; it catches up from the leader`,
    'stop:      Ctrl-C (stops everything started here)',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** `ORDER_ID=3 npm run order`, plus each variable the order service reads that is not the default. */
function restartCommand(c: Cluster, service: ServiceName): string {
  const defaults: Record<string, string | undefined> = {
    ORDER_REPLICAS: DEFAULT_REPLICAS,
    CATALOG_URL: 'http://127.0.0.1:8001',
    DATA_DIR: path.resolve('data'),
    HOST: undefined,
    HEARTBEAT_INTERVAL_MS: undefined,
    COMMIT_QUORUM: undefined,
  };
  const envOf = c.envOf(service);
  const vars = Object.entries(envOf)
    .filter(([k, v]) => k in defaults && defaults[k] !== v)
    .map(([k, v]) => `${k}=${shellQuote(v)}`);
  return [`ORDER_ID=${envOf.ORDER_ID}`, ...vars, 'npm run order'].join(' ');
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
