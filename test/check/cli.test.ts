/**
 * The checker's CLI: flag parsing in-process (`parseCheckArgs`), then `scripts/check.ts` as a real
 * child process on temp data dirs written by hand: exit 0 and a zero summary when clean, exit 1
 * with each violation printed when not, exit 2 on a bad flag or an unreadable data dir.
 */
import { runScript } from '../support/async.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCheckArgs, type CheckReport } from '../../scripts/lib/check/index.ts';
import { UsageError } from '../../scripts/lib/cli/flags.ts';
import {
  buildLog,
  cleanScenario,
  logCsv,
  makeTempDir,
  writeHistory,
  writeScenario,
} from './fixtures.ts';

const runCli = (args: string[]) => runScript('check.ts', args);

describe('parseCheckArgs', () => {
  it('defaults to an offline check of ./data', () => {
    expect(parseCheckArgs([])).toEqual({
      mode: 'offline',
      dataDir: './data',
      histories: [],
      json: false,
      help: false,
      maxPerKind: 20,
    });
  });

  it('reads offline and live flags; --history repeats and takes comma lists', () => {
    expect(
      parseCheckArgs([
        '--data-dir',
        'd',
        '--history',
        'a.jsonl,b.jsonl',
        '--history=c.jsonl',
        '--json',
        '--max-per-kind',
        '3',
      ]),
    ).toEqual({
      mode: 'offline',
      dataDir: 'd',
      histories: ['a.jsonl', 'b.jsonl', 'c.jsonl'],
      json: true,
      help: false,
      maxPerKind: 3,
    });
    expect(
      parseCheckArgs([
        '--replicas',
        '2=http://127.0.0.1:8012/,1=http://127.0.0.1:8011',
        '--catalog',
        'http://127.0.0.1:8001',
      ]),
    ).toEqual({
      mode: 'live',
      replicas: [
        { id: 1, url: 'http://127.0.0.1:8011' },
        { id: 2, url: 'http://127.0.0.1:8012' },
      ],
      catalog: 'http://127.0.0.1:8001',
      histories: [],
      json: false,
      help: false,
      maxPerKind: 20,
    });
  });

  it.each([
    [['--data-dir', 'd', '--replicas', '1=http://x:1'], /exclude each other/],
    [['--catalog', 'http://x:1'], /--catalog needs --replicas/],
    [['--replicas', '1=ftp://x'], /not an http/],
    [['--replicas', 'one'], /not id=http/],
    [['--max-per-kind', 'lots'], /--max-per-kind must be an integer between 0 and 999999/],
    [['--replicas', '1=http://x:1,1=http://x:2'], /appears twice/],
    [['--bogus'], /bogus/],
    [['stray'], /stray/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseCheckArgs(argv)).toThrow(UsageError);
    expect(() => parseCheckArgs(argv)).toThrow(message);
  });
});

describe('check CLI process', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('exits 0 on a clean data dir and prints the summary line', async () => {
    const s = cleanScenario();
    const data = await writeScenario(path.join(dir, 'data'), s);
    const history = await writeHistory(dir, s.history);
    const r = await runCli(['--data-dir', data, '--history', history]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('check: 5 orders, 3 replicas, 0 violations');
  });

  it('exits 1 on violations and prints each with its kind and records; --json prints the report', async () => {
    const s = cleanScenario();
    const log = buildLog([...s.log, { name: 'Tux', quantity: 1, key: 'k-0', epoch: 3 }]);
    const data = await writeScenario(
      path.join(dir, 'data'),
      { ...s, log },
      { replicas: { 3: logCsv(s.log) } },
    );
    const r = await runCli(['--data-dir', data]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^check: 6 orders, 3 replicas, 2 violations \(.+\)$/m);
    expect(r.stdout).toMatch(
      /^\[duplicate-key\] order-1\/order-2: key k-0 is both order 0 and order 5$/m,
    );
    expect(r.stdout).toMatch(/^\[divergence\] order-3 has 5 orders, order-1\/order-2 has 6$/m);
    expect(r.stdout).toMatch(
      /^ {4}\{"index":5,"epoch":3,"name":"Tux","quantity":1,"key":"k-0","crc":\d+\}$/m,
    );

    const j = await runCli(['--data-dir', data, '--json']);
    expect(j.code).toBe(1);
    const report = JSON.parse(j.stdout) as CheckReport;
    expect(report.counts).toEqual({ 'duplicate-key': 1, divergence: 1 });
  });

  it('exits 2 on a bad flag or a data dir that cannot be read', async () => {
    const bad = await runCli(['--replicas', 'nonsense']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^check: --replicas: .*nonsense.* \(npm run check -- --help lists the flags\)$/,
      ),
    ]);
    const missing = await runCli(['--data-dir', path.join(dir, 'absent')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read data dir/);
  });
});
