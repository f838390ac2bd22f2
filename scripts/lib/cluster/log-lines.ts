/**
 * What one line of a child's output is, read from its structured fields (the services write one
 * pino JSON object per line: shared/logger.ts), never from its text:
 *  - a request line (shared/observability.ts writes one per request: method, route, status, ms);
 *  - an event (`event` names its kind: the typed events of order/events.ts,
 *    frontend/router-events.ts, the catalog's restocks and pushes, shutdowns...);
 *  - another structured line (the `listening on` announcement, a message without an event);
 *  - text: anything that is not a JSON object (a one-line refusal on stderr, a stack trace).
 */

/** pino's numeric levels. */
export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

export interface Structured {
  level: number;
  /** ms since the epoch (pino's isoTime, parsed); the time it was read when absent. */
  timeMs: number;
  msg: string;
  fields: Record<string, unknown>;
}

export type LogLine =
  | ({
      kind: 'request';
      method: string;
      route: string;
      path: string;
      status: number;
      ms: number;
    } & Structured)
  | ({ kind: 'event'; event: string } & Structured)
  | ({ kind: 'other' } & Structured)
  | { kind: 'text'; text: string; stream: 'stdout' | 'stderr'; timeMs: number };

/**
 * Events a service writes once per request or more, which `npm start` counts in its summary
 * instead of showing (one per purchase and restocked toy).
 */
export const ROUTINE_EVENTS: ReadonlySet<string> = new Set([
  'cache_invalidate',
  'cache_evict',
  'restock_round',
]);

export function parseLogLine(raw: string, stream: 'stdout' | 'stderr', nowMs: number): LogLine {
  let o: unknown = null;
  if (raw.startsWith('{')) {
    try {
      o = JSON.parse(raw);
    } catch {
      o = null;
    }
  }
  if (!o || typeof o !== 'object' || Array.isArray(o))
    return { kind: 'text', text: raw, stream, timeMs: nowMs };
  const fields = o as Record<string, unknown>;
  const parsedTime =
    typeof fields.time === 'string'
      ? Date.parse(fields.time)
      : typeof fields.time === 'number'
        ? fields.time
        : NaN;
  const base: Structured = {
    level: typeof fields.level === 'number' ? fields.level : LEVEL.info,
    timeMs: Number.isFinite(parsedTime) ? parsedTime : nowMs,
    msg: typeof fields.msg === 'string' ? fields.msg : '',
    fields,
  };
  if (typeof fields.event === 'string') return { kind: 'event', event: fields.event, ...base };
  const { method, route, path, status, ms } = fields;
  if (
    typeof method === 'string' &&
    typeof route === 'string' &&
    typeof status === 'number' &&
    typeof ms === 'number'
  ) {
    return {
      kind: 'request',
      method,
      route,
      path: typeof path === 'string' ? path : route,
      status,
      ms,
      ...base,
    };
  }
  return { kind: 'other', ...base };
}
