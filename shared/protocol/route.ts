/**
 * What a route is, once for every service: its method, its path, who may call it, and the zod
 * schemas of what it takes and what it answers. Each service's table (shared/protocol/catalog.ts,
 * order.ts, frontend.ts) is a plain object of these, keyed by a route id.
 *
 * Both ends derive from the same entry, so a path, a method, a body's bounds or a response's
 * shape is written once:
 * - the server mounts a handler per route id (`mountRoutes`, shared/protocol/mount.ts): the
 *   credential check for internal routes, the body limit, and the parsing of params, query and
 *   body with the entry's schemas happen there, once, before the handler runs;
 * - a client calls by route id (`createRouteClient`, shared/protocol/client.ts): the URL, the
 *   method, whether the cluster credential goes along, and the schema the answer's `data` is
 *   validated with all come from the entry.
 *
 * Types flow from the schemas: a handler receives the parsed (output) types and returns the
 * response's input type; a client passes the request's input types and gets the response's output
 * type. A route whose answer is not JSON data (HTML, Prometheus text) has `response: null`: its
 * handler returns a `Response` itself.
 */
import type { z } from 'zod';

export type Method = 'GET' | 'POST';

/**
 * `internal`: only a member of the cluster may call it; the request must carry the cluster
 * credential (shared/auth.ts). `public`: anyone who reaches the port (the frontend's public API,
 * and every service's /health, /ready and /metrics, which load balancers and scrapers ask).
 */
export type Access = 'public' | 'internal';

/** Any zod schema (its input may be anything: query strings are coerced, bodies are JSON). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Schema = z.ZodType<any, z.ZodTypeDef, any>;

export interface RouteSpec {
  readonly method: Method;
  /** A Hono pattern: `/orders/:number`. Served with and without one trailing slash. */
  readonly path: string;
  readonly access: Access;
  /** Path parameters, from the decoded strings of the pattern's `:names`. */
  readonly params?: Schema;
  /** Query parameters, from their strings (use `z.coerce`). */
  readonly query?: Schema;
  /** The JSON object body. A route with a body needs `maxBodyBytes`. */
  readonly body?: Schema;
  /** Larger bodies are refused with 413 before they are read. */
  readonly maxBodyBytes?: number;
  /** The `data` of a 2xx JSON answer; null for a route that answers something else. */
  readonly response: Schema | null;
  /**
   * Asked many times a second by the cluster itself (heartbeats, probes, empty appends): its
   * request log line is at debug unless the request is traced (shared/observability.ts).
   */
  readonly quiet?: boolean;
}

export type RouteTable = Readonly<Record<string, RouteSpec>>;

/**
 * Declares one route; `const` keeps the literal types the handler and client types are read from.
 */
export function route<const S extends RouteSpec>(spec: S): S {
  if (spec.body && spec.maxBodyBytes === undefined)
    throw new TypeError(`route ${spec.method} ${spec.path}: a body needs maxBodyBytes`);
  return spec;
}

// ------------------------------------------------------------------ types read from an entry

type OutOf<S> = S extends Schema ? z.output<S> : undefined;

/**
 * What a handler receives: the parsed params, query and body (undefined where the route has none).
 */
export interface HandlerInput<R extends RouteSpec, C> {
  params: R extends { params: infer S } ? OutOf<S> : undefined;
  query: R extends { query: infer S } ? OutOf<S> : undefined;
  body: R extends { body: infer S } ? OutOf<S> : undefined;
  /** The Hono context, for headers and the request id. */
  c: C;
}

/**
 * What a handler returns: the response's data (wrapped as `{"data": ...}`), or a Response for a
 * `response: null` route.
 */
export type HandlerOutput<R extends RouteSpec> = R extends { response: infer S extends Schema }
  ? z.input<S>
  : Response;

type Field<K extends string, S> = S extends Schema
  ? { [P in K]: K extends 'params' ? { [N in keyof z.input<S>]: string | number } : z.input<S> }
  : { [P in K]?: undefined };

/** What a client passes: each of params, query and body that the route takes. */
export type CallInput<R extends RouteSpec> = Field<
  'params',
  R extends { params: infer S } ? S : undefined
> &
  Field<'query', R extends { query: infer S } ? S : undefined> &
  Field<'body', R extends { body: infer S } ? S : undefined>;

/** What a client gets back: the validated `data` (or the raw body for a `response: null` route). */
export type CallOutput<R extends RouteSpec> = R extends { response: infer S extends Schema }
  ? z.output<S>
  : unknown;

/** `METHOD /path` of every route of a table, the form request logs and the agreement test use. */
export function routeKeys(table: RouteTable): string[] {
  return Object.values(table).map((r) => `${r.method} ${r.path}`);
}
