/**
 * `npm run sim` as a newcomer meets it (issue 14): through the real CLI and its real output. Help
 * that says what a seed is and names every flag; a bad flag is one clear line and exit 2, not a
 * stack trace; --json is one summary object; --first-failure stops a run at the first failing
 * seed (the stop itself is checked on the runner, since no honest seed fails on purpose).
 */
import { describe, expect, it } from 'vitest';
import { parseCliArgs } from '../../scripts/lib/sim/cli-args.ts';
import { runSeeds } from '../../scripts/lib/sim/runner.ts';
import { runTs } from '../support/async.ts';

const CLI = 'scripts/sim.ts';

describe('the sim CLI', () => {
  it('--help says what the simulator and a seed are, lists every flag with its default, and exits 0', async () => {
    const r = await runTs(CLI, ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('A seed is a number that decides everything about one run');
    for (const flag of [
      '--seeds N   (default 100)',
      '--mode',
      '--faults',
      '--tolerate',
      '--first-failure',
      '--jobs',
      '--json',
      '--trace',
    ])
      expect(r.stdout).toContain(flag);
    expect(r.stdout).not.toContain('--shim');
  });

  it('an unknown flag or a bad value is one line naming it, the usage, and exit 2', async () => {
    const unknown = await runTs(CLI, ['--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^sim: .*bogus/);
    expect(unknown.stderr).toContain('usage: npm run sim');
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
    const fault = await runTs(CLI, ['--faults', 'crash,meteor']);
    expect(fault.code).toBe(2);
    expect(fault.stderr).toContain('unknown fault class "meteor"');
  });

  it('--json prints one summary object: seeds run and passed, fault counts, no progress lines', async () => {
    const r = await runTs(CLI, ['--seeds', '2', '--start-seed', '7', '--steps', '40', '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0]!) as {
      seeds: { from: number; count: number };
      run: number;
      passed: number;
      failed: unknown[];
      faults: object;
    };
    expect(summary.seeds).toEqual({ from: 7, count: 2 });
    expect(summary.run).toBe(2);
    expect(summary.passed).toBe(2);
    expect(summary.failed).toEqual([]);
    expect(summary.faults).toBeTypeOf('object');
  });

  it('--first-failure is a flag of a multi-seed run, and the runner starts no seed after the one that says stop', async () => {
    expect(parseCliArgs(['--seeds', '5', '--first-failure']).firstFailure).toBe(true);
    expect(parseCliArgs(['--seeds', '5']).firstFailure).toBe(false);
    const seen: number[] = [];
    await runSeeds([1, 2, 3], { steps: 20 }, 1, (r) => {
      seen.push(r.seed);
      return r.seed === 2;
    });
    expect(seen).toEqual([1, 2]);
  });
});
