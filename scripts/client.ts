/**
 * The toy store's client CLI: drives the frontend with concurrent clients and reports latency,
 * failures and order correctness.
 *
 *   npm run client -- --clients 5 --iterations 100 --p 0.5 [--duration S] [--url http://127.0.0.1:8000]
 *                     [--seed N] [--history FILE] [--no-idempotency] [--json]
 *
 * All logic lives in `lib/client/`; this file only reads argv, opens the history file, prints
 * and picks the exit code: 0 all good, 1 any mismatch (each is printed) or the run could not
 * start, 2 bad flags. Each client uses one keep-alive connection; `runClients` closes them all
 * when the run ends. Ctrl-C stops starting new iterations; the read-back still runs, and the
 * history file is closed whole (a second Ctrl-C exits at once).
 */
import {
  formatReport,
  openHistoryFile,
  parseClientArgs,
  runClients,
  summarize,
  USAGE,
  UsageError,
  type ClientArgs,
  type HistoryFile,
} from './lib/client/index.ts';

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

  let history: HistoryFile | null = null;
  if (args.history) {
    try {
      history = await openHistoryFile(args.history);
    } catch (err) {
      console.error(`client: cannot write the history file ${args.history}: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
  }

  const stop = new AbortController();
  process.once('SIGINT', () => {
    stop.abort();
    process.once('SIGINT', () => process.exit(130));
  });

  let result;
  try {
    result = await runClients({
      baseUrl: args.url,
      clients: args.clients,
      iterations: args.iterations ?? undefined,
      durationMs: args.duration === null ? undefined : args.duration * 1000,
      signal: stop.signal,
      p: args.p,
      seed: args.seed,
      idempotency: args.idempotency,
      history: history?.write,
    });
  } catch (err) {
    console.error(`client: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await history?.close().catch((err: unknown) => console.error(`client: writing ${args.history} failed: ${String(err)}`));
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
