/**
 * The simulated network: HTTP requests between simulated processes over the run's `ManualClock`,
 * dispatched through each service's real Hono app (`app.fetch`), with seeded delay (so
 * reordering), loss of requests and of replies, duplicated requests (the handler runs twice; the
 * caller sees the first reply), directed link cuts (partitions, one-way ones too), refused
 * connections to a crashed process, resets of calls in flight when their target crashes, and
 * caller-side timeouts (`NetworkError('timeout')` after the caller's timeoutMs, the way
 * shared/http.ts reports it).
 *
 * A host (`http://order-2`, `http://catalog`) is served by one node through a handler looked up
 * at delivery time, so a request that reaches a restarted process is handled by the new
 * incarnation (stale messages do arrive at restarted replicas); the reply of a handler whose
 * incarnation died is dropped. Requests and replies cross the wire as text, as over a socket.
 *
 * Why real apps and not calls on the objects behind them: the routes, the body validation and the
 * error mapping are then the ones production runs (issue 11: one protocol definition), and the
 * services' own HTTP clients (order/peers.ts, the router) are what talks over this network.
 */
import type { ManualClock } from '../../../shared/clock.ts';
import {
  DEFAULT_TIMEOUT_MS,
  NetworkError,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
} from '../../../shared/http.ts';
import type { Rng } from '../rng/rng.ts';
import type { SimNode } from './node.ts';

export interface NetworkConfig {
  lossRate: number;
  dupRate: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Chance that one message is slow (maxDelayMs..slowMaxMs): the main source of reordering. */
  slowRate: number;
  slowMaxMs: number;
}

export interface NetStats {
  calls: number;
  lost: number;
  duplicated: number;
  timeouts: number;
  refused: number;
  resets: number;
  partitionDrops: number;
  /** Appends a follower answered with 400 (e.g. a chain it refused), not a mismatch. */
  appendsRefused: number;
}

/** What serves one host: the fetch of the app running in the node's current incarnation. */
export type FetchHandler = (req: Request) => Response | Promise<Response>;

interface InFlight {
  reset: () => void;
}

/** One request on its way: who sends it, to whom, and how it ends (exactly once). */
interface Call<T> {
  id: number;
  src: SimNode;
  dst: SimNode;
  srcIncarnation: number;
  url: string;
  tag: string;
  handler: () => Promise<T>;
  settle: (how: string, fn: () => void) => void;
  resolve: (v: T) => void;
  reject: (e: Error) => void;
  describe: (v: T) => string;
}

export class SimNetwork {
  readonly stats: NetStats = {
    calls: 0,
    lost: 0,
    duplicated: 0,
    timeouts: 0,
    refused: 0,
    resets: 0,
    partitionDrops: 0,
    appendsRefused: 0,
  };
  /** Directed link cuts, reference counted (overlapping partitions). */
  private cuts = new Map<string, number>();
  private inflight = new Map<number, Set<InFlight>>();
  private hosts = new Map<string, { node: number; handler: () => FetchHandler | null }>();
  private seq = 0;
  /** Extra loss on top of cfg.lossRate (network storms). */
  extraLoss = 0;
  /**
   * Told of every HTTP request the network delivers twice (for an order, that is a retry its client
   * never made).
   */
  onDuplicate: (req: HttpRequest) => void = () => {};

  constructor(
    private readonly clock: ManualClock,
    private readonly rng: Rng,
    readonly cfg: NetworkConfig,
    private readonly nodes: ReadonlyMap<number, SimNode>,
    private readonly trace: (line: string) => void,
  ) {}

  /**
   * `http://<host>/...` is served by node `node`, through whatever `handler()` returns at delivery.
   */
  serve(host: string, node: number, handler: () => FetchHandler | null): void {
    this.hosts.set(host, { node, handler });
  }

