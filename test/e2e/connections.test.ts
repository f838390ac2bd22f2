/**
 * Connections, on real processes (issue 10): a frontend whose open-file limit is lowered to 256
 * (`ulimit -n`) keeps answering /health and orders while more idle sockets than that limit are
 * open against it; connections that never send a request, or send their headers a byte at a
 * time, are closed; a client that sleeps between requests on one keep-alive connection is still
 * answered; and on every service an early answer (413, 404, 405, 400) leaves the keep-alive
 * client able to send its next request.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../scripts/lib/cluster/index.ts';
import { clusterCredential } from '../../shared/auth.ts';
import { startService, type ServiceProcess } from './service-process.ts';
import { until as pollUntil } from '../support/async.ts';

const FILE_LIMIT = 256;
const HOST = '127.0.0.1';

let dir: string;
let cluster: Cluster;
let frontend: ServiceProcess;
const output: string[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-connections-'));
  cluster = await startCluster({
    dataDir: dir,
    heartbeatIntervalMs: 100,
    output: (s, l) => output.push(`[${s}] ${l}`),
  });
  // The same frontend, restarted with a file limit far below the sockets the test will open.
  await cluster.kill('frontend');
  frontend = await startService({
    entry: 'frontend/main.ts',
    env: { ...cluster.envOf('frontend'), LOG_LEVEL: 'warn' },
    fileLimit: FILE_LIMIT,
  });
  await until(
    'a leader',
    async () =>
      ((await getJson(`${cluster.urls.frontend}/health`)).body?.data?.leaderId ?? null) !== null,
  );
}, 60_000);

afterAll(async () => {
  await frontend?.stop();
  await cluster?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const until = (what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 20_000) =>
  pollUntil(what, cond, { deadlineMs: timeoutMs, everyMs: 50 });

/** One request on a fresh connection. */
async function getJson(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
) {
  const u = new URL(url);
  const client = new Client(u.origin);
  try {
    const res = await client.request({
      method: (init.method ?? 'GET') as 'GET',
      path: u.pathname,
      body: init.body,
      headers: init.headers,
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      body: text ? JSON.parse(text) : undefined,
    };
  } finally {
    await client.close();
  }
}

interface RawSocket {
  socket: net.Socket;
  received: () => string;
  closed: Promise<void>;
}

async function rawConnect(port: number): Promise<RawSocket> {
  const socket = net.connect(port, HOST);
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (data += d));
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed };
}

describe('a frontend limited to 256 open files, flooded with idle connections', () => {
  it('keeps answering /health and orders while more idle sockets than its file limit are open', async () => {
    const port = new URL(cluster.urls.frontend).port;
    const attackers: RawSocket[] = [];
    let closedByServer = 0;
    try {
      for (let i = 0; i < FILE_LIMIT + 150; i++) {
        const a = await rawConnect(Number(port));
        void a.closed.then(() => closedByServer++);
        attackers.push(a);
      }
      const health = await getJson(`${cluster.urls.frontend}/health`);
      expect(health.status).toBe(200);
      expect(health.body.data.leaderId).not.toBeNull();
      const order = await getJson(`${cluster.urls.frontend}/orders`, {
        method: 'POST',
        body: JSON.stringify({ name: 'Tux', quantity: 1 }),
        headers: { 'content-type': 'application/json', 'idempotency-key': 'flooded-order' },
      });
      expect(order.status).toBe(200);
      expect(typeof order.body.data.order_number).toBe('number');
      expect((await getJson(`${cluster.urls.frontend}/products/Tux`)).status).toBe(200);
      // The connections that made room were the idle attackers, oldest first: at least all but
      // the cap's worth of them were closed by the server.
      await until('idle sockets shed', () => closedByServer >= attackers.length - FILE_LIMIT / 2);
      expect(attackers[0]!.socket.destroyed).toBe(true);
      expect(frontend.isRunning()).toBe(true);
    } finally {
      for (const a of attackers) a.socket.destroy();
    }
  });
});

