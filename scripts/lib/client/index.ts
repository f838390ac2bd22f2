/**
 * The load client as a library: `runClients` (run.ts) and what it deals in. The CLI
 * (scripts/client.ts), the chaos tool, the bench and the tests import from here.
 */
export * from './types.ts';
export { runClients, summarize } from './run.ts';
export { mulberry32 } from './rng.ts';
export { percentile } from './stats.ts';
export { openHistoryFile, type HistoryFile } from './history-file.ts';
export { formatReport } from './report.ts';
export { DEFAULT_URL, parseClientArgs, USAGE, UsageError, type ClientArgs } from './args.ts';
