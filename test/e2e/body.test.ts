/**
 * A route's request body (shared/protocol/body.ts), on real sockets and in-process: the limit of
 * the route table holds whichever way the body comes (a declared length, chunks, a length that
 * lies), the text is decoded as `Request.text()` decodes it, a forged internal request is refused
 * before its body is read, and a connection that carried a body still carries the next request.
 *
 * Real sockets read the body from Node's IncomingMessage; `app.request` (the in-process network
 * of the tests and the simulator) from the Request. Each story runs on both where it can.
 */
import type net from 'node:net';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterCredential, newClusterSecret } from '../../shared/auth.ts';
import { mountRoutes } from '../../shared/protocol/mount.ts';
import { route } from '../../shared/protocol/route.ts';
import { listen, type Listening } from '../../shared/serve.ts';
import { createServiceApp } from '../../shared/service-app.ts';
import { until } from '../support/async.ts';
import { connectRaw } from '../support/raw-connection.ts';

const MAX_BYTES = 64;
/** A route taking `{text}` and answering it, behind the limit. */
const echoRoute = <P extends string, A extends 'public' | 'internal'>(path: P, access: A) =>
  route({
    method: 'POST',
    path,
    access,
    body: z.object({ text: z.string() }),
    maxBodyBytes: MAX_BYTES,
    response: z.object({ text: z.string() }),
  });
const TABLE = { echo: echoRoute('/echo', 'public'), internal: echoRoute('/internal', 'internal') };

const credential = clusterCredential(newClusterSecret());

function app() {
  const seen: string[] = [];
  const a = createServiceApp();
  mountRoutes(
    a,
    TABLE,
    {
      echo: ({ body }) => {
        seen.push(body.text);
        return { text: body.text };
      },
      internal: ({ body }) => {
        seen.push(body.text);
        return { text: body.text };
      },
    },
    { credential },
  );
  return { app: a, seen };
}

let server: Listening | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close(100);
  server = undefined;
});

async function connect(port: number) {
  const c = await connectRaw(port);
  sockets.push(c.socket);
  return c;
}

async function served() {
  const a = app();
  server = await listen(a.app.fetch, '127.0.0.1', 0);
  return { port: server.port, seen: a.seen };
}

const head = (path: string, lines: string[]) =>
  [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', ...lines, '']
    .join('\r\n')
    .concat('\r\n');
const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

describe('a body over the route limit', () => {
  it('declared by its Content-Length is a 413 before any of it is sent, and nothing runs', async () => {
    const { port, seen } = await served();
    const c = await connect(port);
    c.socket.write(head('/echo', [`Content-Length: ${MAX_BYTES + 1}`]));
    await until('the 413', () => c.responses() === 1);
    expect(c.text()).toMatch(/^HTTP\/1\.1 413 /);
    expect(c.text()).toContain('payload_too_large');
    expect(seen).toEqual([]);
  });

  it('sent in chunks is a 413 once it passes the limit, and the connection is closed, not reused', async () => {
    const { port, seen } = await served();
    const c = await connect(port);
    c.socket.write(head('/echo', ['Transfer-Encoding: chunked']));
    c.socket.write(chunk(`{"text":"${'x'.repeat(40)}`));
    c.socket.write(chunk(`${'y'.repeat(40)}"}`));
    await until('the 413', () => c.responses() === 1);
    expect(c.text()).toMatch(/^HTTP\/1\.1 413 [\s\S]*connection: close/i);
    await until('the close', () => c.closed());
    expect(seen).toEqual([]);
  });

  it('in-process, sent as a stream, is the same 413', async () => {
    const { app: a, seen } = app();
    const big = new TextEncoder().encode(`{"text":"${'x'.repeat(MAX_BYTES)}"}`);
    const body = new ReadableStream<Uint8Array>({
      start(ctl) {
        ctl.enqueue(big.subarray(0, 30));
        ctl.enqueue(big.subarray(30));
        ctl.close();
      },
    });
    const res = await a.request('/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(seen).toEqual([]);
  });
});

describe('a body within the limit', () => {
  it('is decoded as Request.text() decodes it: a byte-order mark dropped, a character split across chunks whole', async () => {
    const { port, seen } = await served();
    const c = await connect(port);
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('{"text":"Tux \u{1f427} ü"}'),
    ]);
    const cut = bytes.indexOf(0xf0) + 2; // inside the penguin's four bytes
    c.socket.write(head('/echo', ['Transfer-Encoding: chunked']));
    for (const part of [bytes.subarray(0, cut), bytes.subarray(cut)])
      c.socket.write(`${part.length.toString(16)}\r\n${part.toString('latin1')}\r\n`, 'latin1');
    c.socket.write('0\r\n\r\n');
    await until('the answer', () => c.responses() === 1);
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 /);
    expect(seen).toEqual(['Tux \u{1f427} ü']);

    const inProcess = app();
    const res = await inProcess.app.request('/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: bytes,
    });
    expect(res.status).toBe(200);
    expect(inProcess.seen).toEqual(seen);
  });

  it('leaves the connection able to carry the next request, also after an answer that did not read it', async () => {
    const { port, seen } = await served();
    const c = await connect(port);
    const body = '{"text":"one"}';
    c.socket.write(head('/echo', [`Content-Length: ${body.length}`]) + body);
    await until('the first answer', () => c.responses() === 1);
    // Forged: no credential. Refused before its body is read; the body is drained, not parsed.
    c.socket.write(head('/internal', [`Content-Length: ${body.length}`]) + body);
    await until('the refusal', () => c.responses() === 2);
    c.socket.write(head('/echo', ['Content-Length: 14']) + '{"text":"two"}');
    await until('the third answer', () => c.responses() === 3);
    const statuses = [...c.text().matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    expect(statuses).toEqual(['200', '401', '200']);
    expect(seen).toEqual(['one', 'two']);
    expect(c.closed()).toBe(false);
  });

  it('cut off by the client mid-way runs nothing, and the server keeps serving', async () => {
    const { port, seen } = await served();
    const c = await connect(port);
    c.socket.write(head('/echo', ['Content-Length: 40']) + '{"text":"half');
    c.socket.destroy();
    const next = await connect(port);
    next.socket.write(head('/echo', ['Content-Length: 14']) + '{"text":"nex"}');
    await until('the next answer', () => next.responses() === 1);
    expect(next.text()).toMatch(/^HTTP\/1\.1 200 /);
    expect(seen).toEqual(['nex']);
  });
});
