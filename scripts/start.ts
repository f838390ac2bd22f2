/**
 * `npm start`: runs the whole store on one machine — catalog, order replicas 1..3 and the
 * frontend, each its own process — through the launcher in scripts/lib/cluster.
 *
 * Ports default to the lab's (frontend 8000, its internal listener 8002, catalog 8001, replicas
 * 8011/8012/8013) and DATA_DIR to ./data; the usual variables override them (a port of 0 means
 * "any free port"). Every other setting this reads (the config table, shared/config.ts: the
 * entries read by `start`) it passes on, and the launcher gives each service exactly the ones it
 * reads. This script is the one exception to "only main.ts reads process.env": it validates with
 * the same loadConfig and hands plain values on.
 *
 * The services always write JSON lines; what a person sees is chosen in
 * scripts/lib/cluster/console.ts: events, warnings and errors as they happen, a summary per
 * service every SUMMARY_INTERVAL_MS, request lines only with LOG_REQUESTS=true, and JSON lines
 * only (no prefix) with LOG_FORMAT=json. A service that dies (a replica killed by hand, on
 * purpose) is reported and the others keep running. Ctrl-C, SIGTERM or SIGHUP stops them all
 * gracefully; a second Ctrl-C SIGKILLs whatever is left.
 *
 * The cluster secret (CLUSTER_SECRET or CLUSTER_SECRET_FILE) is not passed on like the other
 * settings: it is the launcher's `clusterSecret`, and when neither is set this makes one in
 * DATA_DIR/cluster-secret (scripts/lib/cluster/secret.ts). What it prints names the variable or
 * the file, never the secret.
 */
import path from 'node:path';
import { helpRequested, printHelp, serviceHelp } from '../shared/cli.ts';
import { loadConfigOrExit, nonDefaultVariables, SERVICES, SETTING_LIST } from '../shared/config.ts';
import { StoreConsole } from './lib/cluster/console.ts';
import { LEVEL } from './lib/cluster/log-lines.ts';
import {
  ClusterStartError,
  describeExit,
  REPLICA_IDS,
  SERVICE_NAMES,
  startCluster,
  type Cluster,
  type ClusterPorts,
  type ServiceName,
} from './lib/cluster/index.ts';
import { ensureSecretFile } from './lib/cluster/secret.ts';

const argv = process.argv.slice(2);
if (helpRequested(argv)) printHelp(serviceHelp('start'));
if (argv.length > 0) {
  console.error(
    `start: unexpected argument ${JSON.stringify(argv[0])}: npm start takes no flags, only environment variables (npm start -- --help lists them)`,
  );
  process.exit(2);
}
const config = loadConfigOrExit(process.env, 'start');
const pretty = config.logFormat !== 'json';
const out = new StoreConsole({
  format: pretty ? 'pretty' : 'json',
  color: pretty && Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
  showRequests: config.logRequests,
  // Each service writes its lines out every 100 ms (shared/logger.ts): hold them a little longer
  // and print them in the order they happened across services.
  reorderMs: 250,
});
// Lines held for ordering are printed whatever ends the process.
process.on('exit', () => out.flush());
const SUMMARY_TICK_MS = config.summaryIntervalMs || 10_000;
const say = (msg: string, fields?: Record<string, unknown>) => out.say(msg, fields);
const fail = (msg: string) => out.say(msg, {}, LEVEL.error);

const ids = config.replicas.map((r) => r.id).sort();
if (ids.join(',') !== REPLICA_IDS.join(',')) {
  fail(
    `start: ORDER_REPLICAS must name replicas ${REPLICA_IDS.join(', ')} (got ${ids.join(', ')})`,
  );
  process.exit(2);
}
// What the launcher computes for each service and npm start does not read (CATALOG_URL, ...).
for (const s of SETTING_LIST)
  if (s.topology && !s.readBy.includes('start') && process.env[s.env])
    say(`ignoring ${s.env}: the launcher sets it for each service`);

const portOf = (id: number) => config.replicas.find((r) => r.id === id)!.port;
const orZero = (p: number) => (p === 0 ? undefined : p);
const replicaPorts = REPLICA_IDS.map(portOf);
const ports: Partial<ClusterPorts> = {
  frontend: orZero(config.frontendPort),
  frontendInternal: orZero(config.frontendInternalPort),
  catalog: orZero(config.catalogPort),
  replicas: replicaPorts.includes(0) ? undefined : (replicaPorts as [number, number, number]),
};
// Every setting a service reads that is neither topology nor the secret, as given; the launcher
// hands each to the services that read it. The services always write JSON: this process renders
// it (console.ts).
const env: Record<string, string> = {};
for (const s of SETTING_LIST) {
  const passed =
    !s.topology &&
    !s.secret &&
    s.readBy.includes('start') &&
    SERVICES.some((svc) => s.readBy.includes(svc));
  if (passed && process.env[s.env]) env[s.env] = process.env[s.env]!;
}
env.LOG_FORMAT = 'json';

