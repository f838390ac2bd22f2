/**
 * The client CLI's flags: usage text and a parser that throws `UsageError` with a clear message.
 */
import { intFlag, numberFlag, parseFlags, UsageError } from '../cli/flags.ts';

export { UsageError };

export const USAGE = `usage: npm run client -- [--clients N] [--iterations N] [--duration S] [--p P] [--url URL] [--seed N]
                         [--history FILE] [--no-idempotency] [--json]
  --clients N        concurrent clients, 1-1000 (default 5)
  --iterations N     iterations per client, 1-1000000 (default 100, or unbounded with --duration)
  --duration S       stop starting iterations after S seconds (0.1-86400)
  --p P              probability of ordering a toy in stock, 0-1 (default 0.5)
  --url URL          frontend URL (default http://127.0.0.1:8000)
  --seed N           PRNG seed, integer 0-4294967295 (default: random, printed)
  --history FILE     write every operation (invoke / ok / fail / info) as JSON lines to FILE
  --no-idempotency   send no Idempotency-Key and never retry an order whose outcome is unknown
  --json             print the report as one JSON object
  -h, --help         show this help`;

export interface ClientArgs {
  url: string;
  clients: number;
  /** null: unbounded (only with a duration). */
  iterations: number | null;
  /** Seconds, or null. */
  duration: number | null;
  p: number;
  seed: number | undefined;
  history: string | null;
  idempotency: boolean;
  json: boolean;
  help: boolean;
}

export const DEFAULT_URL = 'http://127.0.0.1:8000';

const FLAGS = {
  clients: { type: 'string' },
  iterations: { type: 'string' },
  duration: { type: 'string' },
  p: { type: 'string' },
  url: { type: 'string' },
  seed: { type: 'string' },
  history: { type: 'string' },
  'no-idempotency': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * Parses and validates the CLI flags (argv without node and script); throws UsageError with a clear
 * message.
 */
export function parseClientArgs(argv: readonly string[]): ClientArgs {
  const values = parseFlags(argv, FLAGS);
  const clients = intFlag('clients', values.clients, 5, 1, 1000);
  const duration =
    values.duration === undefined
      ? null
      : numberFlag('duration', values.duration, 0, 0.1, 86_400, 'seconds');
  const iterations =
    values.iterations === undefined && duration !== null
      ? null
      : intFlag('iterations', values.iterations, 100, 1, 1_000_000);
  const p = numberFlag('p', values.p, 0.5, 0, 1);
  const seed =
    values.seed === undefined ? undefined : intFlag('seed', values.seed, 0, 0, 0xffffffff);
  const url = baseUrl(values.url ?? DEFAULT_URL);
  const history = values.history;
  if (history !== undefined && history.trim() === '')
    throw new UsageError('--history needs a file name');
  return {
    url,
    clients,
    iterations,
    duration,
    p,
    seed,
    history: history ?? null,
    idempotency: values['no-idempotency'] !== true,
    json: values.json === true,
    help: values.help === true,
  };
}

/** The frontend's base URL: http or https, without trailing slashes. */
function baseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, got '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new UsageError(`--url must be an http(s) URL, got '${url}'`);
  return url.replace(/\/+$/, '');
}
