/**
 * What `npm start` shows a person (scripts/lib/cluster/console.ts), fed the services' own JSON
 * lines: events and errors as they happen, requests only when asked, a summary per service per
 * window, and with LOG_FORMAT=json nothing but JSON lines.
 */
import { describe, expect, it } from 'vitest';
import { StoreConsole, type ConsoleOptions } from '../../scripts/lib/cluster/console.ts';
import type { ServiceName } from '../../scripts/lib/cluster/types.ts';

const T0 = Date.parse('2026-12-01T12:00:00.000Z');

function consoleFor(opts: Partial<ConsoleOptions> = {}) {
  let now = T0;
  const out: string[] = [];
  const err: string[] = [];
  const c = new StoreConsole({
    format: 'pretty',
    now: () => now,
    out: { write: (s: string) => out.push(...s.split('\n').slice(0, -1)) },
    err: { write: (s: string) => err.push(...s.split('\n').slice(0, -1)) },
    ...opts,
  });
  return { c, out, err, advance: (ms: number) => (now += ms) };
}

const line = (service: ServiceName, fields: Record<string, unknown>, level = 30) =>
  JSON.stringify({ level, time: new Date(T0).toISOString(), service, pid: 1, ...fields });
const request = (
  service: ServiceName,
  method: string,
  route: string,
  status: number,
  ms: number,
  reqId = 'r1',
) =>
  line(
    service,
    { reqId, method, path: route, route, status, ms, msg: `${method} ${route} ${status} ${ms}ms` },
    status >= 500 ? 40 : 30,
  );

describe('by default a person sees what happened, not every request', () => {
  it('events are shown; requests and per-order cache invalidations are counted in the summary instead', () => {
    const { c, out, advance } = consoleFor();
    for (let i = 0; i < 20; i++)
      c.line('frontend', request('frontend', 'GET', '/products/:name', 200, 1 + i / 10));
    for (let i = 0; i < 10; i++)
      c.line('frontend', request('frontend', 'POST', '/orders', i < 9 ? 200 : 409, 5 + i));
    for (let i = 0; i < 9; i++)
      c.line(
        'frontend',
        line('frontend', { event: 'cache_invalidate', toy: 'Tux', msg: 'cache: invalidated Tux' }),
      );
    c.line(
      'frontend',
      line('frontend', {
        event: 'leader_change',
        leaderId: 3,
        epoch: 1,
        why: 'elected',
        msg: 'leader is replica 3 in epoch 1',
      }),
    );
    expect(out).toEqual([
      expect.stringMatching(/^\[frontend\] \d\d:\d\d:\d\d\.000 leader is replica 3 in epoch 1$/),
    ]);

    advance(10_000);
    const [summary] = c.summarize();
    expect(summary).toMatchObject({
      service: 'frontend',
      requests: 30,
      perSecond: 3,
      errors: 0,
      leaderId: 3,
      epoch: 1,
      routine: { cache_invalidate: 9 },
    });
    expect(summary!.orders).toMatchObject({ perSecond: 1, byStatus: { 200: 9, 409: 1 } });
    expect(out.at(-1)).toMatch(
      /^\[frontend\] \S+ last 10 s: 3 req\/s, p99 \d+ ms, 0 errors; orders 1\/s \(200: 9, 409: 1\), p99 14 ms; leader 3 \(epoch 1\); 9 cache invalidations \(not shown\)$/,
    );
  });

  it('LOG_REQUESTS=true shows each request with its id, so grep follows one order', () => {
    const { c, out } = consoleFor({ showRequests: true });
    c.line('order-3', request('order-3', 'POST', '/orders', 200, 4.2, 'abc123'));
    expect(out).toEqual([
      expect.stringMatching(/^\[order-3\]  \S+ POST \/orders 200 4\.2ms  req abc123$/),
    ]);
  });

  it('warnings say so; a failed request is shown, but a flood of them only the first few per window', () => {
    const { c, out, advance } = consoleFor();
    c.line(
      'catalog',
      line('catalog', { event: 'invalidation_failed', msg: 'invalidations to x failing' }, 40),
    );
    for (let i = 0; i < 50; i++) c.line('frontend', request('frontend', 'POST', '/orders', 503, 2));
    expect(out[0]).toMatch(/^\[catalog\]  \S+ WARN invalidations to x failing$/);
    expect(out.filter((l) => l.includes('POST /orders 503'))).toHaveLength(5);
    advance(10_000);
    const summaries = c.summarize();
    expect(summaries.find((s) => s.service === 'frontend')).toMatchObject({
      errors: 50,
      notShown: 45,
    });
    expect(out.at(-2)).toMatch(/50 errors; orders 5\/s \(503: 50\).*45 more lines not shown$/);
    // The next window has its budget again.
    c.line('frontend', request('frontend', 'POST', '/orders', 503, 2));
    expect(out.at(-1)).toMatch(/POST \/orders 503/);
  });

  it('LOG_REQUESTS=true shows every request, past the budget that still holds back a flood of warnings', () => {
    const { c, out, advance } = consoleFor({ showRequests: true, lineBudget: 3 });
    for (let i = 0; i < 10; i++)
      c.line('frontend', request('frontend', 'GET', '/products/:name', 200, 1, `r${i}`));
    for (let i = 0; i < 10; i++)
      c.line('frontend', line('frontend', { event: 'election', msg: `electing ${i}` }, 40));
    expect(out.filter((l) => l.includes('GET /products/:name 200'))).toHaveLength(10);
    expect(out.filter((l) => l.includes('WARN electing'))).toHaveLength(3);
    advance(10_000);
    expect(c.summarize()[0]).toMatchObject({ requests: 10, notShown: 7 });
  });

  it('what is not a JSON line (a refusal, a stack trace) is shown whole, whatever the budget', () => {
    const { c, out } = consoleFor({ lineBudget: 1 });
    c.line('catalog', line('catalog', { msg: 'catalog listening on http://127.0.0.1:1' }));
    c.line('catalog', line('catalog', { msg: 'over the budget' }));
    for (const t of ['TypeError: boom', '    at f (x.ts:1:1)']) c.line('catalog', t, 'stderr');
    expect(out).toEqual([
      expect.stringMatching(/catalog listening on/),
      '[catalog]  TypeError: boom',
      '[catalog]      at f (x.ts:1:1)',
    ]);
  });

  it('an error line carries its error message, and its stack when it is an error', () => {
    const { c, out } = consoleFor();
    c.line(
      'order-2',
      line(
        'order-2',
        {
          event: 'shutdown_failed',
          err: { message: 'EIO: fsync', stack: 'Error: EIO: fsync\n    at x' },
          msg: 'order-2: error during shutdown',
        },
        50,
      ),
    );
    expect(out).toEqual([
      expect.stringMatching(/^\[order-2\]  \S+ ERROR order-2: error during shutdown: EIO: fsync$/),
      '    Error: EIO: fsync',
      '        at x',
    ]);
  });
});

