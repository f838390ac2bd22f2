/**
 * The consistency checker's CLI: `npm run check -- --data-dir DIR` (offline) or
 * `npm run check -- --replicas 1=URL,2=URL,3=URL --catalog URL` (live), with `--history FILE`
 * (repeatable) and `--json`. Live mode reads internal routes, so it takes the cluster secret the
 * way the services do: CLUSTER_SECRET or CLUSTER_SECRET_FILE.
 *
 * All logic lives in `lib/check/`; this file only reads argv, prints and picks the exit code, so
 * the library stays testable in-process and this is the only place that touches process.argv:
 * 0 no violation, 1 at least one violation (each printed with its records), 2 bad flags or input
 * that could not be read (unreachable service, unreadable data dir or history).
 */
import { credentialOf, withClusterCredential } from '../shared/auth.ts';
import { ConfigError, loadClusterSecret } from '../shared/config.ts';
import { createPooledHttp } from '../shared/http.ts';
import {
  CheckInputError,
  checkDataDir,
  checkLive,
  formatReport,
  parseCheckArgs,
  USAGE,
  type CheckReport,
} from './lib/check/index.ts';
import { toolArgs } from './lib/cli/flags.ts';
import { finish } from './lib/cli/finish.ts';

async function main(): Promise<number> {
  const args = toolArgs(
    {
      name: 'check',
      what: 'the consistency checker: reads the order logs, the catalog ledger and client histories, and reports every lost, duplicated or phantom order, divergence and stale read.',
      usage: USAGE,
    },
    parseCheckArgs,
  );

  let report: CheckReport;
  try {
    if (args.mode === 'offline') report = await checkDataDir(args.dataDir, args.histories);
    else {
      // The logs and the ledger are internal routes: the same CLUSTER_SECRET(_FILE) as the
      // services.
      let secret: string | null;
      try {
        secret = loadClusterSecret(process.env);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        console.error(`check: ${err.problems.join('; ')}`);
        return 2;
      }
      const http = withClusterCredential(
        createPooledHttp({ connectionsPerOrigin: 4 }),
        credentialOf(secret),
      );
      try {
        report = await checkLive(
          { replicas: args.replicas, catalog: args.catalog, http },
          args.histories,
        );
      } finally {
        await http.close();
      }
    }
  } catch (err) {
    if (!(err instanceof CheckInputError)) throw err;
    console.error(`check: ${err.message}`);
    return 2;
  }

  console.log(args.json ? JSON.stringify(report) : formatReport(report, args.maxPerKind));
  return report.violations.length > 0 ? 1 : 0;
}

finish('check', main, 2);
