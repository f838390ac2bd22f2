/**
 * Shared by the observability tests: a pino logger whose lines are kept in memory as parsed
 * objects, and a fetch twin that records every request it is sent.
 */
import { createLogger, type Logger } from '../../shared/logger.ts';
import type { LogLevel } from '../../shared/config.ts';

export interface LogLine {
  level: number;
  msg: string;
  service: string;
  reqId?: string;
  [field: string]: unknown;
}

export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** A JSON logger writing into `lines`. */
export function memoryLogger(
  service = 'test',
  level: LogLevel = 'debug',
): { logger: Logger; lines: LogLine[]; raw: string[] } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const logger = createLogger(service, {
    level,
    format: 'json',
    destination: {
      write(chunk: string) {
        for (const line of chunk.split('\n').filter(Boolean)) {
          raw.push(line);
          lines.push(JSON.parse(line) as LogLine);
        }
      },
    },
  });
  return { logger, lines, raw };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/**
 * A fetch-shaped handler that records requests and answers with `answer` (default: 200
 * `{"data":{}}`).
 */
export function recordingFetch(
  answer: (req: Request) => Response | Promise<Response> = () => Response.json({ data: {} }),
) {
  const seen: RecordedRequest[] = [];
  const fetchFn = async (req: Request) => {
    seen.push({
      method: req.method,
      url: req.url,
      headers: Object.fromEntries(req.headers.entries()),
    });
    return answer(req);
  };
  return { seen, fetchFn };
}