describe('lines from several services', () => {
  it('are printed in the order they were written, though each service sends its own late', () => {
    const { c, out, advance } = consoleFor({ reorderMs: 200 });
    const at = (ms: number, service: ServiceName, msg: string) =>
      JSON.stringify({
        level: 30,
        time: new Date(T0 + ms).toISOString(),
        service,
        event: 'x',
        msg,
      });
    c.line('order-2', at(30, 'order-2', 'leading epoch 2'));
    advance(90);
    c.line('frontend', at(10, 'frontend', 'electing a leader'));
    c.line('frontend', at(50, 'frontend', 'leader is replica 2'));
    expect(out).toEqual([]);
    advance(200);
    c.flush();
    expect(out.map((l) => l.replace(/^\S+ +\S+ /, ''))).toEqual([
      'electing a leader',
      'leading epoch 2',
      'leader is replica 2',
    ]);
  });

  it("the launcher's own line takes its place by time: a kill it saw first follows what the services wrote before it", () => {
    const { c, out, advance } = consoleFor({ reorderMs: 200 });
    const at = (ms: number, service: ServiceName, msg: string) =>
      JSON.stringify({
        level: 30,
        time: new Date(T0 + ms).toISOString(),
        service,
        event: 'x',
        msg,
      });
    advance(100);
    c.say('order-3 exited unexpectedly');
    advance(30);
    c.line('frontend', at(90, 'frontend', 'electing a leader'));
    c.line('frontend', at(120, 'frontend', 'leader is replica 2'));
    expect(out).toEqual([]);
    advance(300);
    c.flush();
    expect(out.map((l) => l.replace(/^\S+ +\S+ /, ''))).toEqual([
      'electing a leader',
      'order-3 exited unexpectedly',
      'leader is replica 2',
    ]);
    expect(out[1]).toMatch(/^\[start\]    \d\d:\d\d:\d\d\.\d{3} order-3 exited unexpectedly$/);
  });

  it('its errors go to stderr, in their place', () => {
    const { c, out, err } = consoleFor({ reorderMs: 10_000 });
    c.line('order-1', line('order-1', { event: 'stopped', msg: 'order-1: stopped cleanly' }));
    c.say('start: frontend exited', {}, 50);
    c.flush();
    expect(out).toEqual([expect.stringMatching(/order-1: stopped cleanly$/)]);
    expect(err).toEqual([expect.stringMatching(/^\[start\]    \S+ start: frontend exited$/)]);
  });
});

