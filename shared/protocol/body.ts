/**
 * A route's request body as text, refused with a 413 past the route's limit: the one place a
 * body is read and its limit kept (`maxBodyBytes` in the route tables).
 *
 * Why not Hono's `bodyLimit` and `c.req.text()`: under @hono/node-server either one makes the
 * adapter build a WHATWG Request for the call (a ReadableStream over the socket, an AbortSignal,
 * undici's Request class), which the profile of `POST /orders` showed as the frontend's costliest
 * frames after the socket writes, on every hop of an order (frontend, leader, followers, catalog).
 * Served by Node, the body is read straight from the IncomingMessage (`env.incoming`); anywhere
 * else (the in-process network of the tests and the simulator) from the Request. Both keep the
 * same rule:
 * - a declared Content-Length over the limit is refused before a byte is read;
 * - a body that turns out longer (chunked, or a lying length) is refused as soon as it passes the
 *   limit, and no more of it is read: shared/serve.ts then closes the connection as for any early
 *   answer, so the rest can never be taken for the next request;
 * - the text is UTF-8 with a leading byte-order mark dropped, as `Request.text()` decodes it.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { AppError, badRequest } from '../errors.ts';
import { incomingOf } from '../serve.ts';

export const payloadTooLarge = (limit: number) =>
  new AppError(413, 'payload_too_large', `request body is larger than ${limit} bytes`);

const decoder = new TextDecoder('utf-8');

/** The body of the request `c` serves, as text; a 413 past `maxBytes`. */
export function readBody(c: Context, maxBytes: number): Promise<string> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number.parseInt(declared, 10) > maxBytes)
    return Promise.reject(payloadTooLarge(maxBytes));
  const incoming = incomingOf(c.env);
  if (incoming && unread(incoming)) return readNode(incoming, maxBytes);
  return readRequest(c.req.raw, maxBytes);
}

/** Nobody has started on the stream (the adapter has not piped it into a Request of its own). */
function unread(incoming: IncomingMessage): boolean {
  return !incoming.readableDidRead && incoming.readableFlowing === null;
}

function readNode(incoming: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const finish = (err: Error | null) => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
      if (err) return reject(err);
      resolve(decoder.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, bytes)));
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        incoming.pause();
        return finish(payloadTooLarge(maxBytes));
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(null);
    const onError = () => finish(badRequest('the request body was cut off'));
    const onClose = () => {
      if (!incoming.complete) finish(badRequest('the request body was cut off'));
    };
    incoming.on('data', onData);
    incoming.once('end', onEnd);
    incoming.once('error', onError);
    incoming.once('close', onClose);
  });
}

/**
 * From a fetch Request: streamed and cut at the limit when its body is a web stream; read whole
 * (then measured) from a Request-like without one, as the simulator's wire requests are, whose
 * body is a string of known length already.
 */
async function readRequest(req: Request, maxBytes: number): Promise<string> {
  const stream = req.body as ReadableStream<Uint8Array> | string | null;
  if (stream === null) return '';
  if (typeof stream === 'string' || typeof stream.getReader !== 'function') {
    const bytes = new Uint8Array(await req.arrayBuffer());
    if (bytes.byteLength > maxBytes) throw payloadTooLarge(maxBytes);
    return decoder.decode(bytes);
  }
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > maxBytes) {
      await reader.cancel();
      throw payloadTooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return decoder.decode(Buffer.concat(chunks, bytes));
}
