/**
 * Pieces several services' route tables share: the metrics route every service serves the same
 * way, and the path and query parameter schemas derived from shared/fields.ts (a path or query
 * value arrives as text; these read it with the field's own bounds and messages).
 */
import { z } from 'zod';
import { ORDER_NUMBER, type IntField } from '../fields.ts';
import { route } from './route.ts';

/**
 * `GET /metrics`, Prometheus text (shared/observability.ts serves it). Public, like /health and
 * /ready: it is read-only, holds no secret (counts, epochs, stock), and a scraper should not need
 * the credential that lets a caller move the cluster.
 */
export const metricsRoute = route({
  method: 'GET',
  path: '/metrics',
  access: 'public',
  response: null,
  quiet: true,
});

/**
 * A path segment holding an order number: digits only (no sign, no decimals), within ORDER_NUMBER's
 * bounds.
 */
export const orderNumberParam = z.string().transform((raw, ctx) => {
  const n = ORDER_NUMBER.parse(raw);
  if (n === null) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `order number must be an integer from 0 to ${ORDER_NUMBER.max}`,
    });
    return z.NEVER;
  }
  return n;
});

/**
 * A query parameter holding an integer of `field` (a client passes the number; the server reads its
 * text).
 */
export const queryInt = (field: IntField) => z.coerce.number().pipe(field.schema());
