/**
 * How a tool's process ends, written once for every CLI that runs a job and stops: when `main`
 * settles, the process exits with its code, after stdout and stderr have taken what was written.
 *
 * Why not `process.exitCode` and let the event loop drain: a tool is done when its job is, not
 * when the runtime has closed every handle. After a chaos run, Node 20 sometimes spun at 100 % CPU
 * forever inside its exit-time handle cleanup (`Environment::CleanupHandles`, nodejs/node#47748)
 * with the summary already printed, and a socket or timer a library leaves open would hold it just
 * the same. Every process a tool started is stopped by PID inside `main` (the launcher), so
 * nothing is left behind by exiting here.
 *
 * A reader that goes away early (`npm run layout | head`) is not an error of the tool: EPIPE on
 * stdout ends it quietly with the code it would have had.
 */

/** Resolves once everything written to `stream` so far has been handed to the OS. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || !stream.writable) return Promise.resolve();
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * Runs `main` and exits with the code it returns. An exception is printed with the tool's name
 * and exits with `failedCode`.
 */
export function finish(name: string, main: () => Promise<number>, failedCode: number): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const exit = async (code: number) => {
    process.exitCode = code;
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
    process.exit(code);
  };
  main().then(exit, (err: unknown) => {
    console.error(
      `${name}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    return exit(failedCode);
  });
}
