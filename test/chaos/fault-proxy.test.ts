/**
 * The fault proxy (scripts/lib/fault-proxy) against a tiny local HTTP server on port 0, over real
 * loopback sockets: pass forwards requests and keep-alive connections; drop resets open and new
 * connections; blackhole accepts and never answers, also on a connection that was open before,
 * and delivers in order once healed; delay forwards after the delay. No timing is asserted
 * beyond "not answered before the timeout" (which only needs the proxy to hold the bytes).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../../scripts/lib/fault-proxy/proxy.ts';
import { createPooledHttp, NetworkError } from '../../shared/http.ts';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** An HTTP server answering `{ path, n }` (n = requests so far) and echoing POST bodies. */
async function startServer(): Promise<{ url: string; requests: () => number }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    n++;
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, n, body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => n };
}

async function proxyTo(target: string | null): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ target });
  cleanup.push(() => proxy.close());
  return proxy;
}

function client() {
  const c = createPooledHttp({ connectionsPerOrigin: 1 });
  cleanup.push(() => c.close());
  return c;
}

describe('fault proxy', () => {
  it('pass: forwards requests both ways, over one keep-alive connection', async () => {
    const server = await startServer();
    const proxy = await proxyTo(server.url);
    const c = client();
    expect(proxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(proxy.mode).toEqual({ kind: 'pass' });

    const a = await c({ method: 'GET', url: `${proxy.url}/a` });
    const b = await c({
      method: 'POST',
      url: `${proxy.url}/b`,
      body: { hello: 'x'.repeat(100_000) },
    });
    expect(a).toMatchObject({ status: 200, body: { path: '/a', n: 1 } });
    expect(b.status).toBe(200);
    expect((b.body as { body: string }).body).toBe(JSON.stringify({ hello: 'x'.repeat(100_000) }));
    expect(proxy.stats()).toMatchObject({ accepted: 1, dropped: 0 });
  });

  it('drop: resets open connections and every new one; pass again heals', async () => {
    const server = await startServer();
    const proxy = await proxyTo(server.url);
    const c = client();
    expect((await c({ method: 'GET', url: `${proxy.url}/before` })).status).toBe(200);
    expect(proxy.stats().open).toBe(1);

    proxy.setMode({ kind: 'drop' });
    expect(proxy.stats().open).toBe(0);
    // The first may still go out on the socket the client has not yet seen reset; the second
    // surely opens a new connection, which the proxy resets right after accepting it.
    for (const p of ['/during-1', '/during-2']) {
      const err = await c({ method: 'GET', url: `${proxy.url}${p}`, timeoutMs: 2_000 }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as NetworkError).kind).toBe('reset');
    }
    expect(server.requests()).toBe(1);
    expect(proxy.stats().dropped).toBeGreaterThanOrEqual(2);

    proxy.setMode({ kind: 'pass' });
    expect(await c({ method: 'GET', url: `${proxy.url}/after` })).toMatchObject({
      status: 200,
      body: { path: '/after', n: 2 },
    });
  });

  it('blackhole: accepts and never answers, also on an open connection; held bytes go through in order when healed', async () => {
    const server = await startServer();
    const proxy = await proxyTo(server.url);
    // A raw keep-alive connection, so the test sees exactly what the proxy delivers.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(async () => agent.destroy());
    const get = (p: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.get(`${proxy.url}${p}`, { agent }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
      });
    expect((await get('/open')).status).toBe(200);

    proxy.setMode({ kind: 'blackhole' });
    const held = get('/held');
    let settled = false;
    void held.then(
      () => (settled = true),
      () => (settled = true),
    );
    // A fresh connection through a pooled client: accepted, never answered, so it times out.
    const c = client();
    const err = await c({ method: 'GET', url: `${proxy.url}/new`, timeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).kind).toBe('timeout');
    expect(settled).toBe(false);
    expect(server.requests()).toBe(1);

    proxy.setMode({ kind: 'pass' });
    const r = await held;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ path: '/held' });
  });

  it('delay: forwards after the delay, and the answer is intact', async () => {
    const server = await startServer();
    const proxy = await proxyTo(server.url);
    proxy.setMode({ kind: 'delay', ms: 150 });
    const c = client();
    const started = performance.now();
    const res = await c({ method: 'GET', url: `${proxy.url}/slow`, timeoutMs: 10_000 });
    expect(res).toMatchObject({ status: 200, body: { path: '/slow', n: 1 } });
    // Each direction holds each chunk at least the delay: a lower bound, never an upper one.
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(() => proxy.setMode({ kind: 'delay', ms: -1 })).toThrow(RangeError);
  });

  it('resets the caller when the target refuses (its process is down) or there is no target', async () => {
    const server = await startServer();
    const proxy = await proxyTo(null);
    const c = client();
    const e1 = await c({ method: 'GET', url: `${proxy.url}/x`, timeoutMs: 2_000 }).catch(
      (e: unknown) => e,
    );
    expect((e1 as NetworkError).kind).toBe('reset');

    // A port that was free a moment ago: nobody listens there.
    const dead = await startFaultProxy();
    const deadUrl = dead.url;
    await dead.close();
    proxy.setTarget(deadUrl);
    const e2 = await c({ method: 'GET', url: `${proxy.url}/y`, timeoutMs: 2_000 }).catch(
      (e: unknown) => e,
    );
    expect(e2).toBeInstanceOf(NetworkError);

    proxy.setTarget(server.url);
    expect((await c({ method: 'GET', url: `${proxy.url}/z` })).status).toBe(200);
  });

  it('close() ends open connections and the listener', async () => {
    const server = await startServer();
    const proxy = await startFaultProxy({ target: server.url });
    const c = client();
    await c({ method: 'GET', url: `${proxy.url}/a` });
    proxy.setMode({ kind: 'blackhole' });
    const pending = c({ method: 'GET', url: `${proxy.url}/b`, timeoutMs: 5_000 }).catch(
      (e: unknown) => e,
    );
    await proxy.close();
    expect(await pending).toBeInstanceOf(NetworkError);
    const after = await c({ method: 'GET', url: `${proxy.url}/c`, timeoutMs: 2_000 }).catch(
      (e: unknown) => e,
    );
    expect(after).toBeInstanceOf(NetworkError);
  });
});
