/**
 * The toy store's client CLI: drives the frontend with concurrent clients and reports latency,
 * failures and order correctness.
 *
 *   npm run client -- --clients 5 --iterations 100 --p 0.5 [--url http://127.0.0.1:8000] [--seed N] [--json]
 *
 * All logic lives in `client-lib.ts`; this file only reads argv, prints and picks the exit code:
 * 0 all good, 1 any mismatch (each is printed) or the run could not start, 2 bad flags.
 * Each client uses one keep-alive connection; `runClients` closes them all when the run ends.
 */
import { formatReport, parseClientArgs, runClients, summarize, USAGE, UsageError, type ClientArgs } from './client-lib.ts';

async function main(): Promise<number> {
  let args: ClientArgs;
  try {
    args = parseClientArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`client: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }

  let result;
  try {
    result = await runClients({ baseUrl: args.url, clients: args.clients, iterations: args.iterations, p: args.p, seed: args.seed });
  } catch (err) {
    console.error(`client: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }

  const summary = summarize(result);
  if (args.json) console.log(JSON.stringify(summary));
  else console.log(formatReport(summary));
  if (summary.mismatches.length > 0) {
    // The table already lists them; in JSON mode say it on stderr too so it is never missed.
    if (args.json) for (const m of summary.mismatches) console.error(`mismatch [${m.kind}]: ${m.message}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error('client: unexpected error', err);
    process.exitCode = 1;
  },
);