const secret = clusterSecret();

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
    for (const pid of Object.values(cluster?.pids() ?? {}))
      if (pid)
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
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
    clusterSecret: secret.secret,
    ports,
    env,
    output: (service, line, stream) => out.line(service, line, stream),
    onExit: (info) => {
      if (info.expected || shuttingDown || !cluster) return; // during startup the error says it
      out.exited(info);
      say(
        `${info.service} (pid ${info.pid}) exited unexpectedly (${describeExit(info)}); the others keep running`,
      );
      if (info.service.startsWith('order-') && cluster)
        say(`restart it by hand: ${restartCommand(cluster, info.service)}`);
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
    fail(`start: ${err.message.split('\n')[0]}`);
    if (err.addressInUse)
      fail(
        'start: a port is taken (another toystore running?). Set FRONTEND_PORT, FRONTEND_INTERNAL_PORT, CATALOG_PORT or ORDER_REPLICAS, or 0 for any free port.',
      );
  } else fail(`start: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
}
if (shuttingDown) await new Promise(() => {});
printUpTable(cluster);
// The first window starts once the store is up: while it starts, its events say more than a
// summary of no requests would. (With SUMMARY_INTERVAL_MS=0 the windows still end, so the line
// budgets renew, but nothing is printed.)
out.summarize(false);
setInterval(() => out.summarize(config.summaryIntervalMs > 0), SUMMARY_TICK_MS).unref();

function printUpTable(c: Cluster): void {
  const pids = c.pids();
  const row = (s: ServiceName, url: string, extra = '') =>
    `  ${s.padEnd(9)} ${url.padEnd(24)} pid ${String(pids[s]).padEnd(8)}${extra}`;
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
    `           open ${c.urls.frontend}/status in a browser`,
    `crash:     kill -9 ${pids['order-3']}    # order-3, the leader (the highest id that is up); the frontend elects another`,
    `restart:   ${restartCommand(c, 'order-3')}    # in another terminal; it catches up from the leader`,
    `secret:    internal routes need the cluster secret: ${secret.hint} for tools and services started by hand`,
    `shown:     events and errors${config.summaryIntervalMs > 0 ? `, and a summary per service every ${describeInterval(config.summaryIntervalMs)}` : ''}${config.logRequests ? ', and every request' : ' (LOG_REQUESTS=true shows every request)'}`,
    'stop:      Ctrl-C (stops everything started here)',
    '',
  ];
  const services = Object.fromEntries(
    SERVICE_NAMES.map((s) => [
      s,
      {
        url:
          s === 'frontend'
            ? c.urls.frontend
            : s === 'catalog'
              ? c.urls.catalog
              : c.urls.replicas[Number(s.slice(6)) as 1 | 2 | 3],
        pid: pids[s],
      },
    ]),
  );
  out.block(lines, 'toystore is up', {
    event: 'up',
    dataDir: c.dataDir,
    services,
    internalUrl: c.urls.frontendInternal,
    secretHint: secret.hint,
  });
}

/**
 * The cluster secret: the user's (CLUSTER_SECRET or CLUSTER_SECRET_FILE), else the data dir's own
 * (made on the first start), and how a command started by hand gets the same one: the file, or
 * the user's own variable, never the secret itself.
 */
function clusterSecret(): { secret: string; hint: string } {
  if (config.clusterSecretFile)
    return {
      secret: config.clusterSecretFile.secret,
      hint: `CLUSTER_SECRET_FILE=${shellQuote(shownPath(config.clusterSecretFile.file))}`,
    };
  if (config.clusterSecret !== null)
    return { secret: config.clusterSecret, hint: 'CLUSTER_SECRET="$CLUSTER_SECRET"' };
  try {
    const { secret, file } = ensureSecretFile(config.dataDir);
    return { secret, hint: `CLUSTER_SECRET_FILE=${shellQuote(shownPath(file))}` };
  } catch (err) {
    fail(`start: ${(err as Error).message}`);
    process.exit(2);
  }
}

/** Relative when below the working directory (data/cluster-secret), else absolute. */
function shownPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** `ORDER_ID=3 npm run order`, plus each variable the replica was given that is not its default. */
function restartCommand(c: Cluster, service: ServiceName): string {
  const given = c.envOf(service);
  // LOG_FORMAT=json is for this launcher; a person's terminal gets the replica's own default. A
  // secret (the table's `secret`) is never copied: the hint names the file or the user's variable.
  const secretVars = new Set(SETTING_LIST.filter((s) => s.secret).map((s) => s.env));
  const vars = nonDefaultVariables(given, 'order').filter(
    (v) => v !== 'ORDER_ID' && v !== 'LOG_FORMAT' && !secretVars.has(v),
  );
  return [
    `ORDER_ID=${given.ORDER_ID}`,
    ...vars.map((v) => `${v}=${shellQuote(given[v]!)}`),
    secret.hint,
    'npm run order',
  ].join(' ');
}

/** `10 s`, `500 ms`. */
function describeInterval(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
