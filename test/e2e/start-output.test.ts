/**
 * What `npm start` prints, read from the real process while a client uses the store: with
 * LOG_FORMAT=json every line of its output is a JSON object (so `npm start | jq` works) and no
 * request line appears unless asked for; in the default format every line is a service's or its
 * own, prefixed, with a periodic summary per service, and LOG_REQUESTS=true adds the requests.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { pollFor } from '../support/async.ts';
import { startStore, type Store } from '../tools/processes.ts';

const stores: Store[] = [];
afterAll(async () => {
  for (const s of stores) await s.stop();
});

/** Some product reads and one acknowledged order (retried until a leader is elected). */
async function useTheStore(frontend: string): Promise<void> {
  for (let i = 0; i < 10; i++) expect((await fetch(`${frontend}/products/Tux`)).status).toBe(200);
  await pollFor('an acknowledged order', async () => {
    const r = await fetch(`${frontend}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'start-output-1' },
      body: '{"name":"Lego","quantity":1}',
    });
    await r.arrayBuffer();
    return r.status === 200 ? true : undefined;
  });
}

describe('LOG_FORMAT=json npm start', () => {
  it('prints nothing but JSON objects, each naming its service, with events and summaries and no request lines', async () => {
    const store = await startStore({ LOG_FORMAT: 'json', SUMMARY_INTERVAL_MS: '500' });
    stores.push(store);
    const json = () => store.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    const up = await pollFor('the "up" line', () => json().find((o) => o.event === 'up'), {
      deadlineMs: 90_000,
    });
    const frontend = (up.services as Record<string, { url: string }>).frontend!.url;
    await useTheStore(frontend);
    // The requests may straddle summary windows: together the frontend's summaries count them all.
    const counted = () =>
      json()
        .filter((o) => o.event === 'summary' && o.service === 'frontend')
        .reduce((n, o) => n + (o.requests as number), 0);
    await pollFor('frontend summaries that counted the requests', () =>
      counted() >= 11 ? true : undefined,
    );
    const exit = await store.stop();
    expect(exit.code).toBe(0);

    expect(store.stdout.length).toBeGreaterThan(10);
    for (const l of [...store.stdout, ...store.stderr]) {
      const o = JSON.parse(l) as unknown; // throws on any line that is not JSON
      expect(typeof o === 'object' && o !== null && !Array.isArray(o), l).toBe(true);
      expect(typeof (o as Record<string, unknown>).service, l).toBe('string');
    }
    const lines = json();
    expect(lines.some((o) => o.event === 'leader_change' && o.service === 'frontend')).toBe(true);
    expect(lines.filter((o) => o.route !== undefined)).toEqual([]);
    expect(
      lines
        .filter((o) => o.event === 'stopped')
        .map((o) => o.service)
        .sort(),
    ).toEqual(['catalog', 'frontend', 'order-1', 'order-2', 'order-3']);
  }, 180_000);
});

describe('npm start for a person', () => {
  it('prefixes every line, summarizes each service, and with LOG_REQUESTS=true shows each request', async () => {
    const store = await startStore({ LOG_REQUESTS: 'true', SUMMARY_INTERVAL_MS: '500' });
    stores.push(store);
    const frontend = await pollFor(
      'the frontend URL in the "up" table',
      () => {
        for (const l of store.stdout) {
          const m = /^\s+frontend\s+(http:\/\/127\.0\.0\.1:\d+)\s+pid/.exec(l);
          if (m) return m[1];
        }
        return undefined;
      },
      { deadlineMs: 90_000 },
    );
    await useTheStore(frontend);
    await pollFor('a frontend summary line', () =>
      store.stdout.find((l) => /^\[frontend\] \S+ last \d+ s: .* req\/s, p99 .*leader \d/.test(l)),
    );
    // The leader may send a purchase alone or in a batch, and the frontend an order likewise
    // (shared/batcher.ts).
    await pollFor('the order in the catalog and the leader', () =>
      store.stdout.some((l) => /^\[catalog\]  \S+ POST \/purchases(\/batch)? 200 /.test(l)) &&
      store.stdout.some((l) => /^\[order-\d\]  \S+ POST \/orders(\/batch)? 200 /.test(l))
        ? true
        : undefined,
    );
    expect(
      store.stdout.filter((l) =>
        /^\[frontend\] \S+ GET \/products\/Tux 200 [\d.]+ms  req \S+$/.test(l),
      ),
    ).toHaveLength(10);
    const exit = await store.stop();
    expect(exit.code).toBe(0);
    // Its own table aside, every line says whose it is.
    const table = store.stdout.findIndex((l) => l.startsWith('toystore is up'));
    const end = store.stdout.findIndex((l, i) => i > table && l.startsWith('stop:'));
    const rest = [...store.stdout.slice(0, table - 1), ...store.stdout.slice(end + 2)];
    for (const l of rest) expect(l).toMatch(/^\[(catalog|frontend|order-[123]|start)\] */);
  }, 180_000);
});
