/**
 * `--help` on every entry point, through its real output: it says what the program is, lists
 * the variables it reads with their defaults (from the config table) or its flags, and exits 0
 * without starting anything. Before, `npm run catalog -- --help` started a catalog and
 * `npm run order -- --help` failed on ORDER_ID.
 */
import { describe, expect, it } from 'vitest';
import { settingsReadBy, SETTING_LIST, type Reader } from '../../shared/config.ts';
import { run, runTs } from './processes.ts';

/** How --help shows a variable's default: `NAME=default` or `NAME (what it is)`. */
function shownAs(env: string): RegExp {
  return new RegExp(`^  ${env}[= ]`, 'm');
}

function expectListsExactly(stdout: string, reader: Reader): void {
  for (const s of settingsReadBy(reader)) {
    expect(stdout, s.env).toMatch(shownAs(s.env));
    const d = s.defaultText ?? (typeof s.default === 'string' ? s.default : '');
    if (!d.startsWith('('))
      expect(stdout, `${s.env}'s default`).toContain(`${s.env}=${d.replace(/`/g, '')}`);
  }
  for (const s of SETTING_LIST.filter((x) => !x.readBy.includes(reader)))
    expect(stdout, s.env).not.toMatch(shownAs(s.env));
}

describe('a service asked for help', () => {
  for (const service of ['catalog', 'order', 'frontend'] as const) {
    it(`${service} --help says what it is and lists exactly the variables it reads, with defaults, and starts nothing`, async () => {
      // No ORDER_ID, ports that are surely taken: help must not need either.
      const r = await runTs(`${service}/main.ts`, ['--help'], {
        FRONTEND_PORT: '1',
        CATALOG_PORT: '1',
      });
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^${service}: \\S`));
      expect(r.stdout).not.toMatch(/listening on/);
      expectListsExactly(r.stdout, service);
    });
  }

  it('through npm, as the README says: npm run order -- --help', async () => {
    const r = await run('npm', ['run', 'order', '--', '--help'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^order: one order replica/m);
    expect(r.stdout).toMatch(shownAs('ORDER_REPLICAS'));
  });

  it('a service given an argument it does not take says so in one line and exits 2', async () => {
    const r = await runTs('catalog/main.ts', ['--port', '9000']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^catalog: unexpected argument "--port": .*--help lists them\)$/),
    ]);
  });
});

describe('npm start asked for help', () => {
  it('npm start -- --help lists every variable it reads and passes on, and starts nothing', async () => {
    const r = await run('npm', ['start', '--', '--help'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^npm start: runs the whole store/m);
    expect(r.stdout).not.toMatch(/listening on|toystore is up/);
    expectListsExactly(r.stdout.slice(r.stdout.indexOf('npm start:')), 'start');
  });
});

describe('a tool asked for help', () => {
  const TOOLS: Array<[string, string, RegExp]> = [
    ['scripts/client.ts', 'client', /--clients N/],
    ['scripts/chaos.ts', 'chaos', /--faults LIST/],
    ['scripts/check.ts', 'check', /--data-dir DIR/],
    ['scripts/repair.ts', 'repair', /--dry-run/],
    ['scripts/bench.ts', 'npm run bench', /--only a,b/],
    ['scripts/cluster-hosts.ts', 'cluster:hosts', /--seed N/],
    ['scripts/build.ts', 'build', /--out DIR/],
    ['scripts/layout.ts', 'layout', /--over N/],
  ];
  for (const [file, name, flag] of TOOLS) {
    it(`${name} --help says what it is and lists its flags on stdout, exit 0`, async () => {
      const r = await runTs(file, ['--help']);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout.split('\n')[0]).toMatch(
        new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\S*:? \\S`),
      );
      expect(r.stdout).toMatch(flag);
    });
  }

  it('build --help builds nothing; an unknown flag to build is one line and exit 2', async () => {
    const help = await runTs('scripts/build.ts', ['-h']);
    expect(help.code).toBe(0);
    expect(help.stdout).not.toMatch(/^built /m);
    const bad = await runTs('scripts/build.ts', ['--outt', '/tmp/x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^build: Unknown option '--outt'.*--help lists the flags\)$/),
    ]);
  });
});
