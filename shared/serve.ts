/**
 * Listening and graceful shutdown, shared by every `main.ts`: the one place servers are made, so
 * every service gets the same connection rules.
 *
 * - **Timeouts.** Headers must arrive within HEADERS_TIMEOUT_MS and the whole request within
 *   REQUEST_TIMEOUT_MS (checked every second), so a connection that never sends a request, or
 *   sends its headers a byte at a time, is closed (408) instead of holding a descriptor forever.
 * - **Connection cap** (shared/connections.ts): one budget per process (the frontend's two
 *   listeners share it, as they share its file limit), below the file limit, shedding idle
 *   connections first, refusing with a 503 only when every connection is busy.
 * - **Keep-alive idle timeout: 65 s, not Node's 5 s**, which broke clients that sleep between
 *   requests on one connection; why, and our own client's, in shared/keep-alive.ts.
 * - **Early answers do not poison keep-alive.** An answer sent before the request body was read
 *   (413, 404/405 for a POST, 400 before parsing) leaves the body's bytes on the connection, where
 *   they would be read as the next request or make the server reset it. So after the app
 *   answers, an unread body of at most DRAIN_LIMIT_BYTES is read and discarded before the
 *   response goes out (the connection stays usable); a larger or slower one gets
 *   `Connection: close` and a lingering close (the client reads the answer, then reconnects).
 *   @hono/node-server's own cleanup (destroy the socket 500 ms after an undrained answer that
 *   said keep-alive) is turned off: it is what broke the client's next request.
 * - **Shutdown.** On SIGTERM/SIGINT: stop accepting, let in-flight requests finish, run the
 *   service's own cleanup (flush, fsync), and exit 0, or exit 1 if the deadline passes first.
 */
import { getRequestListener } from '@hono/node-server';
import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  ConnectionGuard,
  defaultMaxConnections,
  lingerOnClose,
  type ConnectionStats,
} from './connections.ts';
import type { NodeFastPath } from './fast-read.ts';
import { SERVER_KEEP_ALIVE_TIMEOUT_MS } from './keep-alive.ts';

export { SERVER_KEEP_ALIVE_TIMEOUT_MS };
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
/**
 * How often Node checks the two timeouts above (its default, 30 s, would let them overrun by that
 * much).
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** An unread request body up to this size is read and discarded so the connection stays usable. */
export const DRAIN_LIMIT_BYTES = 64 * 1024;
export const DRAIN_TIMEOUT_MS = 1_000;

export interface Listening {
  port: number;
  url: string;
  close(graceMs?: number): Promise<void>;
  connections(): ConnectionStats;
}

export interface ListenOptions {
  /**
   * A cap for this listener alone. Default: the process-wide budget, half the process's
   * open-file limit, at most 10 000 (shared/connections.ts), shared by every listener.
   */
  maxConnections?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /**
   * Answers some bodiless requests before the app sees them (shared/fast-read.ts): an observed
   * app's `fastPath`. The connection rules above apply to them as to every other request.
   */
  fastPath?: NodeFastPath;
}

/**
 * A response that says `Connection: close`, with a lingering close, when its request's body was
 * not all received by the time the headers go out (see the module comment), and that tells the
 * connection guard when it is done.
 */
class GuardedResponse extends ServerResponse {
  /** The guard that counts this response's connection busy (set by `admit`). */
  guard: ConnectionGuard | undefined;

  override writeHead(statusCode: number, ...rest: any[]): this {
    const req = this.req as IncomingMessage | undefined;
    if (req && !req.complete && hasBody(req) && !this.headersSent && this.shouldKeepAlive) {
      this.shouldKeepAlive = false;
      lingerOnClose(req.socket, req);
    }
    return super.writeHead(statusCode, ...(rest as []));
  }

  /**
   * Node calls this once the response is finished, before the socket may carry the next request:
   * the connection is idle again. (A connection that closes first is forgotten by the guard.)
   */
  override detachSocket(socket: Socket): void {
    const guard = this.guard;
    this.guard = undefined;
    guard?.release(socket);
    super.detachSocket(socket);
  }
}

/**
 * A request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3): nothing can
 * be left unread on its connection, even when it is answered before Node marks it complete (an
 * answer written synchronously, in the request's own event).
 */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

