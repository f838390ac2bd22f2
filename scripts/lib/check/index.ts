/**
 * The consistency checker as a library: load (offline.ts, live.ts, histories.ts), judge
 * (judge.ts), print (report.ts), and the CLI's flags (args.ts). scripts/check.ts is its CLI.
 */
export * from './snapshot.ts';
export * from './offline.ts';
export * from './live.ts';
export * from './histories.ts';
export * from './judge.ts';
export * from './report.ts';
export * from './args.ts';
