/**
 * A tiny in-process TCP fault proxy: one per directed link (e.g. "order-3 → order-2"), so the
 * chaos tool can partition, cut or slow one direction of one link while every process keeps
 * running. The `from` process is configured to reach `to` through the proxy's URL (see the
 * `links` option of scripts/lib/cluster); the proxy forwards bytes to the real target.
 *
 * Modes (`setMode`), applied to new and to open connections alike:
 *  - `pass`: forward both ways.
 *  - `drop`: close every open connection with a reset, and reset new ones right after accepting
 *    (the caller sees ECONNRESET, a request that may or may not have been delivered).
 *  - `blackhole`: accept and never answer: nothing is forwarded either way (new connections are
 *    not even connected upstream), like a partition or a hung peer. Held bytes are delivered in
 *    order when the link heals, as TCP would after a short partition; by then the caller has
 *    usually timed out and closed the connection, which closes its upstream too.
 *  - `delay`: forward every chunk `ms` after it arrived, in order, both ways.
 *
 * TCP, not HTTP: it never parses requests, so keep-alive, pipelining and bodies pass unchanged,
 * and a partition also hits connections that were open before it began. Limit: when the target
 * refuses the upstream connection (its process is down), the caller's already-accepted
 * connection is reset, so a caller sees "reset" where a direct connection would see "refused".
 * Loopback only by default. `close()` destroys every connection and the listener.
 */
import net from 'node:net';

export type FaultMode =
  | { kind: 'pass' }
  | { kind: 'drop' }
  | { kind: 'blackhole' }
  | { kind: 'delay'; ms: number };

export const PASS: FaultMode = { kind: 'pass' };

export interface FaultProxyStats {
  /** Connections accepted so far. */
  accepted: number;
  /** Connections reset by `drop` (open ones and new ones). */
  dropped: number;
  /** Connections open now. */
  open: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: what the `from` process should use instead of the target's URL. */
  readonly url: string;
  readonly port: number;
  /** The real target (`http://host:port`), or null: a proxy without a target drops everything. */
  readonly target: string | null;
  setTarget(url: string | null): void;
  readonly mode: FaultMode;
  setMode(mode: FaultMode): void;
  stats(): FaultProxyStats;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  target?: string | null;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port to listen on (default 0: any free port). */
  port?: number;
  mode?: FaultMode;
}

interface Chunk {
  data: Buffer;
  at: number;
}

/** One direction of one connection: a queue of chunks from `src` waiting for `dst`. */
interface Flow {
  queue: Chunk[];
  ended: boolean;
  timer: NodeJS.Timeout | null;
}

interface Conn {
  client: net.Socket;
  upstream: net.Socket | null;
  up: Flow; // client → upstream
  down: Flow; // upstream → client
  closed: boolean;
}

function validMode(mode: FaultMode): FaultMode {
  if (mode.kind === 'delay' && !(Number.isFinite(mode.ms) && mode.ms >= 0))
    throw new RangeError(`delay must be a non-negative number of ms, got ${mode.ms}`);
  return { ...mode };
}

function parseTarget(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 80) };
}

/**
 * The proxy's state and its event handlers as methods, so each concern (accepting, forwarding
 * with the mode applied, connecting upstream, tearing down) reads on its own.
 */
class ProxyServer implements FaultProxy {
  readonly url: string;
  readonly port: number;
  private targetUrl: string | null;
  private current: FaultMode;
  private readonly conns = new Set<Conn>();
  private readonly counts = { accepted: 0, dropped: 0 };
  private closing = false;

  private constructor(
    private readonly server: net.Server,
    host: string,
    opts: FaultProxyOptions,
  ) {
    this.port = (server.address() as net.AddressInfo).port;
    this.url = `http://${host}:${this.port}`;
    this.targetUrl = opts.target ?? null;
    this.current = validMode(opts.mode ?? PASS);
  }

