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

/** A fresh temporary dir under the OS temp dir. */
export function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `toystore-bench-${prefix}-`));
}

export type Say = (msg: string) => void;
