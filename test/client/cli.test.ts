/**
 * The client CLI: flag validation in-process (`parseClientArgs`), then the real script as a child
 * process, once with a bad flag (exit 2) and against a fake store served on a loopback port over
 * real keep-alive connections (exit 0 with a JSON report; exit 1 when a read-back mismatches;
 * `--history` writes one JSON line per operation event; `--no-idempotency` sends no key).
 */
import { runScript } from '../support/async.ts';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_URL,
  parseClientArgs,
  UsageError,
  type RunSummary,
} from '../../scripts/lib/client/index.ts';
import { HistoryEventSchema } from '../../shared/contracts.ts';
import { createFakeStore, errorResponse, type FakeStoreOptions } from './fake-store.ts';

describe('parseClientArgs', () => {
  it('has defaults', () => {
    expect(parseClientArgs([])).toEqual({
      url: DEFAULT_URL,
      clients: 5,
      iterations: 100,
      duration: null,
      p: 0.5,
      seed: undefined,
      history: null,
      idempotency: true,
      json: false,
      help: false,
    });
  });

  it('reads every flag', () => {
    expect(
      parseClientArgs([
        '--clients',
        '3',
        '--iterations',
        '7',
        '--p',
        '0.25',
        '--url',
        'http://localhost:9000/',
        '--seed',
        '12',
        '--json',
      ]),
    ).toEqual({
      url: 'http://localhost:9000',
      clients: 3,
      iterations: 7,
      p: 0.25,
      seed: 12,
      duration: null,
      history: null,
      idempotency: true,
      json: true,
      help: false,
    });
    expect(
      parseClientArgs(['--history', 'h.jsonl', '--no-idempotency', '--duration', '2.5']),
    ).toMatchObject({
      history: 'h.jsonl',
      idempotency: false,
      duration: 2.5,
      iterations: null,
    });
    expect(parseClientArgs(['--duration', '3', '--iterations', '9'])).toMatchObject({
      duration: 3,
      iterations: 9,
    });
    expect(parseClientArgs(['--p=1', '--clients=1']).p).toBe(1);
    expect(parseClientArgs(['--p', '0']).p).toBe(0);
  });

  it.each([
    [['--p', '2'], /--p must be a number between 0 and 1/],
    [['--p=-0.1'], /--p must be/],
    [['--p', 'half'], /--p must be/],
    [['--p', ''], /--p must be/],
    [['--clients', '0'], /--clients must be an integer between 1 and 1000/],
    [['--clients', '1.5'], /--clients must be an integer/],
    [['--clients', 'many'], /--clients must be an integer/],
    [['--iterations=-3'], /--iterations must be an integer/],
    [['--iterations', '-3'], /iterations/],
    [['--seed', 'abc'], /--seed must be an integer/],
    [['--url', 'not a url'], /--url must be an http\(s\) URL/],
    [['--url', 'ftp://x'], /--url must be an http\(s\) URL/],
    [['--bogus'], /bogus/],
    [['extra'], /extra/],
    [['--clients'], /clients/],
    [['--duration', '0'], /--duration must be/],
    [['--duration', 'soon'], /--duration must be/],
    [['--history', ''], /--history needs/],
  ])('rejects %j with a clear message', (argv, message) => {
    expect(() => parseClientArgs(argv)).toThrow(UsageError);
    expect(() => parseClientArgs(argv)).toThrow(message);
  });
});

const runCli = (args: string[]) => runScript('client.ts', args);

let servers: ServerType[] = [];
afterEach(async () => {
  const open = servers;
  servers = [];
  await Promise.all(open.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function serveStore(opts: FakeStoreOptions = {}) {
  const store = createFakeStore(opts);
  const url = await new Promise<string>((resolve) => {
    servers.push(
      serve({ fetch: store.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
        resolve(`http://127.0.0.1:${info.port}`),
      ),
    );
  });
  return { store, url };
}

describe('client CLI process', () => {
  it('exits 2 with a message on a bad flag', async () => {
    const r = await runCli(['--p', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^client: --p must be a number between 0 and 1.* \(npm run client -- --help lists the flags\)$/,
      ),
    ]);
  });

  it('runs against a store over real connections and prints one JSON object', async () => {
    const { store, url } = await serveStore();
    const r = await runCli([
      '--url',
      url,
      '--clients',
      '2',
      '--iterations',
      '5',
      '--p',
      '1',
      '--seed',
      '3',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as RunSummary;
    expect(summary.seed).toBe(3);
    expect(summary.stats.query.count).toBe(10);
    expect(summary.stats.order.count).toBe(10);
    expect(summary.stats.order_query.count).toBe(10);
    expect(summary.orders.acknowledged).toBe(10);
    expect(summary.mismatches).toEqual([]);
    expect(store.orders).toHaveLength(10);
  });

  it('writes the history file with --history, and sends keys unless --no-idempotency', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-cli-'));
    try {
      const { store, url } = await serveStore();
      const file = path.join(dir, 'history.jsonl');
      const r = await runCli([
        '--url',
        url,
        '--clients',
        '2',
        '--iterations',
        '3',
        '--p',
        '1',
        '--seed',
        '3',
        '--json',
        '--history',
        file,
      ]);
      expect(r.code).toBe(0);
      const events = (await fs.readFile(file, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => HistoryEventSchema.parse(JSON.parse(l)));
      // 6 queries, 6 orders, 6 read-backs: one invoke and one completion each.
      expect(events).toHaveLength(36);
      expect(events.filter((e) => e.f === 'order' && e.type === 'ok')).toHaveLength(6);
      expect(new Set(store.keysSeen).size).toBe(6);
      expect(store.keysSeen.every((k) => k !== null)).toBe(true);

      const again = await serveStore();
      const r2 = await runCli([
        '--url',
        again.url,
        '--clients',
        '1',
        '--iterations',
        '2',
        '--p',
        '1',
        '--json',
        '--no-idempotency',
      ]);
      expect(r2.code).toBe(0);
      expect(JSON.parse(r2.stdout).idempotency).toBe(false);
      expect(again.store.keysSeen).toEqual([null, null]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('prints the table and exits 1 when an acknowledged order reads back wrong', async () => {
    const { url } = await serveStore({ onOrderQuery: () => errorResponse(404, 'order not found') });
    const r = await runCli([
      '--url',
      url,
      '--clients',
      '1',
      '--iterations',
      '2',
      '--p',
      '1',
      '--seed',
      '3',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^order_query\s+2/m);
    expect(r.stdout).toContain('MISMATCHES:');
    // stdout is a pipe here, not a terminal: no progress line (no carriage returns, no erase
    // codes).
    expect(r.stdout).not.toMatch(/\r|\x1b\[K/);
    expect(r.stdout.match(/\[missing\] order \d+/g)).toHaveLength(2);
  });
});
