/** Simulated power loss: cutting a durable file back to what its last fsync covered. */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ServiceName } from '../cluster/index.ts';

export type CutResult =
  /** Cut `bytes` (0: the file ended where the last fsync did). */
  | { kind: 'cut'; bytes: number }
  /** No file or no sidecar (nothing was ever fsynced, or tracking is off). */
  | { kind: 'absent' }
  /** The sidecar does not hold a number (e.g. killed mid-write of it): the file is left alone. */
  | { kind: 'unreadable'; text: string };

/** Cuts `file` back to the byte length recorded in `<file>.synced` (what the last fsync covered). */
export async function cutToSynced(file: string): Promise<CutResult> {
  let text: string;
  let size: number;
  try {
    text = await fs.readFile(`${file}.synced`, 'utf8');
    size = (await fs.stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err;
  }
  if (!/^\d+$/.test(text.trim())) return { kind: 'unreadable', text };
  const synced = Number(text.trim());
  if (synced >= size) return { kind: 'cut', bytes: 0 };
  await fs.truncate(file, synced);
  return { kind: 'cut', bytes: size - synced };
}

/** The durable files a service's power loss cuts back. */
export function durableFilesOf(dataDir: string, service: ServiceName): string[] {
  if (service === 'catalog') return [path.join(dataDir, 'catalog', 'ledger.csv')];
  if (service.startsWith('order-')) return [path.join(dataDir, service, 'orders.csv')];
  return [];
}
