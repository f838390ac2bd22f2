/**
 * The keep-alive idle timeouts of our servers and of our own clients, in one place because they
 * are one rule: the client must close an idle connection before the server does. A client that
 * sends on a connection the server is closing at that moment fails the request (and for a POST
 * cannot tell whether it ran); only the side that closes first avoids the race.
 *
 * - Servers (shared/serve.ts) keep an idle connection 65 s, not Node's default 5 s: the lab's
 *   clients sleep between requests on one connection, and 65 s is above the 60 s that common
 *   clients and proxies (load balancers, Go's and Python's pools) idle for, so they close first.
 *   Idle connections are cheap to keep: at the connection cap they are the first to be shed.
 * - Our pooled client (shared/http.ts `createPooledHttp`) closes idle sockets at half that.
 */
export const SERVER_KEEP_ALIVE_TIMEOUT_MS = 65_000;
export const CLIENT_IDLE_TIMEOUT_MS = SERVER_KEEP_ALIVE_TIMEOUT_MS / 2;
