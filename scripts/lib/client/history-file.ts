/** A JSON-lines history file: one event per line, appended as the run goes. */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { HistorySink } from './types.ts';

export interface HistoryFile {
  readonly path: string;
  /** Appends one event as a JSON line. */
  write: HistorySink;
  /** Flushes and closes the file; rejects if any write failed. */
  close(): Promise<void>;
}

/** Opens (truncates) a JSON-lines history file. */
export async function openHistoryFile(file: string): Promise<HistoryFile> {
  const stream = createWriteStream(file, { flags: 'w' });
  let failure: Error | null = null;
  stream.on('error', (err) => (failure ??= err));
  await Promise.race([
    once(stream, 'open'),
    once(stream, 'error').then(([err]) => Promise.reject(err as Error)),
  ]);
  return {
    path: file,
    write: (event) => {
      if (!failure) stream.write(`${JSON.stringify(event)}\n`);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        stream.end(() => (failure ? reject(failure) : resolve()));
      }),
  };
}
