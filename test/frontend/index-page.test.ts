/**
 * GET / on the public port: a browser gets a small page linking the status page, /health and the
 * API; curl gets the same links as JSON.
 */
import { describe, expect, it } from 'vitest';
import { createIndexApp, INDEX_LINKS } from '../../frontend/index-page.ts';

describe('GET /', () => {
  it('a browser gets an HTML page linking /status, /health and the API', async () => {
    const res = await createIndexApp().request('/', {
      headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    for (const href of ['/status', '/health', '/products', '/status.json'])
      expect(html).toContain(`<a href="${href}">`);
    expect(html).toContain('POST /orders');
    expect(html.length).toBeLessThan(3_000);
  });

  it('curl (no Accept: text/html) gets the same links as JSON', async () => {
    const res = await createIndexApp().request('/', { headers: { accept: '*/*' } });
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as { data: { links: typeof INDEX_LINKS } };
    expect(body.data.links).toEqual(INDEX_LINKS);
    expect(body.data.links.map((l) => l.href)).toEqual(
      expect.arrayContaining(['/status', '/health', '/products']),
    );
  });
});
