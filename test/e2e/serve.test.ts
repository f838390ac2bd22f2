/**
 * shared/serve.ts on real sockets in this process, with a tiny app and a small connection cap:
 * at the cap a newcomer sheds the connection that never sent a request before any that did,
 * then the one idle longest; when every connection is busy the newcomer is refused with a 503
 * that says why; and answering before the body was read either drains a small body (the
 * connection stays open) or says `Connection: close` and still delivers the answer; and a
 * request without a Host header (an HTTP/1.0 health check) is served as it was before.
 */
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listen, type Listening } from '../../shared/serve.ts';
import { createServiceApp } from '../../shared/service-app.ts';
import { deferred, until as pollUntil } from '../support/async.ts';
import { connectRaw, type RawConnection } from '../support/raw-connection.ts';

const HOST = '127.0.0.1';
let server: Listening | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close(100);
  server = undefined;
});

const until = (what: string, cond: () => boolean, timeoutMs = 5_000) =>
  pollUntil(what, cond, { deadlineMs: timeoutMs, everyMs: 5 });

async function connect(port: number): Promise<RawConnection> {
  const c = await connectRaw(port, HOST);
  sockets.push(c.socket);
  return c;
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;

async function serve(maxConnections: number) {
  const hold = deferred<void>();
  const app = createServiceApp();
  app.get('/health', (c) => c.json({ data: { ok: true } }));
  app.get('/hold', async (c) => {
    await hold.promise;
    return c.json({ data: { held: true } });
  });
  app.post('/small', async (c) => {
    if (Number(c.req.header('content-length')) > 16)
      return c.json({ error: { code: 413, message: 'too large' } }, 413);
    return c.json({ data: await c.req.text() });
  });
  server = await listen(app.fetch, HOST, 0, { maxConnections });
  return { port: server.port, hold };
}

describe('the connection cap', () => {
  it('sheds a connection that never sent a request before an idle keep-alive one, then the one idle longest', async () => {
    const { port } = await serve(2);
    const b = await connect(port);
    b.socket.write(get('/health'));
    await until('b answered', () => b.responses() === 1);
    const a = await connect(port); // never sends anything
    await until('a counted', () => server!.connections().open === 2);

    const c = await connect(port);
    await until('a shed', () => a.closed());
    expect(b.closed()).toBe(false);
    c.socket.write(get('/health'));
    await until('c answered', () => c.responses() === 1);

    const d = await connect(port);
    await until('b shed: idle longest', () => b.closed());
    expect(c.closed()).toBe(false);
    d.socket.write(get('/health'));
    await until('d answered', () => d.responses() === 1);
    expect(server!.connections()).toMatchObject({
      max: 2,
      shed: 2,
      shedNeverRequested: 1,
      refused: 0,
    });
  });

  it('refuses a newcomer with a 503, Retry-After and a JSON error only when every connection is busy', async () => {
    const { port, hold } = await serve(2);
    const busy = [await connect(port), await connect(port)];
    for (const b of busy) b.socket.write(get('/hold'));
    await until('both busy', () => server!.connections().busy === 2);

    const late = await connect(port);
    late.socket.write(get('/health'));
    await until('the refusal', () => late.closed());
    expect(late.text()).toMatch(/^HTTP\/1\.1 503 /);
    expect(late.text()).toMatch(/\r\nconnection: close\r\n/i);
    expect(late.text()).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(JSON.parse(late.text().split('\r\n\r\n')[1]!)).toMatchObject({ error: { code: 503 } });

    hold.resolve();
    for (const b of busy) await until('the held requests answered', () => b.responses() === 1);
    expect(busy.every((b) => /^HTTP\/1\.1 200 /.test(b.text()))).toBe(true);
    expect(server!.connections()).toMatchObject({ refused: 1, refusedAtAccept: 0 });
  });
});

describe('requests without a Host header', () => {
  it("an HTTP/1.0 health check with no Host (haproxy's httpchk) is answered, not refused with 400", async () => {
    const { port } = await serve(10);
    const c = await connect(port);
    c.socket.write('GET /health HTTP/1.0\r\n\r\n');
    await until('the answer', () => c.closed());
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe('answers sent before the body was read', () => {
  it('a small unread body is drained: the answer says keep-alive and the next request is served', async () => {
    const { port } = await serve(10);
    const c = await connect(port);
    const body = '{"pad":"' + 'x'.repeat(100) + '"}';
    c.socket.write(
      `POST /small HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await until('the 413', () => c.responses() === 1);
    expect(c.text()).toMatch(/^HTTP\/1\.1 413 [\s\S]*connection: keep-alive/i);
    c.socket.write(get('/health'));
    await until('the next answer', () => c.responses() === 2);
    expect(c.text()).toMatch(/HTTP\/1\.1 200 /);
  });

  it('a large unread body gets Connection: close; the client still reads the whole answer while it is still sending', async () => {
    const { port } = await serve(10);
    const c = await connect(port);
    const size = 8 * 1024 * 1024;
    c.socket.write(`POST /small HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${size}\r\n\r\n`);
    c.socket.write('x'.repeat(size)); // far more than the server will ever read
    await until('the close', () => c.closed(), 10_000);
    expect(c.text()).toMatch(/^HTTP\/1\.1 413 [\s\S]*connection: close/i);
    expect(c.text()).toContain('too large');
  });
});
