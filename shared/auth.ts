/**
 * The cluster credential: what every internal request carries and every internal route checks.
 *
 * The choice: a **bearer secret compared in constant time**, not an HMAC over the request.
 * - The threat is anyone who can reach an internal port: they can connect and send, not read the
 *   traffic between the services. A shared secret they do not have stops them completely.
 * - An HMAC buys more only against someone who can watch or alter that traffic, and only with
 *   replay protection, which needs either timestamps (the hosts' clocks may disagree; the store
 *   never depends on them) or remembered nonces (a bounded, per-process state every replica
 *   would keep). Someone on the path can also read every order and stock level: that is what
 *   TLS or a private network (WireGuard, a VPC) is for, below this layer, with no change here.
 * - An HMAC covers the body, so it would be checked only after reading a body of up to 64 MiB
 *   (catch-up pages), and costs a pass over every byte of every append on the order path. The
 *   bearer check reads one header before the body: a forged request is refused before its body
 *   is read, and an honest one pays one comparison of a short string.
 *
 * How it is compared: the received header and the configured `Bearer <secret>` are compared
 * with `timingSafeEqual`, so the time taken says nothing about how much of the secret matched.
 * A header of another length is refused at once: that tells a stranger the secret's length,
 * which is no secret (a random string of at least 32 characters; guessing its content is what
 * must stay hopeless). Hashing both sides first would hide the length too, at the price of a
 * SHA-256 per request (3-8x the plain comparison in a loop on this loaded 2-core machine; a few
 * microseconds either way).
 *
 * Missing header: 401 (with `WWW-Authenticate: Bearer`); a wrong one: 403. Either is refused
 * before the body is read and changes nothing (the route's handler never runs).
 *
 * A cluster without a secret is open (every internal route answers anyone): allowed only when
 * every listener is on loopback (shared/config.ts refuses to start otherwise), which is a
 * developer's machine where `npm start` makes a secret anyway.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError } from './errors.ts';
import type { HttpClient } from './http.ts';

export const AUTHORIZATION_HEADER = 'authorization';
const SCHEME = 'Bearer ';

/** Long enough that guessing is hopeless, short enough for a header. */
export const MIN_SECRET_LENGTH = 32;
export const MAX_SECRET_LENGTH = 1024;
/** Visible ASCII: it travels in a header and is often pasted from a file. */
const SECRET_CHARS = /^[\x21-\x7e]+$/;

/** Why `secret` cannot be a cluster secret, or null if it can. */
export function secretProblem(secret: string): string | null {
  if (secret.length < MIN_SECRET_LENGTH)
    return `must be at least ${MIN_SECRET_LENGTH} characters (got ${secret.length})`;
  if (secret.length > MAX_SECRET_LENGTH) return `must be at most ${MAX_SECRET_LENGTH} characters`;
  if (!SECRET_CHARS.test(secret))
    return 'must be visible ASCII characters only (no spaces or control characters)';
  return null;
}

/** A fresh random secret (256 bits), for a cluster that has none (`npm start`, the launcher). */
export function newClusterSecret(): string {
  return randomBytes(32).toString('base64url');
}

export type CredentialCheck = 'ok' | 'missing' | 'wrong';

export interface ClusterCredential {
  /** The `Authorization` value an internal request carries. */
  readonly header: string;
  /** Judges a received `Authorization` header, in time independent of the secret. */
  check(authorization: string | undefined | null): CredentialCheck;
}

export function clusterCredential(secret: string): ClusterCredential {
  const problem = secretProblem(secret);
  if (problem) throw new TypeError(`cluster secret ${problem}`);
  const header = `${SCHEME}${secret}`;
  // Visible ASCII only (secretProblem), so one character is one byte and lengths compare as bytes.
  const expected = Buffer.from(header, 'latin1');
  return {
    header,
    check(authorization) {
      if (!authorization) return 'missing';
      if (authorization.length !== expected.length) return 'wrong';
      return timingSafeEqual(Buffer.from(authorization, 'latin1'), expected) ? 'ok' : 'wrong';
    },
  };
}

/** The credential of a configured secret; null (an open cluster) without one. */
export const credentialOf = (secret: string | null): ClusterCredential | null =>
  secret === null ? null : clusterCredential(secret);

/** The refusal for a request to an internal route, or null when it may proceed. */
export function refusal(
  credential: ClusterCredential,
  authorization: string | undefined,
): AppError | null {
  const verdict = credential.check(authorization);
  if (verdict === 'ok') return null;
  if (verdict === 'missing') {
    return new AppError(
      401,
      'unauthenticated',
      'this is an internal route: send the cluster credential (Authorization: Bearer <CLUSTER_SECRET>)',
    );
  }
  return new AppError(403, 'forbidden', 'the cluster credential is wrong');
}

/** Sent with a 401, as RFC 6750 asks. */
export const WWW_AUTHENTICATE = 'Bearer realm="toystore-cluster"';

/**
 * The client side: an HttpClient that adds the credential to every request marked `internal`
 * (the route client marks them from the route table, shared/protocol/client.ts) and to no other,
 * so the secret never goes to a public route or anywhere a table does not name. Without a
 * credential (an open cluster) it is `http` itself.
 */
export function withClusterCredential<H extends HttpClient>(
  http: H,
  credential: ClusterCredential | null,
): H {
  if (credential === null) return http;
  const wrapped: HttpClient = (req) =>
    req.internal
      ? http({ ...req, headers: { ...req.headers, [AUTHORIZATION_HEADER]: credential.header } })
      : http(req);
  // Keeps what else the client has (a pool's close()).
  return Object.assign(wrapped, http);
}

/**
 * What a service logs at start when it has no secret (it runs on loopback, or config refused it).
 */
export const OPEN_CLUSTER_WARNING =
  'no CLUSTER_SECRET: internal routes answer anyone who can reach this loopback port (npm start makes a secret; set one on a shared machine)';

/**
 * Whether a bind address is loopback only, where an open cluster is allowed. Anything else
 * (0.0.0.0, ::, a LAN or namespace address, a name) may be reachable from elsewhere.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * What every service's build does with its CLUSTER_SECRET (catalog/build.ts, order/build.ts,
 * frontend/build.ts), written once: the credential its internal routes check, and its HTTP client
 * with that credential on every internal call. Without a secret (loopback only: shared/config.ts
 * refuses otherwise) it warns once that this service's internal routes are open.
 */
export function clusterSecurity<H extends HttpClient>(
  secret: string | null | undefined,
  http: H,
  warn: (fields: { event: 'open_cluster' }, msg: string) => void,
): { credential: ClusterCredential | null; http: H } {
  const credential = credentialOf(secret ?? null);
  if (!credential) warn({ event: 'open_cluster' }, OPEN_CLUSTER_WARNING);
  return { credential, http: withClusterCredential(http, credential) };
}