let processGuard: ConnectionGuard | undefined;

/**
 * A Hono app's fetch; @hono/node-server passes `{ incoming, outgoing }` as its env (the frontend
 * reads raw headers there).
 */
export type FetchHandler = (req: Request, env?: unknown) => Response | Promise<Response>;

/** The Node request behind a call, when @hono/node-server serves it (a Hono context's `c.env`). */
export function incomingOf(env: unknown): IncomingMessage | undefined {
  return (env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

export function listen(
  fetch: FetchHandler,
  host: string,
  port: number,
  opts: ListenOptions = {},
): Promise<Listening> {
  const guard =
    opts.maxConnections !== undefined
      ? new ConnectionGuard(opts.maxConnections)
      : (processGuard ??= new ConnectionGuard(defaultMaxConnections()));
  const fastPath = opts.fastPath;
  // `hostname` stands in for a missing Host header (HTTP/1.0 health checks, as haproxy's httpchk
  // sends).
  const app = getRequestListener(drainingFetch(fetch), {
    hostname: host,
    autoCleanupIncoming: false,
  });
  const http: Server = createServer(
    {
      ServerResponse: GuardedResponse as typeof ServerResponse,
      headersTimeout: opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
      requestTimeout: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? SERVER_KEEP_ALIVE_TIMEOUT_MS,
    },
    (req, res) => {
      if (guard.admit(req, res)) {
        (res as GuardedResponse).guard = guard;
        // Only a request with no body may skip the app: nothing is then left on the connection.
        if (fastPath && !hasBody(req) && fastPath(req, res)) return;
        void app(req, res);
      }
    },
  );
  http.on('connection', (socket) => guard.accept(socket));
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    http.once('error', onError);
    http.listen(port, host, () => {
      http.off('error', onError);
      const info = http.address() as AddressInfo;
      resolve({
        port: info.port,
        url: `http://${host}:${info.port}`,
        connections: () => guard.stats(),
        // Stop accepting, let in-flight requests finish, and close each keep-alive socket as soon
        // as it goes idle (not only those idle right now); after the grace period, close the rest.
        close: (graceMs = 2_000) =>
          new Promise<void>((done) => {
            const sweep = setInterval(() => http.closeIdleConnections(), 20);
            const cutoff = setTimeout(() => http.closeAllConnections(), graceMs);
            http.close(() => {
              clearInterval(sweep);
              clearTimeout(cutoff);
              done();
            });
            http.closeIdleConnections();
          }),
      });
    });
  });
}

/**
 * The app's fetch, then: if it answered without reading the request body, read and discard up
 * to DRAIN_LIMIT_BYTES of it (within DRAIN_TIMEOUT_MS) before the answer goes out, so the
 * connection can carry the next request. A body it cannot drain so is left to GuardedResponse.
 * Under Node the body is drained from the IncomingMessage, where shared/protocol/body.ts reads it:
 * asking the adapter's Request for its body then would build a stream over a consumed socket.
 */
function drainingFetch(
  fetch: FetchHandler,
): (req: Request, env?: unknown) => Response | Promise<Response> {
  return (req, env) => {
    // A GET or HEAD has no body to drain: its answer goes straight out, synchronously when the
    // app answers synchronously (a cached product: @hono/node-server then writes it at once).
    if (req.method === 'GET' || req.method === 'HEAD') return fetch(req, env);
    return drainAfter(req, incomingOf(env), fetch(req, env));
  };
}

async function drainAfter(
  req: Request,
  incoming: IncomingMessage | undefined,
  answer: Response | Promise<Response>,
): Promise<Response> {
  const res = await answer;
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > DRAIN_LIMIT_BYTES) return res;
  if (incoming) {
    if (!incoming.readableEnded)
      await discardIncoming(incoming, DRAIN_LIMIT_BYTES, DRAIN_TIMEOUT_MS);
    return res;
  }
  if (req.bodyUsed) return res;
  const body = req.body;
  if (!body || body.locked) return res;
  await discard(body, DRAIN_LIMIT_BYTES, DRAIN_TIMEOUT_MS);
  return res;
}

