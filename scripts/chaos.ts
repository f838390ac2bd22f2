/**
 * The chaos tool's CLI: `npm run chaos -- [--seed N] [--duration S] [--clients N]
 * [--faults kill,pause,partition,power] [--overlap] [--keep] [--built DIR] [--json]`.
 *
 * All logic lives in `lib/chaos/`; this file reads argv, prints the timeline as it happens and
 * the summary line at the end (or one JSON report with --json), and picks the exit code: 0 no
 * violation, 1 violations or the store could not start, 2 bad flags, 130 interrupted. The first
 * Ctrl-C (or SIGTERM) stops the clients and the nemesis, then stops every process the run
 * started and removes its directory (unless --keep); a second one exits at once (the launcher's
 * exit hook and orphan guard still stop the children).
 */
import { randomInt } from 'node:crypto';
import {
  CHAOS_USAGE,
  formatReport,
  formatTimelineEvent,
  parseChaosArgs,
  runChaos,
} from './lib/chaos/index.ts';
import { toolArgs } from './lib/cli/flags.ts';
import { finish } from './lib/cli/finish.ts';

async function main(): Promise<number> {
  const args = toolArgs(
    {
      name: 'chaos',
      what: 'starts its own store (temporary dir, loopback), injects seeded faults under client load, heals, and checks that nothing was lost, duplicated or left stale.',
      usage: CHAOS_USAGE,
    },
    parseChaosArgs,
  );
  const seed = args.seed ?? randomInt(0x100000000);
  const abort = new AbortController();
  const onSignal = (sig: string) => {
    if (abort.signal.aborted) {
      console.error(`chaos: ${sig} again: exiting now`);
      process.exit(130);
    }
    console.error(`chaos: ${sig}: stopping the run and every process it started`);
    abort.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  if (!args.json)
    console.log(
      `chaos: seed ${seed}, duration ${args.durationS} s, ${args.clients} clients, faults ${args.faults.join(',') || 'none'}${args.overlap ? ', overlapping' : ''}`,
    );
  let report;
  try {
    report = await runChaos({
      seed,
      durationMs: Math.round(args.durationS * 1000),
      clients: args.clients,
      faults: args.faults,
      overlap: args.overlap,
      keep: args.keep,
      builtDir: args.builtDir,
      signal: abort.signal,
      onEvent: args.json ? undefined : (e) => console.log(formatTimelineEvent(e)),
    });
  } catch (err) {
    console.error(`chaos: ${err instanceof Error ? err.message : String(err)}`);
    return abort.signal.aborted ? 130 : 1;
  }
  if (args.json) console.log(JSON.stringify(report));
  else console.log(formatReport(report));
  if (report.interrupted) return 130;
  return report.violations.length > 0 ? 1 : 0;
}

finish('chaos', main, 1);
