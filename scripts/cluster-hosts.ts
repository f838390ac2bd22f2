/**
 * `npm run cluster:hosts`: the store on seven network-namespace hosts (catalog, three replicas,
 * two frontends, haproxy), a seeded fault plan through the network, the checker, and a report.
 * The work is in scripts/lib/hosts/ (supervisor.ts is the entry); `--help` lists the options.
 */
import { printHelp, toolHelp, usageLine } from '../shared/cli.ts';
import { NamespacesUnavailable, superviseRun } from './lib/hosts/supervisor.ts';
import { formatReport, parseCliArgs, runPassed, USAGE, UsageError } from './lib/hosts/report.ts';

let options;
try {
  options = parseCliArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  if (!err.message)
    printHelp(
      toolHelp(
        'cluster:hosts',
        'the store on seven network-namespace hosts under a seeded fault plan, then the checker (needs root).',
        USAGE,
      ),
    );
  console.error(usageLine('cluster:hosts', 'npm run cluster:hosts', err.message));
  process.exit(2);
}
try {
  const result = await superviseRun(options, (line) =>
    (options.json ? process.stderr : process.stdout).write(`${line}\n`),
  );
  console.log(options.json ? JSON.stringify(result, null, 2) : formatReport(result));
  process.exit(runPassed(result) ? 0 : 1);
} catch (err) {
  if (err instanceof NamespacesUnavailable) {
    console.error(`cluster:hosts: ${err.message}`);
    process.exit(3);
  }
  throw err;
}