/** `discard` for a Node request: to its end, or until `maxBytes` or `timeoutMs`; never throws. */
function discardIncoming(incoming: IncomingMessage, maxBytes: number, timeoutMs: number) {
  return new Promise<void>((resolve) => {
    let bytes = 0;
    const stop = () => {
      clearTimeout(timer);
      incoming.off('data', onData);
      incoming.off('end', stop);
      incoming.off('error', stop);
      incoming.off('close', stop);
      if (!incoming.readableEnded) incoming.pause();
      resolve();
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) stop();
    };
    const timer = setTimeout(stop, timeoutMs);
    incoming.on('data', onData);
    incoming.once('end', stop);
    // a body that fails to arrive is the client's problem; the connection closes (GuardedResponse)
    incoming.once('error', stop);
    incoming.once('close', stop);
  });
}

/** Reads `body` to its end, or until `maxBytes` or `timeoutMs` is passed; never throws. */
async function discard(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  timeoutMs: number,
): Promise<void> {
  const reader = body.getReader();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    for (let bytes = 0; bytes <= maxBytes; ) {
      const next = await Promise.race([reader.read(), timedOut]);
      if (next === 'timeout' || next.done) return;
      bytes += next.value.byteLength;
    }
  } catch {
    // a body that fails to arrive is the client's problem; the connection closes (GuardedResponse)
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

/** Where onShutdownSignal reports (a pino logger fits); the default is the console. */
export interface ShutdownLog {
  info(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  /** Writes out buffered lines (a pino logger's asynchronous destination), then calls back. */
  flush?(cb: (err?: Error) => void): void;
}

/** The log's buffered lines, then stdout's and stderr's queues, out of the process (bounded). */
function flushAll(log: ShutdownLog, timeoutMs: number): Promise<void> {
  const logged = new Promise<void>((resolve) => {
    if (!log.flush) return resolve();
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    log.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  return logged.then(() => flushStdio(timeoutMs));
}

const consoleShutdownLog: ShutdownLog = {
  info: (_fields, msg) => console.log(msg),
  error: (fields, msg) => (fields.err ? console.error(msg, fields.err) : console.error(msg)),
};

/** Runs `stop` once on SIGTERM/SIGINT and exits; a stuck stop is cut off at the deadline. */
export function onShutdownSignal(
  service: string,
  stop: () => Promise<void>,
  deadlineMs = 5_000,
  log: ShutdownLog = consoleShutdownLog,
): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const started = performance.now();
    log.info({ event: 'shutdown', signal, deadlineMs }, `${service}: ${signal}, shutting down`);
    const timer = setTimeout(() => {
      log.error(
        { event: 'shutdown_timeout', deadlineMs },
        `${service}: shutdown took longer than ${deadlineMs} ms, exiting`,
      );
      process.exit(1);
    }, deadlineMs);
    // Deliberately not unref'd: it also keeps the process alive while `stop` waits on work that
    // holds no handle of its own (an unref'd timer before a last write). Otherwise Node exits
    // with code 0 the moment the event loop looks empty, in the middle of the cleanup.
    void timer;
    stop().then(
      async () => {
        log.info(
          { event: 'stopped', ms: Math.round(performance.now() - started) },
          `${service}: stopped cleanly`,
        );
        await flushAll(log, Math.max(0, deadlineMs - (performance.now() - started)));
        process.exit(0);
      },
      async (err) => {
        log.error({ event: 'shutdown_failed', err }, `${service}: error during shutdown`);
        process.exitCode = 1;
        await flushAll(log, Math.max(0, deadlineMs - (performance.now() - started)));
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}

/**
 * Resolves once what was written to stdout and stderr has left the process (or after `timeoutMs`).
 * A write to a pipe whose reader is slow is queued, and process.exit() drops the queue: without
 * this, a service's last log lines could go missing exactly when the machine is busy.
 */
export function flushStdio(timeoutMs = 1_000): Promise<void> {
  const flushOne = (stream: NodeJS.WriteStream) =>
    new Promise<void>((resolve) => {
      if (stream.writableLength === 0 || stream.destroyed) return resolve();
      stream.write('', () => resolve());
    });
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    void Promise.all([flushOne(process.stdout), flushOne(process.stderr)]).then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
