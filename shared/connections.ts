/**
 * What a server does with its TCP connections, shared by every service (shared/serve.ts wires it).
 *
 * Why it is shaped so:
 * - **A cap below the file limit.** Every connection costs a file descriptor, and a service also
 *   needs descriptors for its own clients (the frontend's pools to the catalog and the replicas),
 *   its files and its pipes. A service pinned at its file limit by idle sockets answers nothing,
 *   /health included. So a service holds at most `maxConnections` (by default half its soft
 *   RLIMIT_NOFILE, at most MAX_CONNECTIONS), leaving the other half for everything else.
 * - **At the cap, shed the idle, not the newcomer.** A new connection evicts the oldest one that
 *   never sent a request (a port scanner, a slow-header attacker, a client that connected and
 *   went quiet), else the one idle longest between requests, so real requests keep getting in
 *   however many idle sockets someone opens. (nginx does the same with idle keep-alive
 *   connections when it runs short.) Shedding a keep-alive socket can race with a client
 *   reusing it; it happens only at the cap, and clients retry a reset on a reused connection.
 * - **Only when every connection is busy is a newcomer refused**, and refused clearly: it is
 *   kept just long enough to read its request and answer `503` with `Retry-After: 1`,
 *   `Connection: close` and the usual JSON error (the client learns why, and may retry), within a
 *   small budget (OVERFLOW_CONNECTIONS); past that budget it is closed at accept.
 * - **Lingering close.** When a response goes out before its request's body was read (a 413, a
 *   refusal), the connection must close (see serve.ts), and closing a socket with unread bytes
 *   makes the kernel send a reset that can destroy the response before the client reads it. So
 *   such a socket sends its FIN, then reads and discards what the client still sends, and is
 *   destroyed when the client closes its side, or after LINGER_MS / LINGER_MAX_BYTES (Apache's
 *   lingering_close, in a few lines).
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The most connections any service holds, whatever its file limit. */
export const MAX_CONNECTIONS = 10_000;
/** Refusals (503 + close) that may be in progress at once above the cap. */
export const OVERFLOW_CONNECTIONS = 64;
export const LINGER_MS = 2_000;
export const LINGER_MAX_BYTES = 64 * 1024 * 1024;

/** The soft limit on open files (Linux: /proc/self/limits), or null where it cannot be read. */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | null {
  try {
    const line = readFileSync(limitsFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft && /^\d+$/.test(soft) ? Number(soft) : null;
  } catch {
    return null;
  }
}

/** Half the file limit, at most MAX_CONNECTIONS, at least 8. */
export function defaultMaxConnections(fileLimit = openFileLimit()): number {
  if (fileLimit === null) return MAX_CONNECTIONS;
  return Math.max(8, Math.min(MAX_CONNECTIONS, Math.floor(fileLimit / 2)));
}

export interface ConnectionStats {
  open: number;
  max: number;
  /** Connections with a request in flight. */
  busy: number;
  /**
   * Idle connections closed to make room, so far; `shedNeverRequested` of them had sent nothing.
   */
  shed: number;
  shedNeverRequested: number;
  /**
   * Connections refused so far: answered 503, or closed at accept once the overflow budget was
   * spent.
   */
  refused: number;
  refusedAtAccept: number;
}

const REFUSAL_BODY = JSON.stringify({
  error: {
    code: 503,
    message: 'too many connections: try again shortly',
    reason: 'upstream_unavailable',
  },
});

export class ConnectionGuard {
  /** Accepted, no request yet; insertion order is age. */
  private readonly fresh = new Set<Socket>();
  /** Between requests; insertion order is how long they have been idle. */
  private readonly idle = new Set<Socket>();
  /** Requests in flight per connection. */
  private readonly busy = new Map<Socket, number>();
  private readonly refusing = new Set<Socket>();
  private readonly counts = { shed: 0, shedNeverRequested: 0, refused: 0, refusedAtAccept: 0 };

  constructor(
    readonly max: number,
    private readonly overflow = OVERFLOW_CONNECTIONS,
  ) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`maxConnections must be a positive integer, got ${max}`);
  }

  /** For the server's 'connection' event (after Node's own listener has set the socket up). */
  accept(socket: Socket): void {
    if (this.open() >= this.max) {
      const victim = first(this.fresh) ?? first(this.idle);
      if (victim) {
        if (this.fresh.has(victim)) this.counts.shedNeverRequested++;
        this.counts.shed++;
        this.forget(victim);
        victim.destroy();
      } else {
        this.counts.refused++;
        if (this.refusing.size >= this.overflow) {
          this.counts.refusedAtAccept++;
          return void socket.destroy();
        }
        this.refusing.add(socket);
        socket.once('close', () => this.refusing.delete(socket));
        return;
      }
    }
    this.fresh.add(socket);
    socket.once('close', () => this.forget(socket));
  }

  /**
   * For the server's 'request' event: false when the connection is being refused, in which case
   * the 503 has been sent and the app must not run. Otherwise the connection counts busy until
   * `release` is called for this request (shared/serve.ts calls it when the response is done: a
   * listener per response cost more than the bookkeeping itself).
   */
  admit(req: IncomingMessage, res: ServerResponse): boolean {
    const socket = req.socket;
    if (this.refusing.has(socket)) {
      res.shouldKeepAlive = false;
      res.writeHead(503, {
        'content-type': 'application/json',
        'retry-after': '1',
        'content-length': Buffer.byteLength(REFUSAL_BODY),
      });
      res.end(REFUSAL_BODY);
      return false;
    }
    if (!this.fresh.delete(socket) && !this.idle.delete(socket) && !this.busy.has(socket))
      return true; // already forgotten (closing)
    this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
    return true;
  }

  /** One admitted request on `socket` is answered; with none left the connection is idle. */
  release(socket: Socket): void {
    const left = this.busy.get(socket);
    if (left === undefined) return; // forgotten (closed, or shed) meanwhile
    if (left > 1) return void this.busy.set(socket, left - 1);
    this.busy.delete(socket);
    if (!socket.destroyed) this.idle.add(socket);
  }

  stats(): ConnectionStats {
    return { open: this.open(), max: this.max, busy: this.busy.size, ...this.counts };
  }

  private open(): number {
    return this.fresh.size + this.idle.size + this.busy.size;
  }

  private forget(socket: Socket): void {
    this.fresh.delete(socket);
    this.idle.delete(socket);
    this.busy.delete(socket);
  }
}

function first<T>(set: Set<T>): T | undefined {
  return set.values().next().value;
}

/**
 * Makes Node's end-of-response close of `socket` a lingering one (see the module comment):
 * Node calls `destroySoon()` after a `Connection: close` response has been written.
 */
export function lingerOnClose(socket: Socket, req: IncomingMessage): void {
  socket.destroySoon = function lingeringClose(this: Socket) {
    this.end();
    let discarded = 0;
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
    // The client closing its side means nothing more is coming: the close cannot meet unread data.
    this.once('end', () => this.destroy());
    // Unread body bytes still arrive through the request stream; a reader that gave up on it
    // (the web stream of a rejected body) must not hold them back.
    req.removeAllListeners('data');
    req.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > LINGER_MAX_BYTES) this.destroy();
    });
    req.resume();
    return this;
  };
}
