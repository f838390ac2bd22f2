/**
 * `npm run bench` through its real CLI: a bad flag is one line and exit 2, and a quick run on a
 * machine without etcd says so, marks the etcd targets "not measured" (never PASS), and writes
 * its files to a temporary dir it names, leaving the committed docs/bench/ untouched.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPORT_FILES } from '../../scripts/lib/bench/report.ts';
import { RESULTS_FORMAT } from '../../scripts/lib/bench/results.ts';
import { runScript } from '../support/async.ts';

const DOCS = fileURLToPath(new URL('../../docs/bench/', import.meta.url));

async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await fs.readdir(dir)).sort())
    out[f] = createHash('sha256')
      .update(await fs.readFile(path.join(dir, f)))
      .digest('hex');
  return out;
}

describe('the bench CLI', () => {
  it('an unknown flag is one clear line on stderr and exit 2, not a stack trace', async () => {
    const r = await runScript('bench.ts', ['--quikc']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^bench: Unknown option '--quikc' \(npm run bench -- --help lists the flags\)$/,
      ),
    ]);
    expect(r.stdout).toBe('');
  });

  it('an --out it cannot write to is one line and exit 1, before anything runs', async () => {
    const file = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'bench-cli-test-')), 'a-file');
    await fs.writeFile(file, '');
    try {
      const r = await runScript('bench.ts', ['--quick', '--out', path.join(file, 'sub')]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        `bench: cannot write results to ${path.join(file, 'sub')}: ENOTDIR`,
      );
      expect(r.stdout).not.toContain('toystore bench');
    } finally {
      await fs.rm(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('--redraw of a results file from an older bench says so instead of drawing nonsense', async () => {
    // An older bench's file: the committed results with their format set back (the committed
    // results themselves are whatever the last full run wrote, so they cannot be the fixture).
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-cli-test-'));
    try {
      const results = JSON.parse(await fs.readFile(path.join(DOCS, 'results.json'), 'utf8'));
      const old = path.join(dir, 'results.json');
      await fs.writeFile(old, JSON.stringify({ ...results, format: RESULTS_FORMAT - 1 }));
      const r = await runScript('bench.ts', ['--redraw', old]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        `bench: ${old} is in results format ${RESULTS_FORMAT - 1}, this bench draws format ${RESULTS_FORMAT}: run the bench again`,
      );
      expect(await fs.readdir(dir)).toEqual(['results.json']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('--redraw of the committed results draws them again', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-cli-test-'));
    try {
      await fs.copyFile(path.join(DOCS, 'results.json'), path.join(dir, 'results.json'));
      const r = await runScript('bench.ts', ['--redraw', path.join(dir, 'results.json')]);
      expect(r.code, r.stderr).toBe(0);
      expect((await fs.readdir(dir)).sort()).toEqual([...REPORT_FILES].sort());
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('--help lists the scenarios and how to get etcd, and exits 0', async () => {
    const r = await runScript('bench.ts', ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'lab, throughput, etcd, clients, failover, catchup, startup, groupcommit',
    );
    expect(r.stdout).toContain('apt-get install etcd-server');
  });

  it('without etcd, a quick run says so, marks the etcd targets not measured, and writes to a temporary dir, not docs/bench/', async () => {
    const before = await fingerprint(DOCS);
    const r = await runScript('bench.ts', ['--quick', '--only', 'etcd'], {
      ETCD_BIN: path.join(os.tmpdir(), 'no-such-etcd'),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^etcd: not found, so the etcd targets are not measured/m);
    expect(r.stdout).toMatch(
      /^not measured\s+durable orders\/s vs etcd puts\/s \(32 clients\)\s+etcd is not installed/m,
    );
    expect(r.stdout).toMatch(
      /^not measured\s+order p50 vs etcd put p50 \(1 client\)\s+etcd is not installed/m,
    );
    expect(r.stdout).not.toMatch(/^PASS\s+(durable|order p50)/m);
    // The store side is still measured: CPU per durable order is judged.
    expect(r.stdout).toMatch(/^(PASS|MISS)\s+CPU per durable order/m);
    const out = /^results will go to (\S+) \(a temporary dir/m.exec(r.stdout)?.[1];
    expect(out).toBeDefined();
    try {
      expect(path.resolve(out!).startsWith(os.tmpdir())).toBe(true);
      const files = await fs.readdir(out!);
      expect(files).toEqual(
        expect.arrayContaining(['results.json', 'results.md', 'throughput.svg']),
      );
      expect(REPORT_FILES).toEqual(expect.arrayContaining(files));
      const json = JSON.parse(await fs.readFile(path.join(out!, 'results.json'), 'utf8'));
      expect(json.durable.etcd).toEqual({
        available: false,
        reason: expect.stringContaining('not installed'),
      });
      expect(await fs.readFile(path.join(out!, 'results.md'), 'utf8')).toContain(
        '**etcd was not measured**',
      );
    } finally {
      await fs.rm(out!, { recursive: true, force: true });
    }
    expect(await fingerprint(DOCS)).toEqual(before);
  }, 180_000);
});
