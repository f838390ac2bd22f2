/**
 * The server side of a route table: `mountRoutes(app, table, handlers, { credential })` registers
 * one Hono route per handler, each from its table entry, so what a client reads from the same
 * entry is what the server serves:
 *
 *   internal route: credential check -> parse params, query -> body (its limit: ./body.ts)
 *                   -> handler
 *                   -> {"data": ...}
 *
 * A route without a body runs as one synchronous handler (the credential checked in it): a
 * handler that answers at once (a cached product, the catalog's product read) is answered
 * without a promise in between, which Hono's middleware chains always put there.
 *
 * - The credential is checked first, from one header, so a forged request is refused (401/403)
 *   before its body is read: shared/serve.ts drains or closes as for any early answer.
 * - Validation is done once, here, by the entry's schemas; a failure is the usual 400 naming the
 *   field (shared/contracts.ts's `parseWith`). Handlers get parsed, typed values.
 * - Errors are thrown and leave through the app's `onAppError`, like every other error.
 * - Only the given handlers are mounted: several apps may serve parts of one service's table
 *   (the replica's routes and its readiness probe). test/unit/route-tables.test.ts holds every
 *   service's listeners to its tables: each route mounted, and nothing else.
 */
import type { Context, Hono } from 'hono';
import {
  AUTHORIZATION_HEADER,
  refusal,
  WWW_AUTHENTICATE,
  type ClusterCredential,
} from '../auth.ts';
import { parseJsonBody, parseWith } from '../contracts.ts';
import { readBody } from './body.ts';
import { badRequest } from '../errors.ts';
import type { HandlerInput, HandlerOutput, RouteSpec, RouteTable, Schema } from './route.ts';

export type RouteHandler<R extends RouteSpec> = (
  input: HandlerInput<R, Context>,
) => HandlerOutput<R> | Promise<HandlerOutput<R>>;
export type RouteHandlers<T extends RouteTable> = { [K in keyof T]?: RouteHandler<T[K]> };

export interface MountOptions {
  /**
   * Checked on every internal route. null: an open cluster (loopback only, shared/config.ts),
   * where internal routes answer anyone.
   */
  credential: ClusterCredential | null;
}

/** Throws the refusal (401 with WWW-Authenticate, or 403) unless `c` carries the credential. */
function checkCredential(credential: ClusterCredential, c: Context): void {
  const refused = refusal(credential, c.req.header(AUTHORIZATION_HEADER));
  if (!refused) return;
  if (refused.status === 401) c.header('WWW-Authenticate', WWW_AUTHENTICATE);
  throw refused;
}

function parseParams(schema: Schema, raw: Record<string, string>): unknown {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  // A path parameter's message says what it must be ("order number must be an integer ...").
  throw badRequest(r.error.issues[0]?.message ?? 'bad path parameter');
}

/**
 * The handler's answer as `{"data": ...}` (or its own Response), without a promise if it has none.
 */
function run(
  spec: RouteSpec,
  handler: (input: HandlerInput<RouteSpec, Context>) => unknown,
  input: { c: Context; params: unknown; query: unknown; body: unknown },
): Response | Promise<Response> {
  const out = handler(input as HandlerInput<RouteSpec, Context>);
  return out instanceof Promise
    ? out.then((o) => answer(spec, input.c, o))
    : answer(spec, input.c, out);
}

function answer(spec: RouteSpec, c: Context, out: unknown): Response {
  return spec.response === null ? (out as Response) : c.json({ data: out });
}

export function mountRoutes<T extends RouteTable>(
  app: Hono<any, any, any>,
  table: T,
  handlers: RouteHandlers<T>,
  opts: MountOptions,
): void {
  for (const id of Object.keys(handlers)) {
    const spec = table[id];
    if (!spec) throw new TypeError(`mountRoutes: no route ${id} in the table`);
    const handler = handlers[id] as unknown as (input: HandlerInput<RouteSpec, Context>) => unknown;
    const credential = spec.access === 'internal' ? opts.credential : null;
    const maxBodyBytes = spec.maxBodyBytes ?? 0;
    // One handler, no middleware, and not an async function: a handler that answers at once (a
    // cached product) is answered at once, which lets @hono/node-server write the response
    // without a promise in between (Hono runs any chain with a middleware asynchronously). The
    // credential is checked first, before the body is read.
    app.on([spec.method], [spec.path], (c: Context): Response | Promise<Response> => {
      if (credential) checkCredential(credential, c);
      const params = spec.params
        ? parseParams(spec.params, c.req.param() as Record<string, string>)
        : undefined;
      const query = spec.query ? parseWith(spec.query, c.req.query(), 'query') : undefined;
      if (spec.body)
        return parseJsonBody({ text: () => readBody(c, maxBodyBytes) }, spec.body).then((body) =>
          run(spec, handler, { c, params, query, body }),
        );
      return run(spec, handler, { c, params, query, body: undefined });
    });
  }
}
