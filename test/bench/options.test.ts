/**
 * The bench's command line: a smoke run never overwrites the committed results in docs/bench/
 * (only the full run of every scenario at the defaults writes there unless --out says
 * otherwise), and a bad flag is one clear message, not a stack trace.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommand, SCENARIOS } from '../../scripts/lib/bench/options.ts';

const ROOT = '/repo';
const run = (argv: string[]) => {
  const c = parseCommand(argv, ROOT);
  if (c.kind !== 'run') throw new Error(`expected a run, got ${JSON.stringify(c)}`);
  return c.options;
};

describe('where the bench writes its results', () => {
  it('the full run of every scenario at the defaults writes docs/bench/', () => {
    expect(run([]).out).toBe(path.join(ROOT, 'docs', 'bench'));
  });

  it.each([
    [['--quick']],
    [['--only', 'throughput']],
    [['--profile', '/tmp/p']],
    [['--log-level', 'warn']],
    [['--connections', '50']],
  ])(
    'when the run is not the canonical one (%j), it goes to a temporary dir, not docs/bench/',
    (argv) => {
      expect(run(argv).out).toBeNull();
    },
  );

  it('--out is honoured for any run, quick included', () => {
    expect(run(['--quick', '--out', '/tmp/x']).out).toBe('/tmp/x');
  });
});

describe('what the bench runs', () => {
  it('runs every scenario in a full run and all but group commit in a quick one', () => {
    expect([...run([]).scenarios]).toEqual([...SCENARIOS]);
    expect(run(['--quick']).scenarios.has('groupcommit')).toBe(false);
    expect(run(['--quick']).scenarios.has('etcd')).toBe(true);
  });

  it('--only picks scenarios by name, the etcd comparison included', () => {
    expect([...run(['--only', 'etcd,startup']).scenarios]).toEqual(['etcd', 'startup']);
  });

  it('runs the services at their own default log level unless told', () => {
    expect(run([]).logLevel).toBe('info');
    expect(run(['--log-level', 'warn']).logLevel).toBe('warn');
  });
});

describe('bad command lines', () => {
  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--only', 'lab,nope'], /--only: unknown scenario nope/],
    [['--only', ''], /--only: unknown scenario \(none given\)/],
    [['--log-level', 'loud'], /--log-level must be one of/],
    [['--connections', '0'], /--connections must be an integer/],
    [['stray'], /unexpected argument "stray"/],
    [['--out'], /argument missing/],
    [['--profile-top'], /give one or more/],
  ])('%j is an error naming what is wrong', (argv, message) => {
    const c = parseCommand(argv, ROOT);
    expect(c.kind).toBe('error');
    expect(c.kind === 'error' && c.message).toMatch(message);
  });

  it('--redraw and --profile-top run nothing', () => {
    expect(parseCommand(['--redraw', 'r.json'], ROOT)).toEqual({
      kind: 'redraw',
      file: path.resolve('r.json'),
    });
    expect(parseCommand(['--profile-top', 'a', 'b'], ROOT)).toEqual({
      kind: 'profile-top',
      paths: ['a', 'b'],
    });
  });
});