describe('the summary', () => {
  it('leaves out services that said nothing, and prints nothing when the whole store was idle', () => {
    const { c, out, advance } = consoleFor();
    c.line(
      'order-2',
      line('order-2', {
        event: 'leader_change',
        from: null,
        to: 3,
        epoch: 4,
        role: 'follower',
        msg: 'leader is replica 3 in epoch 4',
      }),
    );
    advance(10_000);
    expect(c.summarize().map((s) => s.service)).toEqual(['order-2']);
    expect(out.at(-1)).toMatch(
      /^\[order-2\]  \S+ last 10 s: 0 req\/s, p99 -, 0 errors; following 3 \(epoch 4\)$/,
    );
    const printed = out.length;
    advance(10_000);
    expect(c.summarize()).toEqual([]);
    expect(out).toHaveLength(printed);
  });

  it('a replica that leads says so; one that exited is reported once', () => {
    const { c, out, advance } = consoleFor();
    c.line(
      'order-3',
      line('order-3', {
        event: 'became_leader',
        epoch: 2,
        orders: 0,
        logFrom: 3,
        msg: 'leading epoch 2',
      }),
    );
    c.exited({ service: 'order-1', pid: 9, code: null, signal: 'SIGKILL', expected: false });
    advance(10_000);
    c.summarize();
    expect(out.filter((l) => l.includes('last 10 s'))).toEqual([
      // What it last said about the leader is stale once it is gone.
      expect.stringMatching(/^\[order-1\]  .*, 0 errors; exited \(signal SIGKILL\) at \S+$/),
      expect.stringMatching(/^\[order-3\]  .*; leading epoch 2$/),
    ]);
    advance(10_000);
    expect(c.summarize()).toEqual([]);
  });

  it('SUMMARY_INTERVAL_MS=0: the window still ends (budgets renew) but nothing is printed', () => {
    const { c, out, advance } = consoleFor();
    c.line('frontend', request('frontend', 'GET', '/products/:name', 200, 1));
    advance(10_000);
    expect(c.summarize(false)).toHaveLength(1);
    expect(out).toEqual([]);
  });
});

describe('LOG_FORMAT=json', () => {
  it("prints only JSON lines: the services' as they wrote them, its own and the summaries in the same shape", () => {
    const { c, out, err, advance } = consoleFor({ format: 'json' });
    const event = line('frontend', {
      event: 'leader_change',
      leaderId: 2,
      epoch: 3,
      msg: 'leader is replica 2 in epoch 3',
    });
    c.line('frontend', event);
    c.line('frontend', request('frontend', 'GET', '/products/:name', 200, 1));
    c.line(
      'order-1',
      'order: cannot listen on 127.0.0.1:8011: the port is in use (EADDRINUSE)',
      'stderr',
    );
    c.say('toystore is up', { event: 'up' });
    c.say('start: frontend exited', {}, 50);
    advance(10_000);
    c.summarize();
    const lines = [...out, ...err].map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out[0]).toBe(event);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          service: 'order-1',
          stream: 'stderr',
          level: 50,
          msg: expect.stringMatching(/EADDRINUSE/),
        }),
        expect.objectContaining({ service: 'start', event: 'up', msg: 'toystore is up' }),
        expect.objectContaining({
          service: 'frontend',
          event: 'summary',
          requests: 1,
          leaderId: 2,
        }),
      ]),
    );
    expect(err).toEqual([expect.stringContaining('"msg":"start: frontend exited"')]);
    // no request line without LOG_REQUESTS
    expect(lines.some((l) => l.route !== undefined)).toBe(false);
  });
});
