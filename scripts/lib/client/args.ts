/** The client CLI's flags: usage text and a parser that throws `UsageError` with a clear message. */
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

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

function intFlag(
  flag: string,
  raw: string | undefined,
  def: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw.trim()))
    throw new UsageError(`--${flag} must be an integer between ${min} and ${max}, got '${raw}'`);
  const n = Number(raw.trim());
  if (n < min || n > max)
    throw new UsageError(`--${flag} must be an integer between ${min} and ${max}, got ${raw}`);
  return n;
}

/** Parses and validates the CLI flags (argv without node and script); throws UsageError with a clear message. */
export function parseClientArgs(argv: readonly string[]): ClientArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
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
      },
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const str = (k: string) => values[k] as string | undefined;

  const clients = intFlag('clients', str('clients'), 5, 1, 1000);
  const rawDuration = str('duration');
  let duration: number | null = null;
  if (rawDuration !== undefined) {
    duration = rawDuration.trim() === '' ? NaN : Number(rawDuration);
    if (!Number.isFinite(duration) || duration < 0.1 || duration > 86_400)
      throw new UsageError(
        `--duration must be a number of seconds between 0.1 and 86400, got '${rawDuration}'`,
      );
  }
  const iterations =
    str('iterations') === undefined && duration !== null
      ? null
      : intFlag('iterations', str('iterations'), 100, 1, 1_000_000);
  const rawP = str('p');
  let p = 0.5;
  if (rawP !== undefined) {
    p = rawP.trim() === '' ? NaN : Number(rawP);
    if (!Number.isFinite(p) || p < 0 || p > 1)
      throw new UsageError(`--p must be a number between 0 and 1, got '${rawP}'`);
  }
  const seedRaw = str('seed');
  const seed = seedRaw === undefined ? undefined : intFlag('seed', seedRaw, 0, 0, 0xffffffff);

  const url = str('url') ?? DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, got '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new UsageError(`--url must be an http(s) URL, got '${url}'`);
  const history = str('history');
  if (history !== undefined && history.trim() === '')
    throw new UsageError('--history needs a file name');

  return {
    url: url.replace(/\/+$/, ''),
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
