/**
 * Listening and graceful shutdown, shared by every `main.ts`.
 *
 * Servers bind 127.0.0.1 unless configured otherwise and keep idle keep-alive sockets longer than
 * our clients do (clients close theirs first, so a reused socket is never closed under a request).
 * On SIGTERM/SIGINT: stop accepting, let in-flight requests finish, run the service's own cleanup
 * (flush, fsync), and exit 0 — or exit 1 if the deadline passes first.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

export const SERVER_KEEP_ALIVE_TIMEOUT_MS = 5_000;

export interface Listening {
  port: number;
  url: string;
  close(graceMs?: number): Promise<void>;
}

export function listen(fetch: (req: Request) => Response | Promise<Response>, host: string, port: number): Promise<Listening> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    const onError = (err: Error) => reject(err);
    server = serve({ fetch, hostname: host, port }, (info: AddressInfo) => {
      server.off('error', onError);
      const http = server as Server;
      http.keepAliveTimeout = SERVER_KEEP_ALIVE_TIMEOUT_MS;
      resolve({
        port: info.port,
        url: `http://${host}:${info.port}`,
        // Stop accepting, let in-flight requests finish, and close each keep-alive socket as soon
        // as it goes idle (not only those idle right now); after the grace period, close the rest.
        close: (graceMs = 2_000) =>
          new Promise<void>((done) => {
            const sweep = setInterval(() => http.closeIdleConnections(), 20);
            const cutoff = setTimeout(() => http.closeAllConnections(), graceMs);
            http.close(() => {
              clearInterval(sweep);
              clearTimeout(cutoff);
              done();
            });
            http.closeIdleConnections();
          }),
      });
    });
    server.once('error', onError);
  });
}

/** Where onShutdownSignal reports (a pino logger fits); the default is the console. */
export interface ShutdownLog {
  info(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

const consoleShutdownLog: ShutdownLog = {
  info: (_fields, msg) => console.log(msg),
  error: (fields, msg) => (fields.err ? console.error(msg, fields.err) : console.error(msg)),
};

/** Runs `stop` once on SIGTERM/SIGINT and exits; a stuck stop is cut off at the deadline. */
export function onShutdownSignal(service: string, stop: () => Promise<void>, deadlineMs = 5_000, log: ShutdownLog = consoleShutdownLog): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const started = performance.now();
    log.info({ event: 'shutdown', signal, deadlineMs }, `${service}: ${signal}, shutting down`);
    const timer = setTimeout(() => {
      log.error({ event: 'shutdown_timeout', deadlineMs }, `${service}: shutdown took longer than ${deadlineMs} ms, exiting`);
      process.exit(1);
    }, deadlineMs);
    // Deliberately not unref'd: it also keeps the process alive while `stop` waits on work that
    // holds no handle of its own (an unref'd timer before a last write). Otherwise Node exits
    // with code 0 the moment the event loop looks empty, in the middle of the cleanup.
    void timer;
    stop().then(
      async () => {
        log.info({ event: 'stopped', ms: Math.round(performance.now() - started) }, `${service}: stopped cleanly`);
        await flushStdio(Math.max(0, deadlineMs - (performance.now() - started)));
        process.exit(0);
      },
      async (err) => {
        log.error({ event: 'shutdown_failed', err }, `${service}: error during shutdown`);
        process.exitCode = 1;
        await flushStdio(Math.max(0, deadlineMs - (performance.now() - started)));
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}

/**
 * Resolves once what was written to stdout and stderr has left the process (or after
 * `timeoutMs`). A write to a pipe whose reader is slow is queued, and process.exit() drops the
 * queue: without this, a service's last log lines could go missing exactly when the machine is busy.
 */
export function flushStdio(timeoutMs = 1_000): Promise<void> {
  const flushOne = (stream: NodeJS.WriteStream) =>
    new Promise<void>((resolve) => {
      if (stream.writableLength === 0 || stream.destroyed) return resolve();
      stream.write('', () => resolve());
    });
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    void Promise.all([flushOne(process.stdout), flushOne(process.stderr)]).then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