  private node(id: number): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`unknown sim node ${id}`);
    return n;
  }

  cut(from: number, to: number): void {
    const k = `${from}>${to}`;
    this.cuts.set(k, (this.cuts.get(k) ?? 0) + 1);
  }

  heal(from: number, to: number): void {
    const k = `${from}>${to}`;
    const n = (this.cuts.get(k) ?? 0) - 1;
    if (n <= 0) this.cuts.delete(k);
    else this.cuts.set(k, n);
  }

  healAll(): void {
    this.cuts.clear();
    this.extraLoss = 0;
  }

  isCut(from: number, to: number): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  private delay(): number {
    const { rng, cfg } = this;
    return rng.chance(cfg.slowRate)
      ? rng.int(cfg.maxDelayMs, cfg.slowMaxMs)
      : rng.int(cfg.minDelayMs, cfg.maxDelayMs);
  }

  private lose(): boolean {
    return this.rng.chance(this.cfg.lossRate + this.extraLoss);
  }

  /**
   * The target crashed: calls in flight to it are reset (about half of them; the rest time out).
   */
  onCrash(id: number): void {
    const calls = this.inflight.get(id);
    if (!calls) return;
    for (const c of [...calls])
      if (this.rng.chance(0.5)) this.clock.setTimeout(c.reset, this.delay());
  }

  /**
   * The `HttpClient` of process `self`: a request to `http://<host>/...` runs through the app
   * serving that host, inside its node, at delivery.
   */
  httpClient(self: number): HttpClient {
    return async (req) => {
      const url = new URL(req.url);
      const target = this.hosts.get(url.host);
      if (!target) throw new NetworkError('refused', req.url);
      const res = await this.call<HttpResponse>(
        self,
        target.node,
        describeRequest(req, url),
        req.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        () => dispatch(target.handler(), req),
        describeResponse,
        () => this.onDuplicate(req),
      );
      if (res.status === 400 && url.pathname === '/internal/append') this.stats.appendsRefused++;
      return res;
    };
  }

  /**
   * Runs `handler` inside process `to` on behalf of process `from`. The handler is run at
   * delivery time, in whatever incarnation of `to` is up then; `describe` names its result in the
   * trace.
   */
  call<T>(
    from: number,
    to: number,
    what: string,
    timeoutMs: number,
    handler: () => Promise<T>,
    describe: (v: T) => string = () => 'ok',
    onDup = () => {},
  ): Promise<T> {
    const id = ++this.seq;
    const src = this.node(from);
    const dst = this.node(to);
    this.stats.calls++;
    return new Promise<T>((resolve, reject) => {
      const c: Call<T> = {
        id,
        src,
        dst,
        srcIncarnation: src.incarnation,
        url: `sim://${dst.name}/${what}`,
        tag: `#${id} ${src.name}>${dst.name} ${what}`,
        handler,
        resolve,
        reject,
        describe,
        settle: () => {},
      };
      let settled = false;
      const entry: InFlight = {
        reset: () => c.settle('reset', () => reject(new NetworkError('reset', c.url))),
      };
      const cancelTimeout = this.clock.setTimeout(
        () => c.settle('timeout', () => reject(new NetworkError('timeout', c.url))),
        timeoutMs,
      );
      c.settle = (how, fn) =>
        src.gate(c.srcIncarnation, () => {
          if (settled) return;
          settled = true;
          cancelTimeout();
          this.inflight.get(to)?.delete(entry);
          if (how === 'timeout') this.stats.timeouts++;
          else if (how === 'refused') this.stats.refused++;
          else if (how === 'reset') this.stats.resets++;
          this.trace(`${c.tag}: ${how}`);
          fn();
        });
      if (!dst.up) {
        this.clock.setTimeout(
          () => c.settle('refused', () => reject(new NetworkError('refused', c.url))),
          this.delay(),
        );
        return;
      }
      let set = this.inflight.get(to);
      if (!set) this.inflight.set(to, (set = new Set()));
      set.add(entry);
      this.transmit(c, '');
      if (this.rng.chance(this.cfg.dupRate)) {
        this.stats.duplicated++;
        this.trace(`${c.tag}: request duplicated`);
        onDup();
        this.transmit(c, ' (dup)');
      }
    });
  }

  /** The request leaves the sender: cut, lost, or on its way. */
  private transmit<T>(c: Call<T>, dup: string): void {
    if (this.isCut(c.src.id, c.dst.id)) {
      this.stats.partitionDrops++;
      return this.trace(`${c.tag}: request${dup} cut by partition`);
    }
    if (this.lose()) {
      this.stats.lost++;
      return this.trace(`${c.tag}: request${dup} lost`);
    }
    this.clock.setTimeout(() => this.arrive(c, dup), this.delay());
  }

  /** The request reaches the target's host: handled inside the incarnation that is up now. */
  private arrive<T>(c: Call<T>, dup: string): void {
    if (this.isCut(c.src.id, c.dst.id)) {
      this.stats.partitionDrops++;
      return this.trace(`${c.tag}: request${dup} cut by partition in flight`);
    }
    if (!c.dst.up) return c.settle('refused', () => c.reject(new NetworkError('refused', c.url)));
    const dstIncarnation = c.dst.incarnation;
    c.dst.gate(dstIncarnation, () => {
      let result: Promise<T>;
      try {
        result = c.handler();
      } catch (err) {
        result = Promise.reject(err);
      }
      result.then(
        (value) => this.respond(c, dstIncarnation, value, dup),
        (err: unknown) => {
          if (err instanceof NotListening)
            return c.settle('refused', () => c.reject(new NetworkError('refused', c.url)));
          this.trace(
            `${c.tag}: handler threw ${(err as Error)?.name}: ${(err as Error)?.message} (harness bug)`,
          );
        },
      );
    });
  }

  /** The reply leaves the target (if its incarnation still lives) and travels back. */
  private respond<T>(c: Call<T>, dstIncarnation: number, value: T, dup: string): void {
    c.dst.gate(dstIncarnation, () => {
      if (this.isCut(c.dst.id, c.src.id)) {
        this.stats.partitionDrops++;
        return this.trace(`${c.tag}: reply${dup} cut by partition`);
      }
      if (this.lose()) {
        this.stats.lost++;
        return this.trace(`${c.tag}: reply${dup} lost`);
      }
      this.clock.setTimeout(() => {
        if (this.isCut(c.dst.id, c.src.id)) {
          this.stats.partitionDrops++;
          return this.trace(`${c.tag}: reply${dup} cut by partition in flight`);
        }
        c.settle(`${c.describe(value)}${dup}`, () => c.resolve(value));
      }, this.delay());
    });
  }
}

