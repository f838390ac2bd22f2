/**
 * Child output: a line splitter for the children's stdout/stderr, and the default printer that
 * prefixes each line with the service's name (coloured on a terminal): what the tests and tools
 * that launch a cluster see. `npm start` shows a person more selectively (console.ts).
 */
import { SERVICE_NAMES, type ServiceName } from './types.ts';

export const SERVICE_COLORS: Record<ServiceName | 'start', string> = {
  catalog: '\x1b[36m',
  'order-1': '\x1b[32m',
  'order-2': '\x1b[33m',
  'order-3': '\x1b[35m',
  frontend: '\x1b[34m',
  start: '\x1b[1m',
};
const NAME_WIDTH = Math.max(...SERVICE_NAMES.map((s) => s.length));
/** Width of a `[service]` tag, padded so that lines of every service align. */
export const TAG_WIDTH = NAME_WIDTH + 2;

/** `[order-2]  line` on stdout, the prefix colored per service when stdout is a terminal. */
export function prefixedOutput(
  color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
): (service: ServiceName, line: string) => void {
  return (service, line) => {
    const tag = `[${service}]`.padEnd(TAG_WIDTH);
    process.stdout.write(
      color ? `${SERVICE_COLORS[service]}${tag}\x1b[0m ${line}\n` : `${tag} ${line}\n`,
    );
  };
}

/** Splits a stream into lines (a last line without newline is delivered at the end). */
export function pipeLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i).replace(/\r$/, ''));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => {
    if (buf) onLine(buf);
    buf = '';
  });
}
