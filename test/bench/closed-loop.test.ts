/**
 * The load loop both sides of the etcd comparison share: it counts only the answers that count
 * (a 409 is an answer, not an order), keeps their latencies, and counts requests that got no
 * answer apart.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closedLoop } from '../../scripts/lib/bench/closed-loop.ts';

let server: http.Server | null = null;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
});

/** Answers 200 to even-numbered requests and 409 to odd ones. */
async function alternating(): Promise<string> {
  let n = 0;
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(n++ % 2 === 0 ? 200 : 409, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

describe('closedLoop', () => {
  it('counts 200s as done and every status apart, with the same client for any request', async () => {
    const url = await alternating();
    const r = await closedLoop({
      clients: 4,
      durationMs: 300,
      request: () => ({ method: 'POST', url: `${url}/orders`, body: { name: 'Tux', quantity: 1 } }),
    });
    const total = (r.statusCodes['200'] ?? 0) + (r.statusCodes['409'] ?? 0);
    expect(total).toBeGreaterThan(4);
    expect(r.ok).toBe(r.statusCodes['200']);
    expect(Math.abs((r.statusCodes['200'] ?? 0) - (r.statusCodes['409'] ?? 0))).toBeLessThanOrEqual(
      4,
    );
    expect(r.networkErrors).toBe(0);
    expect(r.p50Ms).toBeGreaterThan(0);
    expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
  });

  it('a request that gets no answer is a network error, not an answer', async () => {
    const url = await alternating();
    await new Promise<void>((r) => server!.close(() => r()));
    server = null;
    const r = await closedLoop({
      clients: 2,
      durationMs: 100,
      request: () => ({ method: 'GET', url: `${url}/x` }),
    });
    expect(r.ok).toBe(0);
    expect(r.networkErrors).toBeGreaterThan(0);
    expect(r.statusCodes).toEqual({});
  });
});