/**
 * The part of a fetch `Request` the services' Hono apps read (url, method, headers, the body as
 * text), over a body that is already a string. Why not `new Request`: it builds a web stream and
 * an AbortSignal per message, which tripled the simulator's cost per message; a route that reads
 * anything else fails loudly (a 500 in the trace), never silently.
 */
class WireRequest {
  readonly bodyUsed = false;
  readonly headers: WireHeaders;
  constructor(
    readonly url: string,
    readonly method: string,
    headers: Record<string, string>,
    readonly body: string | null,
  ) {
    this.headers = new WireHeaders(headers);
  }
  async text(): Promise<string> {
    return this.body ?? '';
  }
  async json(): Promise<unknown> {
    return JSON.parse(this.body ?? '');
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    return new TextEncoder().encode(this.body ?? '').buffer as ArrayBuffer;
  }
  clone(): WireRequest {
    return new WireRequest(this.url, this.method, Object.fromEntries(this.headers.map), this.body);
  }
}

/** The read side of fetch `Headers` (names are case-insensitive). */
class WireHeaders {
  readonly map = new Map<string, string>();
  constructor(init: Record<string, string>) {
    for (const [k, v] of Object.entries(init)) this.map.set(k.toLowerCase(), v);
  }
  get(name: string): string | null {
    return this.map.get(name.toLowerCase()) ?? null;
  }
  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }
  forEach(fn: (value: string, key: string) => void): void {
    this.map.forEach(fn);
  }
}

/** The target process is up but not listening yet (still opening its storage). */
class NotListening extends Error {}

/** One request through an app's fetch, as bytes on a wire would carry it. */
async function dispatch(fetch: FetchHandler | null, req: HttpRequest): Promise<HttpResponse> {
  if (!fetch) throw new NotListening(req.url);
  const body = req.body === undefined ? null : JSON.stringify(req.body);
  // content-length, as a socket request carries it (bodyLimit checks it).
  const headers =
    body === null
      ? { ...req.headers }
      : {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          ...req.headers,
        };
  const res = await fetch(
    new WireRequest(req.url, req.method, headers, body) as unknown as Request,
  );
  const text = await res.text();
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => (out[k] = v));
  return { status: res.status, headers: out, body: text === '' ? undefined : safeJson(text) };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A short name for a request in the trace. */
function describeRequest(req: HttpRequest, url: URL): string {
  const b = (req.body ?? {}) as Record<string, unknown>;
  const p = url.pathname;
  if (p === '/internal/append')
    return `append e${b.epoch} ${Number(b.prevIndex) + 1}+${(b.entries as unknown[]).length} c${b.commitIndex}`;
  if (p === '/internal/promise') return `promise e${b.epoch}`;
  if (p === '/internal/lead') return `lead e${b.epoch}`;
  if (p === '/orders' || p === '/purchases')
    return `${req.method} ${p} ${b.quantity} ${b.name} key ${b.key} e${b.epoch}`;
  const items = (b.orders ?? b.purchases) as Array<Record<string, unknown>> | undefined;
  if ((p === '/orders/batch' || p === '/purchases/batch') && items)
    return `${req.method} ${p} [${items.map((o) => `${o.quantity} ${o.name} ${o.key} e${o.epoch}`).join(', ')}]`;
  if (p === '/orders/reads' && Array.isArray(b.reads))
    return `${req.method} ${p} [${(b.reads as Array<{ number: number; epoch?: number }>).map((r) => `${r.number} e${r.epoch}`).join(', ')}]`;
  if (p === '/products/reads' && Array.isArray(b.names))
    return `${req.method} ${p} [${(b.names as string[]).join(', ')}]`;
  return `${req.method} ${p}${url.search}`;
}

function describeResponse(res: HttpResponse): string {
  const results = (
    res.body as
      | {
          data?: { results?: Array<{ ok: boolean; status?: number; error?: { reason?: string } }> };
        }
      | undefined
  )?.data?.results;
  if (res.status === 200 && results)
    return `ok [${results.map((r) => (r.ok ? 'ok' : `${r.status} ${r.error?.reason ?? ''}`)).join(', ')}]`;
  if (res.status === 200) return 'ok';
  const reason = (res.body as { error?: { reason?: string } } | undefined)?.error?.reason;
  return `HTTP ${res.status}${reason ? ` ${reason}` : ''}`;
}