  static async listen(opts: FaultProxyOptions): Promise<ProxyServer> {
    const host = opts.host ?? '127.0.0.1';
    let proxy: ProxyServer | null = null;
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
      if (proxy) proxy.accept(client);
      else client.destroy();
    });
    server.on('error', () => {}); // after listen, nothing the caller could act on
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: opts.port ?? 0, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    proxy = new ProxyServer(server, host, opts);
    return proxy;
  }

  get target(): string | null {
    return this.targetUrl;
  }
  setTarget(url: string | null): void {
    if (url !== null) parseTarget(url); // throws on a bad URL
    this.targetUrl = url;
  }
  get mode(): FaultMode {
    return { ...this.current };
  }
  setMode(next: FaultMode): void {
    this.current = validMode(next);
    for (const c of [...this.conns]) this.applyMode(c);
  }
  stats(): FaultProxyStats {
    return { ...this.counts, open: this.conns.size };
  }
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of [...this.conns]) this.destroy(c, false);
    await closed;
  }

  private accept(client: net.Socket): void {
    this.counts.accepted++;
    client.setNoDelay(true);
    const c: Conn = { client, upstream: null, up: newFlow(), down: newFlow(), closed: false };
    if (this.closing) return void client.destroy();
    this.conns.add(c);
    client.on('data', (data: Buffer) => {
      c.up.queue.push({ data, at: performance.now() });
      this.pump(c, c.up, c.upstream);
    });
    client.on('end', () => {
      c.up.ended = true;
      this.pump(c, c.up, c.upstream);
    });
    client.on('error', () => this.destroy(c, false));
    client.on('close', () => this.destroy(c, false));
    this.applyMode(c);
  }

  private destroy(c: Conn, reset: boolean): void {
    if (c.closed) return;
    c.closed = true;
    this.conns.delete(c);
    for (const f of [c.up, c.down]) if (f.timer) clearTimeout(f.timer);
    for (const s of [c.client, c.upstream]) {
      if (!s) continue;
      if (
        reset &&
        !s.destroyed &&
        typeof s.resetAndDestroy === 'function' &&
        s.readyState !== 'opening'
      )
        s.resetAndDestroy();
      else s.destroy();
    }
  }

  /** Writes what is due from `flow` to `dst`, honouring the current mode. */
  private pump(c: Conn, flow: Flow, dst: net.Socket | null): void {
    const mode = this.current;
    if (c.closed || flow.timer) return;
    if (mode.kind === 'blackhole' || mode.kind === 'drop' || !dst || dst.connecting) return;
    const delayMs = mode.kind === 'delay' ? mode.ms : 0;
    const now = performance.now();
    while (flow.queue.length) {
      const head = flow.queue[0]!;
      const due = head.at + delayMs;
      if (due > now) {
        flow.timer = setTimeout(
          () => {
            flow.timer = null;
            this.pump(c, flow, dst);
          },
          Math.ceil(due - now),
        );
        return;
      }
      flow.queue.shift();
      dst.write(head.data);
    }
    if (flow.ended && !dst.writableEnded) dst.end();
  }

  private pumpAll(c: Conn): void {
    this.pump(c, c.up, c.upstream);
    this.pump(c, c.down, c.client);
  }

  private connectUpstream(c: Conn): void {
    if (c.upstream || c.closed) return;
    if (!this.targetUrl) return this.destroy(c, true);
    const up = net.connect({ ...parseTarget(this.targetUrl), allowHalfOpen: true });
    c.upstream = up;
    up.setNoDelay(true);
    up.on('connect', () => this.pumpAll(c));
    up.on('data', (data: Buffer) => {
      c.down.queue.push({ data, at: performance.now() });
      this.pump(c, c.down, c.client);
    });
    up.on('end', () => {
      c.down.ended = true;
      this.pump(c, c.down, c.client);
    });
    // Refused, reset, or closed: the caller's connection goes too (a reset, so it is noticed).
    up.on('error', () => this.destroy(c, true));
    up.on('close', () => {
      if (c.down.queue.length === 0) this.destroy(c, false);
      else {
        c.down.ended = true;
        this.pump(c, c.down, c.client);
      }
    });
  }

  private applyMode(c: Conn): void {
    const mode = this.current;
    if (mode.kind === 'drop') {
      this.counts.dropped++;
      return this.destroy(c, true);
    }
    if (mode.kind === 'blackhole') {
      c.client.pause();
      c.upstream?.pause();
      return;
    }
    c.client.resume();
    c.upstream?.resume();
    this.connectUpstream(c);
    this.pumpAll(c);
  }
}

const newFlow = (): Flow => ({ queue: [], ended: false, timer: null });

export function startFaultProxy(opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  return ProxyServer.listen(opts);
}
