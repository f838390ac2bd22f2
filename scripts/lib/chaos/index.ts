/**
 * The chaos tool as a library: the seeded schedule (schedule.ts), the link mesh of fault proxies
 * (links.ts), power-loss cuts (power.ts), the nemesis (nemesis.ts), the run (run.ts), judging
 * (judge.ts) and the report (report.ts). scripts/chaos.ts is its CLI.
 */
export * from './schedule.ts';
export * from './links.ts';
export * from './power.ts';
export * from './history-stats.ts';
export * from './args.ts';
export * from './report.ts';
export { judge, type Judgement } from './judge.ts';
export { Nemesis } from './nemesis.ts';
export { checkCacheAfterHeal, type FreshnessResult } from './freshness.ts';
export { LeaderWatch } from './leader.ts';
export { runChaos } from './run.ts';
