/**
 * Small helpers every part of the bench uses: sleeping, rounding, a median, a temporary dir, the
 * repository root. Kept apart so the measuring code and the reporting code share one of each.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

/** The lower median (an observed value, never an average of two). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  return [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
}

/** The q-quantile (0..1) of values sorted ascending; NaN for none. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * `mkdir -p` one level at a time. Node 20's `mkdir(..., { recursive: true })` spins forever when
 * the kernel answers ENOENT for a dir whose parent exists (e.g. under /proc); this throws instead.
 */
export async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const exists = await fs.stat(d).then(
      (s) =>
        s.isDirectory() ||
        Promise.reject(Object.assign(new Error(`${d} is not a directory`), { code: 'ENOTDIR' })),
      (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? false : Promise.reject(err)),
    );
    if (exists) break;
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing)
    await fs
      .mkdir(d)
      .catch((err: NodeJS.ErrnoException) =>
        err.code === 'EEXIST' ? undefined : Promise.reject(err),
      );
}

/** A fresh temporary dir under the OS temp dir. */
export function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `toystore-bench-${prefix}-`));
}

export type Say = (msg: string) => void;
