/** The checker CLI's flags. */
import { parseArgs } from 'node:util';
import { httpOrigin, parseReplicaList, type ReplicaTarget } from './live.ts';
import { DEFAULT_MAX_PER_KIND } from './report.ts';
import { CheckInputError } from './snapshot.ts';

export const USAGE = `usage:
  npm run check -- [--data-dir DIR] [--history FILE]... [--max-per-kind N] [--json]
  npm run check -- --replicas 1=http://127.0.0.1:8011,2=...,3=... [--catalog http://127.0.0.1:8001] [--history FILE]... [--json]

Offline (default, DIR defaults to ./data) reads DIR/order-N/orders.csv and DIR/catalog/{ledger,products}.csv.
Live reads each replica's GET /internal/log and the catalog's GET /internal/ledger and /products:
  internal routes, so give it the cluster's secret as the services get it, CLUSTER_SECRET or
  CLUSTER_SECRET_FILE (npm start: CLUSTER_SECRET_FILE=data/cluster-secret).
--history takes a JSON-lines client history; repeat it or give a comma-separated list.
  Committed orders under keys unlike any history's are another writer's: counted, not judged.
--max-per-kind N  violations shown per kind in the report (default 20; the counts are always whole).
Exit: 0 no violation, 1 violations, 2 bad arguments or unreadable input.`;

interface CommonArgs {
  histories: string[];
  json: boolean;
  help: boolean;
  maxPerKind: number;
}
export type CheckArgs =
  | ({ mode: 'offline'; dataDir: string } & CommonArgs)
  | ({ mode: 'live'; replicas: ReplicaTarget[]; catalog: string | undefined } & CommonArgs);

/** Parses the CLI's flags (argv without node and the script); throws CheckInputError on misuse. */
export function parseCheckArgs(argv: readonly string[]): CheckArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'data-dir': { type: 'string' },
        replicas: { type: 'string' },
        catalog: { type: 'string' },
        history: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        'max-per-kind': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new CheckInputError((err as Error).message);
  }
  const histories = (values.history ?? [])
    .flatMap((h) => h.split(','))
    .map((h) => h.trim())
    .filter(Boolean);
  const rawMax = values['max-per-kind'];
  if (rawMax !== undefined && !/^\d{1,6}$/.test(rawMax))
    throw new CheckInputError(`--max-per-kind must be a whole number, got '${rawMax}'`);
  const common: CommonArgs = {
    histories,
    json: values.json ?? false,
    help: values.help ?? false,
    maxPerKind: rawMax === undefined ? DEFAULT_MAX_PER_KIND : Number(rawMax),
  };
  if (values.replicas !== undefined) {
    if (values['data-dir'] !== undefined)
      throw new CheckInputError('--data-dir and --replicas exclude each other (offline or live)');
    return {
      mode: 'live',
      replicas: parseReplicaList(values.replicas),
      catalog: values.catalog === undefined ? undefined : httpOrigin('--catalog', values.catalog),
      ...common,
    };
  }
  if (values.catalog !== undefined)
    throw new CheckInputError('--catalog needs --replicas (it is for a live check)');
  if (values['data-dir'] === '') throw new CheckInputError('--data-dir must not be empty');
  return { mode: 'offline', dataDir: values['data-dir'] ?? './data', ...common };
}
