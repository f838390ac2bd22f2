/**
 * `GET /` on the public port: where to go from here. A browser gets a tiny HTML page linking the
 * API, the status page and /health; anything that does not ask for HTML (curl, a client) gets the
 * same links as JSON, in the API's `{"data": ...}` shape. Mounted by frontend/main.ts next to the
 * status page, so the API app (frontend/app.ts) is unchanged.
 */
import { Hono } from 'hono';
import { frontendPublicRoutes } from '../shared/protocol/frontend.ts';

export interface IndexLink {
  href: string;
  what: string;
}

/** The links, one list for both forms. Paths relative to the frontend's public port. */
const { statusPage, health, listProducts, getProduct, statusData } = frontendPublicRoutes;
const tux = getProduct.path.replace(':name', 'Tux');
export const INDEX_LINKS: readonly IndexLink[] = [
  {
    href: statusPage.path,
    what: 'live status page: outages, orders/s, latency, failovers, cache, stock',
  },
  {
    href: health.path,
    what: "the frontend's view as JSON: leader, epoch, replicas, cache counters",
  },
  {
    href: listProducts.path,
    what: `every toy (GET ${getProduct.path} for one, names are case-sensitive and percent-encoded)`,
  },
  { href: tux, what: 'one toy' },
  { href: statusData.path, what: "the status page's data" },
];

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>toystore</title>
<style>
  :root { color-scheme: light dark; }
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  code { font-size: 13px; }
</style></head><body>
<h1>toystore</h1>
<p>A replicated online toy store. This is its frontend.</p>
<ul>
${INDEX_LINKS.map((l) => `  <li><a href="${escapeHtml(l.href)}"><code>GET ${escapeHtml(l.href)}</code></a>: ${escapeHtml(l.what)}</li>`).join('\n')}
  <li><code>POST /orders</code> <code>{"name":"Tux","quantity":2}</code> with an <code>Idempotency-Key</code> header: place an order</li>
  <li><code>GET /orders/:order_number</code>: read an order back</li>
</ul>
<p>Errors are <code>{"error":{"code":N,"message":"..."}}</code> with the HTTP status equal to <code>code</code>.</p>
</body></html>
`;

export function createIndexApp(): Hono {
  const app = new Hono();
  app.get(frontendPublicRoutes.index.path, (c) => {
    if ((c.req.header('accept') ?? '').includes('text/html')) return c.html(PAGE);
    return c.json({
      data: {
        service: 'toystore frontend',
        links: INDEX_LINKS,
        orders: 'POST /orders {"name":"Tux","quantity":2}',
      },
    });
  });
  return app;
}
