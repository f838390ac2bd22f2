/**
 * The load client as a library: `runClients` (run.ts) and what it deals in. The CLI
 * (scripts/client.ts), the chaos tool, the bench and the tests import from here.
 */
export * from './types.ts';
export { runClients, summarize } from './run.ts';
export { mulberry32 } from './rng.ts';
export { LatencyHistogram } from './latency.ts';
export { describeStoreViolation, type StoreViolation } from './violations.ts';
export type { Attempt } from './send.ts';
export { openHistoryFile, type HistoryFile } from './history-file.ts';
export { formatProgress, formatReport } from './report.ts';
export { DEFAULT_URL, parseClientArgs, USAGE, UsageError, type ClientArgs } from './args.ts';
