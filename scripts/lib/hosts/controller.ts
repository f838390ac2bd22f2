/**
 * The controller process: started by the supervisor inside the run's `ctl` namespace
 * (`ip netns exec tsh-<pid>-ctl node --import tsx controller.ts <options.json> <report.json>`),
 * it runs the whole experiment (run.ts) and writes its report as JSON.
 *
 * SIGTERM or SIGINT (the supervisor passing on a Ctrl-C, or its deadline) aborts the run: the
 * clients and the nemesis stop, every service is stopped gracefully, and a partial report is
 * written. The end of stdin means the supervisor is gone: the same, so nothing outlives it.
 */
import fs from 'node:fs/promises';
import { runHosts, type RunOptions } from './run.ts';

const [optionsFile, reportFile] = process.argv.slice(2);
if (!optionsFile || !reportFile) {
  console.error('usage: controller.ts <options.json> <report.json>');
  process.exit(2);
}
const options = JSON.parse(await fs.readFile(optionsFile, 'utf8')) as RunOptions;
const stop = new AbortController();
/**
 * Stopping is bounded too: services get their graceful shutdown, then whatever is left is killed on
 * exit.
 */
const STOP_BOUND_MS = 20_000;
const abort = (why: string) => {
  if (stop.signal.aborted) return;
  console.log(`[hosts] ${why}: stopping the run`);
  stop.abort();
  setTimeout(() => {
    console.error(
      `[hosts] still stopping after ${STOP_BOUND_MS / 1000} s: exiting (what is left is killed)`,
    );
    process.exit(1);
  }, STOP_BOUND_MS).unref();
};
process.on('SIGTERM', () => abort('SIGTERM'));
process.on('SIGINT', () => abort('SIGINT'));
process.stdin.on('end', () => abort('supervisor gone'));
process.stdin.on('error', () => {});
process.stdin.resume();
process.stdin.unref?.();

try {
  const report = await runHosts(options, stop.signal, (line) => console.log(`[hosts] ${line}`));
  await fs.writeFile(reportFile, JSON.stringify(report, null, 2));
  process.exit(0);
} catch (err) {
  console.error(`[hosts] the run failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
}
