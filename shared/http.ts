/**
 * The HTTP client every service uses to talk to another, as one small function type.
 *
 * Services take an `HttpClient` as a dependency instead of calling fetch, so a test can wire the
 * frontend, the catalog and three replicas together in one process (`createInProcessNetwork`,
 * which dispatches to each Hono app's `fetch` with no sockets and can take a node down), while
 * `main.ts` passes `createPooledHttp` (undici keep-alive pool: about 4x global fetch here).
 *
 * Network failures become `NetworkError` with `delivered`: false only when the request certainly
 * never reached the server (connection refused). Anything else (reset, timeout) may have run,
 * which is what decides whether a caller may blindly retry a non-idempotent request.
 *
 * Both clients add the `x-request-id` of the request being served (shared/request-context.ts) to
 * what they send, so one id follows a client request through every service it reaches.
 */
import { Agent, request as undiciRequest } from 'undici';
import type { z } from 'zod';
import { systemClock, type Clock } from './clock.ts';
import { AppError, fromErrorBody } from './errors.ts';
import { CLIENT_IDLE_TIMEOUT_MS } from './keep-alive.ts';
import { REQUEST_ID_HEADER } from './request-context.ts';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** The client request this call works for (shared/request-context.ts): sent as x-request-id. */
  requestId?: string;
  /**
   * A call of an internal route (set by the route client from the route table,
   * shared/protocol/client.ts): `withClusterCredential` (shared/auth.ts) adds the cluster
   * credential to these and only these.
   */
  internal?: boolean;
}
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}
export type HttpClient = (req: HttpRequest) => Promise<HttpResponse>;

export type NetworkErrorKind = 'refused' | 'reset' | 'timeout' | 'other';
export class NetworkError extends Error {
  constructor(
    readonly kind: NetworkErrorKind,
    readonly url: string,
    cause?: unknown,
  ) {
    super(`${kind}: ${url}`, { cause });
    this.name = 'NetworkError';
  }
  /** True only when the server cannot have seen the request. */
  get undelivered(): boolean {
    return this.kind === 'refused';
  }
}

export const DEFAULT_TIMEOUT_MS = 5_000;

function classify(err: unknown): NetworkErrorKind {
  const code =
    (err as { code?: string })?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
  const name = (err as { name?: string })?.name;
  if (code === 'ECONNREFUSED') return 'refused';
  if (
    code === 'ECONNRESET' ||
    code === 'UND_ERR_SOCKET' ||
    code === 'EPIPE' ||
    code === 'UND_ERR_CLOSED'
  )
    return 'reset';
  if (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  )
    return 'timeout';
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  return 'other';
}

function encode(req: HttpRequest): { body: string | undefined; headers: Record<string, string> } {
  // The request this call works for (shared/request-context.ts), so its id follows it to the peer.
  const headers: Record<string, string> = { ...req.headers };
  if (req.requestId !== undefined && headers[REQUEST_ID_HEADER] === undefined)
    headers[REQUEST_ID_HEADER] = req.requestId;
  if (req.body === undefined) return { body: undefined, headers };
  headers['content-type'] ??= 'application/json';
  return { body: typeof req.body === 'string' ? req.body : JSON.stringify(req.body), headers };
}

function decode(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Keep-alive pooled client for real processes. Idle sockets close before the server's keep-alive
 * timeout (shared/keep-alive.ts).
 */
export function createPooledHttp(
  opts: { connectionsPerOrigin?: number; keepAliveTimeoutMs?: number } = {},
): HttpClient & { close(): Promise<void> } {
  const agent = new Agent({
    connections: opts.connectionsPerOrigin ?? 64,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? CLIENT_IDLE_TIMEOUT_MS,
    keepAliveMaxTimeout: opts.keepAliveTimeoutMs ?? CLIENT_IDLE_TIMEOUT_MS,
  });
  const client = async (req: HttpRequest): Promise<HttpResponse> => {
    const { body, headers } = encode(req);
    const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    try {
      const res = await undiciRequest(req.url, {
        dispatcher: agent,
        method: req.method,
        headers,
        body,
        // undici's own timers bound the wait; an AbortSignal per call cost 3-5 % of CPU.
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await res.body.text();
      const outHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers))
        if (typeof v === 'string') outHeaders[k] = v;
      return { status: res.statusCode, headers: outHeaders, body: decode(text) };
    } catch (err) {
      throw new NetworkError(classify(err), req.url, err);
    }
  };
  return Object.assign(client, { close: () => agent.close() });
}

export interface FetchHttpOptions {
  /**
   * The clock the timeout runs on (default: the system clock). A test or the simulator on a
   * `ManualClock` passes it, so a request to a paused or partitioned app times out on logical
   * time, when the story advances the clock, and never on the wall clock.
   */
  clock?: Clock;
}

/** Adapts any fetch-shaped function (global fetch, a Hono app's fetch) to an HttpClient. */
export function createFetchHttp(
  fetchFn: (req: Request) => Response | Promise<Response>,
  opts: FetchHttpOptions = {},
): HttpClient {
  const clock = opts.clock ?? systemClock;
  return async (req) => {
    const { body, headers } = encode(req);
    const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let cancel = () => {};
    const timeout = new Promise<never>((_, reject) => {
      cancel = clock.setTimeout(() => reject(new NetworkError('timeout', req.url)), timeoutMs);
    });
    try {
      const res = await Promise.race([
        fetchFn(new Request(req.url, { method: req.method, headers, body })),
        timeout,
      ]);
      const text = await Promise.race([res.text(), timeout]);
      return {
        status: res.status,
        headers: Object.fromEntries(res.headers.entries()),
        body: decode(text),
      };
    } catch (err) {
      if (err instanceof NetworkError) throw err;
      throw new NetworkError(classify(err), req.url, err);
    } finally {
      cancel();
    }
  };
}

type Handler = (req: Request) => Response | Promise<Response>;
export type LinkState = 'up' | 'down' | 'blackhole';

/**
 * Many Hono apps in one process, addressed by origin like real services. `setState(origin,
 * 'down')` makes calls fail with connection refused (a crashed process); 'blackhole' makes them
 * hang until the caller's timeout (a paused process or a partition), on `opts.clock`.
 */
export function createInProcessNetwork(opts: FetchHttpOptions = {}) {
  const handlers = new Map<string, Handler>();
  const states = new Map<string, LinkState>();
  const dispatch: Handler = async (request) => {
    const origin = new URL(request.url).origin;
    const state = states.get(origin) ?? 'up';
    const handler = handlers.get(origin);
    if (!handler || state === 'down')
      throw Object.assign(new Error(`connect ECONNREFUSED ${origin}`), { code: 'ECONNREFUSED' });
    if (state === 'blackhole') return new Promise<Response>(() => {});
    return handler(request);
  };
  return {
    http: createFetchHttp(dispatch, opts),
    register(origin: string, handler: Handler) {
      handlers.set(new URL(origin).origin, handler);
    },
    setState(origin: string, state: LinkState) {
      states.set(new URL(origin).origin, state);
    },
  };
}

/**
 * Returns the `data` of a 2xx JSON response validated by `schema`, or throws the peer's error as an
 * AppError.
 */
export function expectData<T>(res: HttpResponse, schema: z.ZodType<T>): T {
  if (res.status >= 200 && res.status < 300) {
    const data = (res.body as { data?: unknown } | undefined)?.data;
    const parsed = schema.safeParse(data);
    if (parsed.success) return parsed.data;
    throw new AppError(
      502,
      'internal',
      `malformed response from upstream: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  throw fromErrorBody(res.status, res.body);
}
