/** The checker CLI's flags. */
import { intFlag, parseFlags, UsageError } from '../cli/flags.ts';
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

/**
 * The library's own check of a value (it throws CheckInputError), as a refusal of the flag that
 * gave it: the rule stays where the library owns it.
 */
function asFlag<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof CheckInputError) throw new UsageError(err.message);
    throw err;
  }
}

/** Parses the CLI's flags (argv without node and the script); throws UsageError on misuse. */
export function parseCheckArgs(argv: readonly string[]): CheckArgs {
  const values = parseFlags(argv, {
    'data-dir': { type: 'string' },
    replicas: { type: 'string' },
    catalog: { type: 'string' },
    history: { type: 'string', multiple: true },
    json: { type: 'boolean', default: false },
    'max-per-kind': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  const histories = (values.history ?? [])
    .flatMap((h) => h.split(','))
    .map((h) => h.trim())
    .filter(Boolean);
  const common: CommonArgs = {
    histories,
    json: values.json ?? false,
    help: values.help ?? false,
    maxPerKind: intFlag('max-per-kind', values['max-per-kind'], DEFAULT_MAX_PER_KIND, 0, 999_999),
  };
  if (values.replicas !== undefined) {
    if (values['data-dir'] !== undefined)
      throw new UsageError('--data-dir and --replicas exclude each other (offline or live)');
    const { replicas, catalog } = values;
    return {
      mode: 'live',
      replicas: asFlag(() => parseReplicaList(replicas)),
      catalog: catalog === undefined ? undefined : asFlag(() => httpOrigin('--catalog', catalog)),
      ...common,
    };
  }
  if (values.catalog !== undefined)
    throw new UsageError('--catalog needs --replicas (it is for a live check)');
  if (values['data-dir'] === '') throw new UsageError('--data-dir must not be empty');
  return { mode: 'offline', dataDir: values['data-dir'] ?? './data', ...common };
}
