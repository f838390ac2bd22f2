/**
 * After the run heals: every product read through the frontend must match the catalog's stock.
 * The store promises no staleness bound in numbers: the catalog pushes an invalidation after
 * every change and the frontend drops its entry (README: "tells the frontend to drop stale cache
 * entries"). So once everything is healed and no order is in flight, the only bound a user can
 * expect is "soon": this check allows `boundMs` (default 5 s) for pushes still on their way. A
 * toy is judged only at a moment when two catalog reads around the frontend's read agree, so a
 * restock landing mid-comparison is not mistaken for staleness.
 */
import type { HttpClient } from '../../../shared/http.ts';
import { catalogRoutes } from '../../../shared/protocol/catalog.ts';
import { createRouteClient } from '../../../shared/protocol/client.ts';
import { frontendPublicRoutes } from '../../../shared/protocol/frontend.ts';
import type { ClusterUrls } from '../cluster/index.ts';
import type { ChaosViolation } from './report.ts';
import { sleep } from './sleep.ts';

interface Stock {
  name: string;
  quantity: number;
}

/** The catalog's stock (an internal route: `http` carries the cluster credential). */
async function catalogStock(
  http: HttpClient,
  urls: ClusterUrls,
): Promise<Map<string, number> | null> {
  try {
    const data: Stock[] = await createRouteClient(http, catalogRoutes).call(
      urls.catalog,
      'listProducts',
      {},
      { timeoutMs: 2_000 },
    );
    return new Map(data.map((p) => [p.name, p.quantity]));
  } catch {
    return null;
  }
}

async function frontendStock(
  http: HttpClient,
  urls: ClusterUrls,
  name: string,
): Promise<number | null> {
  try {
    return (
      await createRouteClient(http, frontendPublicRoutes).call(
        urls.frontend,
        'getProduct',
        { params: { name } },
        { timeoutMs: 2_000 },
      )
    ).quantity;
  } catch {
    return null;
  }
}

export interface FreshnessResult {
  /** Toys compared. */
  toys: number;
  /** ms until every toy matched, or null if some never did within the bound. */
  freshAfterMs: number | null;
  violations: ChaosViolation[];
}

/**
 * Polls every 200 ms until every toy read through the frontend matches the catalog, or `boundMs`.
 */
export async function checkCacheAfterHeal(
  http: HttpClient,
  urls: ClusterUrls,
  signal?: AbortSignal,
  boundMs = 5_000,
): Promise<FreshnessResult> {
  const started = performance.now();
  let stale = new Map<string, { served: number | null; stock: number }>();
  let toys = 0;
  for (;;) {
    stale = new Map();
    const before = await catalogStock(http, urls);
    if (before) {
      toys = before.size;
      const served = new Map<string, number | null>();
      for (const name of before.keys()) served.set(name, await frontendStock(http, urls, name));
      const after = await catalogStock(http, urls);
      let unjudged = after ? 0 : before.size;
      for (const [name, stock] of before) {
        // Changed meanwhile (a restock): judged in the next round.
        if (after?.get(name) !== stock) unjudged++;
        else if (served.get(name) !== stock)
          stale.set(name, { served: served.get(name) ?? null, stock });
      }
      if (stale.size === 0 && unjudged === 0)
        return { toys, freshAfterMs: Math.round(performance.now() - started), violations: [] };
    }
    if (performance.now() - started > boundMs || signal?.aborted) break;
    await sleep(200, signal);
  }
  const violations: ChaosViolation[] = [...stale].map(([name, v]) => ({
    source: 'cache',
    kind: 'stale-cache',
    message: `${boundMs} ms after healing, the frontend serves ${name} with stock ${v.served ?? '(no answer)'}, the catalog has ${v.stock}`,
  }));
  if (toys === 0)
    violations.push({
      source: 'cache',
      kind: 'stale-cache',
      message: `the catalog's product list could not be read within ${boundMs} ms after healing`,
    });
  return { toys, freshAfterMs: null, violations };
}
