/**
 * What every entry point shows a person: `--help`, and one clear line instead of a stack trace
 * when the machine refuses what the configuration asks for.
 *
 * - `serviceConfig(service)` is the first statement of each service's main.ts: `--help` prints
 *   what the service is and every variable it reads (from the config table, shared/config.ts)
 *   and exits 0 before anything is read or opened; a stray argument is refused (exit 2); the
 *   config is loaded (every bad variable reported at once, exit 2); and operational errors are
 *   turned into one line (`describeOperationalError`).
 * - `variablesHelp(reader)` and `configTableMarkdown()` render the table for --help and the
 *   README, so the three cannot drift apart.
 * - `helpRequested(argv)` and `printHelp(text)` are the tools' side: their CLIs keep their own
 *   flag parsers and usage text, and say what they are in the first line.
 *
 * Operational errors are caught in `uncaughtExceptionMonitor`, which runs before Node prints an
 * uncaught error: a recognised one (a port in use, a HOST that does not resolve or is not this
 * machine's, a DATA_DIR that cannot be written) prints its line and exits with its code there;
 * anything else goes on to Node's usual report, stack included, because it is a bug to read.
 */
import {
  loadConfigOrExit,
  settingsReadBy,
  SETTING_LIST,
  type Config,
  type Reader,
  type Service,
  type Setting,
} from './config.ts';

/** Exit codes (sysexits.h) for what a person must fix outside the code. */
export const EXIT = { usage: 2, dataErr: 65, cantCreate: 73, config: 78 } as const;

const ABOUT: Record<Reader, { title: string; usage: string; exits: string }> = {
  catalog: {
    title:
      "the toy store's catalog: owns the stock in a durable ledger (DATA_DIR/catalog/), restocks sold-out toys and pushes cache invalidations to the frontends",
    usage: 'npm run catalog            (built: node dist/catalog/main.js)',
    exits:
      'Exit: 0 stopped cleanly (SIGTERM, Ctrl-C), 2 bad configuration, 65 damaged ledger or meta (npm run repair), 73 DATA_DIR not writable, 78 cannot listen.',
  },
  order: {
    title:
      'one order replica (ORDER_ID): keeps the replicated order log in DATA_DIR/order-<id>/, leads when elected, follows and catches up otherwise',
    usage: 'ORDER_ID=1 npm run order   (and 2, 3; built: ORDER_ID=1 node dist/order/main.js)',
    exits:
      'Exit: 0 stopped cleanly, 2 bad configuration or no ORDER_ID, 70 fatal replication error, 73 DATA_DIR not writable, 78 cannot listen.',
  },
  frontend: {
    title:
      "the toy store's frontend: the public REST API, an LRU cache of product lookups, leader election and order routing, the status page",
    usage: 'npm run frontend           (built: node dist/frontend/main.js)',
    exits: 'Exit: 0 stopped cleanly, 2 bad configuration, 78 cannot listen.',
  },
  start: {
    title:
      'runs the whole store on this machine: the catalog, order replicas 1-3 and the frontend, each its own process, and shows what they do',
    usage: 'npm start                  (npm start -- --help: this text)',
    exits:
      'Ctrl-C stops every service gracefully (your shell then reports 130); a second Ctrl-C kills what is left. Exit 1 when the store could not start, 2 bad configuration.',
  },
};