describe.concurrent('slow and sleeping clients', () => {
  it('closes a connection that never sends a request, and one that sends its headers a byte at a time', async () => {
    const port = Number(new URL(cluster.urls.frontend).port);
    const idle = await rawConnect(port);
    const slow = await rawConnect(port);
    // A minute's worth of headers at this pace: far more than the server's header timeout.
    const request = `GET /health HTTP/1.1\r\nHost: ${HOST}\r\nX-Padding: ${'p'.repeat(200)}\r\n\r\n`;
    let sent = 0;
    const dribble = setInterval(() => {
      if (!slow.socket.destroyed && sent < request.length - 1) slow.socket.write(request[sent++]!);
    }, 250);
    try {
      await Promise.all([idle.closed, slow.closed]);
      expect(idle.received()).toMatch(/^HTTP\/1\.1 408 /);
      expect(sent).toBeLessThan(request.length - 1); // closed before it ever finished its headers
    } finally {
      clearInterval(dribble);
      idle.socket.destroy();
      slow.socket.destroy();
    }
  }, 30_000);

  it('answers a client that sleeps 6 s between two requests on one keep-alive connection (Node closes at 5 s)', async () => {
    const c = await rawConnect(Number(new URL(cluster.urls.frontend).port));
    const request = `GET /products/Lego HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
    const responses = () => (c.received().match(/HTTP\/1\.1 200 /g) ?? []).length;
    try {
      c.socket.write(request);
      await until('the first answer', () => responses() === 1, 5_000);
      // The client's think time is the scenario, not synchronisation.
      await new Promise((r) => setTimeout(r, 6_000));
      expect(c.socket.destroyed).toBe(false);
      c.socket.write(request);
      await until('the second answer on the same connection', () => responses() === 2, 5_000);
    } finally {
      c.socket.destroy();
    }
  }, 30_000);
});

describe('early answers on every service leave the keep-alive connection usable', () => {
  const big = 'x'.repeat(256 * 1024);
  // The body routes of the internal services need the cluster credential: sent, except where a
  // refusal is the early answer.
  const auth = () => ({ authorization: clusterCredential(cluster.clusterSecret!).header });
  const services = () => [
    {
      name: 'frontend',
      url: cluster.urls.frontend,
      bodyRoute: '/orders',
      getRoute: '/health',
      auth: {},
    },
    {
      name: 'frontend internal',
      url: cluster.urls.frontendInternal,
      bodyRoute: '/internal/invalidate',
      getRoute: '/metrics',
      auth: auth(),
    },
    {
      name: 'catalog',
      url: cluster.urls.catalog,
      bodyRoute: '/purchases',
      getRoute: '/health',
      auth: auth(),
    },
    {
      name: 'order replica',
      url: cluster.urls.replicas[1],
      bodyRoute: '/orders',
      getRoute: '/health',
      auth: auth(),
    },
  ];

  it('an undici client sends its next request right after a 413, a 404, a 405, a 400 and a 401', async () => {
    for (const s of services()) {
      const client = new Client(s.url, { pipelining: 1 });
      const internal = Object.keys(s.auth).length > 0;
      try {
        for (const [what, path, body, status, connection, credential] of [
          ['256 KiB body', s.bodyRoute, big, 413, 'close', true],
          [
            'POST to an unknown route',
            '/no-such-route',
            '{"name":"Tux","quantity":1}',
            404,
            'keep-alive',
            true,
          ],
          [
            'POST to a GET route',
            s.getRoute,
            '{"name":"Tux","quantity":1}',
            405,
            'keep-alive',
            true,
          ],
          ['body that is not JSON', s.bodyRoute, 'not json', 400, 'keep-alive', true],
          ['256 KiB body to an unknown route', '/no-such-route', big, 404, 'close', true],
          ...(internal
            ? ([
                [
                  'forged body (no credential)',
                  s.bodyRoute,
                  '{"name":"Tux","quantity":1}',
                  401,
                  'keep-alive',
                  false,
                ],
                ['forged 256 KiB body (no credential)', s.bodyRoute, big, 401, 'close', false],
              ] as const)
            : []),
        ] as const) {
          const early = await client.request({
            method: 'POST',
            path,
            body,
            headers: { 'content-type': 'application/json', ...(credential ? s.auth : {}) },
          });
          const text = await early.body.text();
          expect(early.statusCode, `${s.name}: ${what}`).toBe(status);
          expect(JSON.parse(text).error.code, `${s.name}: ${what}`).toBe(status);
          expect(early.headers.connection, `${s.name}: ${what}`).toBe(connection);
          const next = await client.request({ method: 'GET', path: s.getRoute });
          await next.body.text();
          expect(next.statusCode, `${s.name}: the request after ${what}`).toBe(200);
        }
      } finally {
        await client.close();
      }
    }
  });

  it('a client that sends the body after the headers (as the JDK client does) is answered, then served again on the same socket', async () => {
    for (const s of services()) {
      const c = await rawConnect(Number(new URL(s.url).port));
      try {
        const body = '{"name":"Tux","quantity":1}';
        c.socket.write(
          `POST /no-such-route HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
        );
        await new Promise((r) => setTimeout(r, 100)); // the body follows in its own packet
        c.socket.write(body);
        await until(`${s.name}: the 404`, () => /HTTP\/1\.1 404 /.test(c.received()), 5_000);
        c.socket.write(`GET ${s.getRoute} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
        await until(
          `${s.name}: the next answer on the same socket`,
          () => /HTTP\/1\.1 200 /.test(c.received()),
          5_000,
        );
        expect(c.socket.destroyed).toBe(false);
      } finally {
        c.socket.destroy();
      }
    }
  });
});
