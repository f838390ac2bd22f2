/**
 * The toy store's client CLI: drives the frontend with concurrent clients and reports latency,
 * failures and order correctness.
 *
 *   npm run client -- --clients 5 --iterations 100 --p 0.5 [--duration S]
 *                     [--url http://127.0.0.1:8000] [--seed N] [--history FILE]
 *                     [--no-idempotency] [--json]
 *
 * All logic lives in `lib/client/`; this file only reads argv, opens the history file, prints
 * and picks the exit code: 0 all good; 1 any mismatch (each is printed), a store violation the
 * client saw (a definite answer after an unknown outcome), or the run could not start; 2 bad
 * flags. On a terminal (and not with --json) one progress line, rewritten once a second, shows
 * requests, req/s, errors and p99 so far. Each client uses one keep-alive connection;
 * `runClients` closes them all when the run ends. Ctrl-C stops starting new iterations; the
 * read-back still runs, and the history file is closed whole (a second Ctrl-C exits at once).
 */
import { toolArgs } from './lib/cli/flags.ts';
import {
  describeStoreViolation,
  formatProgress,
  formatReport,
  openHistoryFile,
  parseClientArgs,
  runClients,
  summarize,
  USAGE,
  type ClientArgs,
  type HistoryFile,
  type Progress,
  type RunResult,
} from './lib/client/index.ts';
import { finish } from './lib/cli/finish.ts';

async function main(): Promise<number> {
  const args = toolArgs(
    {
      name: 'client',
      what: "the lab's load client: concurrent keep-alive clients that query toys, order them, retry with Idempotency-Keys and read every acknowledged order back.",
      usage: USAGE,
    },
    parseClientArgs,
  );
  let history: HistoryFile | null = null;
  if (args.history) {
    try {
      history = await openHistoryFile(args.history);
    } catch (err) {
      console.error(
        `client: cannot write the history file ${args.history}: ${err instanceof Error ? err.message : String(err)}`,
      );
      return 1;
    }
  }
  const stop = new AbortController();
  process.once('SIGINT', () => {
    stop.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  let result: RunResult;
  try {
    result = await run(args, history, stop.signal);
  } catch (err) {
    console.error(`client: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  return report(args, result);
}

/**
 * The run, its progress line shown while it lasts; the history file is closed whole whatever
 * happens.
 */
async function run(
  args: ClientArgs,
  history: HistoryFile | null,
  signal: AbortSignal,
): Promise<RunResult> {
  // A progress line only for a person at a terminal: not in JSON mode, not into a pipe or file.
  const progress = !args.json && process.stdout.isTTY ? progressLine(process.stdout) : null;
  try {
    return await runClients({
      baseUrl: args.url,
      clients: args.clients,
      iterations: args.iterations ?? undefined,
      durationMs: args.duration === null ? undefined : args.duration * 1000,
      signal,
      p: args.p,
      seed: args.seed,
      idempotency: args.idempotency,
      history: history?.write,
      onProgress: progress?.show,
    });
  } finally {
    progress?.clear();
    await history
      ?.close()
      .catch((err: unknown) =>
        console.error(`client: writing ${args.history} failed: ${String(err)}`),
      );
  }
}

/** Prints the report; the exit code: 1 when an order read back wrong or the store broke a rule. */
function report(args: ClientArgs, result: RunResult): number {
  const summary = summarize(result);
  if (args.json) console.log(JSON.stringify(summary));
  else console.log(formatReport(summary));
  if (summary.mismatches.length > 0 || summary.storeViolationCount > 0) {
    // The table already lists them; in JSON mode say it on stderr too so it is never missed.
    if (args.json)
      for (const m of summary.mismatches) console.error(`mismatch [${m.kind}]: ${m.message}`);
    if (args.json)
      for (const v of summary.storeViolations)
        console.error(`store violation [${v.kind}]: ${describeStoreViolation(v)}`);
    return 1;
  }
  return 0;
}

/** One line, rewritten in place (carriage return + erase to end of line), cleared at the end. */
function progressLine(out: NodeJS.WriteStream): { show: (p: Progress) => void; clear: () => void } {
  let shown = false;
  return {
    show: (p) => {
      out.write(`\r${formatProgress(p).slice(0, Math.max(20, (out.columns ?? 100) - 1))}\x1b[K`);
      shown = true;
    },
    clear: () => {
      if (shown) out.write('\r\x1b[K');
    },
  };
}

finish('client', main, 1);