/** True when the arguments ask for help. */
export function helpRequested(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/**
 * A tool's refusal of its arguments, one line: `client: Unknown option '--x' (npm run client --
 * --help lists the flags)`. The usage text stays behind --help, so the reason is not buried.
 */
export function usageLine(name: string, command: string, message: string): string {
  return `${name}: ${message.split('\n')[0]} (${command} -- --help lists the flags)`;
}

/** Prints help text on stdout and exits 0. */
export function printHelp(text: string): never {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  process.exit(0);
}

/** A tool's help: `name: what it is` (wrapped), a blank line, then its own usage text. */
export function toolHelp(name: string, what: string, usage: string): string {
  return `${wrap(what, 100, '  ', `${name}: `)}\n\n${usage}`;
}

/**
 * Words wrapped to `width` columns; the first line starts with `first`, the others with `indent`.
 */
export function wrap(text: string, width: number, indent: string, first = ''): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else line = line ? `${line} ${word}` : (lines.length ? indent : first) + word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

const defaultOf = (s: Setting<unknown>) =>
  s.defaultText ?? (typeof s.default === 'string' ? s.default : '');
const typeOf = (s: Setting<unknown>) =>
  s.typeText ?? (typeof s.kind === 'function' ? '' : s.kind.type);
const READER_NAMES: Record<Reader, string> = {
  catalog: 'catalog',
  order: 'order',
  frontend: 'frontend',
  start: '`npm start`',
};
/** Who reads a setting, always in the same order. */
const readersOf = (s: Setting<unknown>) =>
  (Object.keys(READER_NAMES) as Reader[])
    .filter((r) => s.readBy.includes(r))
    .map((r) => READER_NAMES[r]);

/** The variables `reader` reads, two lines each: `NAME=default  type`, then what it means. */
export function variablesHelp(reader: Reader, width = 100): string {
  const NAME_WIDTH = 44;
  return settingsReadBy(reader)
    .map((s) => {
      const def = defaultOf(s).replace(/`/g, '');
      const head = `  ${def.startsWith('(') ? `${s.env} ${def}` : `${s.env}=${def}`}`;
      const typed =
        head.length < NAME_WIDTH
          ? `${head.padEnd(NAME_WIDTH)} ${typeOf(s)}`
          : `${head}\n${' '.repeat(NAME_WIDTH + 1)}${typeOf(s)}`;
      return `${typed}\n${wrap(s.meaning.replace(/`/g, ''), width, '      ', '      ')}`;
    })
    .join('\n');
}

/** --help of a service or of `npm start`. */
export function serviceHelp(reader: Reader): string {
  const about = ABOUT[reader];
  const vars =
    reader === 'start'
      ? 'It takes no flags. It reads these environment variables (shared/config.ts; an empty one counts as unset) and passes each on to the services that read it; the ports, URLs, ORDER_ID and DATA_DIR of each service it computes itself:'
      : 'It takes no flags. It reads these environment variables (shared/config.ts; an empty one counts as unset):';
  return [
    wrap(about.title, 100, '  ', `${reader === 'start' ? 'npm start' : reader}: `),
    '',
    `usage: ${about.usage}`,
    '',
    wrap(vars, 100, ''),
    '',
    variablesHelp(reader),
    '',
    wrap(about.exits, 100, ''),
    '',
  ].join('\n');
}

/** The README's configuration table. */
export function configTableMarkdown(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const rows = SETTING_LIST.map((s) => {
    const def = defaultOf(s);
    const shown = def.startsWith('(')
      ? def
      : `\`${def.replace(/ \(.*\)$/, '')}\`${def.match(/ \(.*\)$/)?.[0] ?? ''}`;
    return `| \`${s.env}\` | ${cell(shown)} | ${cell(typeOf(s))} | ${readersOf(s).join(', ')} | ${cell(s.meaning)} |`;
  });
  return [
    '| variable | default | type | read by | meaning |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/**
 * The first statement of a service's main.ts: `--help`, stray arguments, the config (every bad
 * variable at once, exit 2), and one-line operational errors from then on.
 */
export function serviceConfig(
  service: Service,
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): Config {
  if (helpRequested(argv)) printHelp(serviceHelp(service));
  if (argv.length > 0) {
    console.error(
      `${service}: unexpected argument ${JSON.stringify(argv[0])}: the service takes no flags, only environment variables (--help lists them)`,
    );
    process.exit(EXIT.usage);
  }
  const config = loadConfigOrExit(env, service);
  exitOnOperationalErrors(service, config);
  return config;
}

/** Installs the one-line report of operational errors (see the module comment). */
export function exitOnOperationalErrors(service: Service, config: Config): void {
  process.on('uncaughtExceptionMonitor', (err) => {
    const known = describeOperationalError(err, service, config);
    if (!known) return;
    process.stderr.write(`${known.line}\n`);
    process.exit(known.exitCode);
  });
}

interface SystemError extends Error {
  code?: string;
  syscall?: string;
  address?: string;
  port?: number;
  path?: string;
  hostname?: string;
}

const FS_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EISDIR: 'a directory is in the way of a file',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/** The variable that gave `service` the port it failed to listen on. */
function portVariable(service: Service, config: Config, port: number | undefined): string {
  if (service === 'order') return `ORDER_REPLICAS (the entry of replica ${config.orderId})`;
  if (service === 'catalog') return 'CATALOG_PORT';
  return port === config.frontendInternalPort ? 'FRONTEND_INTERNAL_PORT' : 'FRONTEND_PORT';
}

/** One line for an error a person fixes outside the code, or null for anything else (a bug). */
export function describeOperationalError(
  error: unknown,
  service: Service,
  config: Config,
): { line: string; exitCode: number } | null {
  const err = error as SystemError;
  if (!err || typeof err !== 'object' || typeof err.code !== 'string') return null;
  const where = `${err.address ?? config.host}:${err.port ?? '?'}`;
  if (err.syscall === 'listen') {
    const v = portVariable(service, config, err.port);
    if (err.code === 'EADDRINUSE')
      return {
        exitCode: EXIT.config,
        line: `${service}: cannot listen on ${where}: the port is in use (EADDRINUSE; another toystore running?). Set ${v} to a free port, or 0 for any`,
      };
    if (err.code === 'EADDRNOTAVAIL')
      return {
        exitCode: EXIT.config,
        line: `${service}: cannot listen on HOST=${config.host}: not an address of this machine (EADDRNOTAVAIL)`,
      };
    if (err.code === 'EACCES')
      return {
        exitCode: EXIT.config,
        line: `${service}: cannot listen on ${where}: permission denied (EACCES; ports below 1024 need privileges). Set ${v}`,
      };
  }
  if (
    err.syscall === 'getaddrinfo' &&
    (err.hostname === undefined || err.hostname === config.host)
  ) {
    return {
      exitCode: EXIT.config,
      line: `${service}: cannot listen on HOST=${config.host}: the name does not resolve (${err.code})`,
    };
  }
  const reason = FS_REASONS[err.code];
  if (
    reason &&
    typeof err.path === 'string' &&
    (service === 'catalog' || service === 'order') &&
    isUnder(err.path, config.dataDir)
  ) {
    return {
      exitCode: EXIT.cantCreate,
      line: `${service}: cannot write DATA_DIR=${config.dataDir}: ${err.syscall ?? 'open'} ${err.path}: ${reason} (${err.code})`,
    };
  }
  return null;
}

function isUnder(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}
