/** A failed run as text: what broke, where, how to replay it, and what led up to it. */
import type { SimResult } from './options.ts';

export function describeFailure(r: Omit<SimResult, 'trace'>, replay: string): string {
  const lines = [
    `seed ${r.seed} (${r.mode}) failed at step ${r.failedStep} (t=${r.violations[0]?.atMs.toFixed(0)} ms): replay with ${replay}`,
    ...r.violations.slice(0, 8).map((v) => `  [${v.kind}] step ${v.step}: ${v.message}`),
    `  config: ${JSON.stringify(r.config)}`,
    '  last events:',
    ...r.traceTail.slice(-40).map((l) => `    ${l}`),
  ];
  return lines.join('\n');
}
