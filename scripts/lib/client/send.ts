/**
 * One logical request with retries (p-retry's exponential backoff), and what its attempts told:
 * a definite answer, certainly not taken, or unknown. See the module comment of run.ts for the
 * rules per mode.
 */
import pRetry, { AbortError } from 'p-retry';
import type { z } from 'zod';
import {
  NetworkError,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
} from '../../../shared/http.ts';
import type { HistoryAttempt } from '../../../shared/contracts.ts';
import { contradictsUnknown } from '../invariants/index.ts';
import type { StatsCollector } from './stats.ts';
import type { RetryPolicy } from './types.ts';

export function errorMessage(res: HttpResponse): string | undefined {
  const msg = (res.body as { error?: { message?: unknown } } | undefined)?.error?.message;
  return typeof msg === 'string' ? msg : undefined;
}

/** What one HTTP attempt answered, as the history records it (shared/contracts.ts `attempts`). */
export type Attempt = HistoryAttempt;

/**
 * How one logical request ended, after its retries.
 *  - `response`: a definite answer (anything but a retryable status), final.
 *  - `failed`: every attempt was retryable and certainly not acted on (503, refused), or a GET
 *    ran out of retries; `response` is the last answer if the last attempt got one.
 *  - `unknown`: a POST that may have been taken; `response` is the last answer, if any.
 * `attempts` lists every attempt; `contradiction` is the first answer after an uncertain attempt
 * that claimed the order certainly did not happen (503, or a 4xx other than a stock refusal):
 * the store promised never to say that once it may have taken the order.
 */
export type Outcome = (
  | { kind: 'response'; response: HttpResponse }
  | { kind: 'failed'; reason: string; response: HttpResponse | null }
  | { kind: 'unknown'; reason: string; response: HttpResponse | null }
) & { attempts: Attempt[]; contradiction: Attempt | null };

/** What a single attempt tells about the request. */
type AttemptVerdict =
  /** Final: return this response. */
  | 'final'
  /** Certainly not acted on: retry. */
  | 'not-taken'
  /** May have been acted on; retry (idempotent) or give up as unknown. */
  | 'uncertain';

type Mode = 'read' | 'order-once' | 'order-keyed';

/** At most this many attempts are recorded per operation (the retry policy bounds them anyway). */
const MAX_ATTEMPTS_RECORDED = 50;

function describeError(err: unknown): string {
  if (err instanceof NetworkError) return `network ${err.kind}`;
  return err instanceof Error ? `error ${err.name}` : 'error';
}

/** The stable machine code in an error body (`{"error":{"reason":...}}`), or null. */
export function errorReason(res: HttpResponse): string | null {
  const r = (res.body as { error?: { reason?: unknown } } | undefined)?.error?.reason;
  return typeof r === 'string' ? r : null;
}

export function statusReason(res: HttpResponse): string {
  const msg = errorMessage(res);
  return `HTTP ${res.status}${msg ? ` (${msg})` : ''}`;
}

/** The verdict on one answered attempt. */
function judgeResponse(res: HttpResponse, mode: Mode): AttemptVerdict {
  if (res.status === 503) return 'not-taken';
  if (mode === 'read') return 'final';
  if (res.status >= 500) return 'uncertain';
  // A duplicate that waited too long for the first attempt: that attempt's outcome is unknown.
  if (mode === 'order-keyed' && res.status === 409 && errorReason(res) === 'request_in_progress')
    return 'uncertain';
  return 'final';
}

export const sleep = (ms: number) =>
  ms > 0 ? new Promise<void>((r) => setTimeout(r, ms)) : Promise.resolve();

/** Thrown inside an attempt to have p-retry try again; carries what the attempt saw. */
class AttemptFailed extends Error {}

/**
 * Sends one logical request with retries (p-retry's exponential backoff). `mode`:
 *  - `read`: a GET; retry any network error or 503.
 *  - `order-once`: a POST without a key; retry only 503 / refused, give up at once on anything
 *    that may have been acted on (network error, 5xx) as unknown.
 *  - `order-keyed`: a POST with an idempotency key; retry 503 / refused and also anything
 *    uncertain; unknown only when the retries run out after an uncertain attempt.
 */
export async function send(
  http: HttpClient,
  req: HttpRequest,
  mode: Mode,
  policy: RetryPolicy,
  stats: StatsCollector,
): Promise<Outcome> {
  let uncertain = false;
  let lastResponse: HttpResponse | null = null;
  let lastReason = '';
  const attempts: Attempt[] = [];
  let contradiction: Attempt | null = null;
  const noteAttempt = (a: Attempt) => {
    if (uncertain && !contradiction && contradictsUnknown(a)) contradiction = a;
    if (attempts.length < MAX_ATTEMPTS_RECORDED) attempts.push(a);
  };
  try {
    const out = await pRetry(
      async (): Promise<{ kind: 'response'; response: HttpResponse }> => {
        stats.attempts++;
        let verdict: AttemptVerdict;
        try {
          const res = await http(req);
          lastResponse = res;
          // A 503's message varies (no quorum, no leader...); the reason keeps the map small.
          lastReason = res.status === 503 ? 'HTTP 503' : statusReason(res);
          verdict = judgeResponse(res, mode);
          noteAttempt({
            status: res.status,
            reason: errorReason(res),
            uncertain: verdict === 'uncertain',
          });
          if (verdict === 'final') return { kind: 'response', response: res };
        } catch (err) {
          lastResponse = null;
          lastReason = describeError(err);
          // Reads change nothing, so they are always safe to repeat.
          verdict =
            mode === 'read' || (err instanceof NetworkError && err.undelivered)
              ? 'not-taken'
              : 'uncertain';
          noteAttempt({ status: null, reason: lastReason, uncertain: verdict === 'uncertain' });
        }
        if (verdict === 'uncertain') {
          uncertain = true;
          if (mode === 'order-once') throw new AbortError(lastReason);
        }
        throw new AttemptFailed(lastReason);
      },
      {
        retries: policy.retries,
        minTimeout: policy.minTimeout,
        maxTimeout: policy.maxTimeout,
        factor: policy.factor,
        randomize: false,
      },
    );
    return { ...out, attempts, contradiction };
  } catch {
    const n = attempts.length;
    const reason = n > 1 ? `${lastReason} after ${n} attempts` : lastReason;
    return {
      kind: uncertain ? 'unknown' : 'failed',
      reason,
      response: lastResponse,
      attempts,
      contradiction,
    };
  }
}

export const dataOf = <T>(res: HttpResponse, schema: z.ZodType<T>): T | undefined => {
  const parsed = schema.safeParse((res.body as { data?: unknown } | undefined)?.data);
  return parsed.success ? parsed.data : undefined;
};
