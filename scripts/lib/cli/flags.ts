/**
 * What the tools' flag parsers share, written once: node:util's strict parseArgs with its refusal
 * turned into a `UsageError`, number flags checked against their bounds in one wording, and the
 * CLI's side of it (`toolArgs`): `--help` prints the tool's help and exits 0, a `UsageError`
 * prints one line (shared/cli.ts `usageLine`) and exits 2, before the tool opens or starts
 * anything.
 *
 * The parsers stay pure (they throw, the tests call them in-process); only `toolArgs` exits.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { printHelp, toolHelp, usageLine } from '../../../shared/cli.ts';

/** Flags a tool refuses: the message says which flag and what it must be. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `parseArgs` in strict mode without positionals; anything it refuses is a UsageError. */
export function parseFlags<O extends Options>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** A whole-number flag in [min, max]; `def` when it is absent. */
export function intFlag(
  flag: string,
  raw: string | undefined,
  def: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return def;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!(n >= min && n <= max))
    throw new UsageError(`--${flag} must be an integer between ${min} and ${max}, got '${raw}'`);
  return n;
}

/**
 * A number flag (fractions allowed) in [min, max], `def` when absent; `unit` names what it counts.
 */
export function numberFlag(
  flag: string,
  raw: string | undefined,
  def: number,
  min: number,
  max: number,
  unit?: string,
): number {
  if (raw === undefined) return def;
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(
      `--${flag} must be a number${unit ? ` of ${unit}` : ''} between ${min} and ${max}, got '${raw}'`,
    );
  return n;
}

/**
 * How a tool's CLI names itself: `npm run <name>`, what it is (its help's first line), its usage
 * text.
 */
export interface ToolCli {
  name: string;
  what: string;
  usage: string;
}

/**
 * The CLI's first step: the tool's flags parsed from `argv`. `--help` prints the help and exits 0;
 * a UsageError prints one line and exits 2 (anything else is a bug and propagates).
 */
export function toolArgs<A extends { help: boolean }>(
  cli: ToolCli,
  parse: (argv: readonly string[]) => A,
  argv: readonly string[] = process.argv.slice(2),
): A {
  let args: A;
  try {
    args = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(usageLine(cli.name, `npm run ${cli.name}`, err.message));
    process.exit(2);
  }
  if (args.help) printHelp(toolHelp(cli.name, cli.what, cli.usage));
  return args;
}
