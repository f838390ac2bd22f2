/**
 * The production build: compiles the services (catalog/, frontend/, order/, shared/) with tsc
 * (tsconfig.build.json) into an output directory, so each runs as `node <out>/<service>/main.js`
 * with no tsx and no TypeScript at run time.
 *
 * - The sources import `./x.ts`; tsc's `rewriteRelativeImportExtensions` (TypeScript 5.7+)
 *   rewrites them to `./x.js` in the output, so the code needs no change to run compiled.
 * - Files the services read at run time (the status page's HTML) are copied beside the compiled
 *   code: every file in a service directory that is not TypeScript is an asset.
 * - A `package.json` with `"type": "module"` is written into the output, so the ES modules run
 *   wherever the output is put (a container, a temp dir) and not only under this repository.
 *   Bare imports (hono, pino, ...) resolve from the nearest `node_modules` up the tree: the
 *   repository's for `dist/`, an installed copy in the Docker image.
 * - The output directory is emptied first, so no file of a deleted source lingers.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const BUILD_TSCONFIG = 'tsconfig.build.json';
/** The directories compiled, one per service plus what they share. */
export const BUILT_DIRS = ['catalog', 'frontend', 'order', 'shared'] as const;
/** The service entry points inside the output. */
export const SERVICE_ENTRIES = {
  catalog: 'catalog/main.js',
  order: 'order/main.js',
  frontend: 'frontend/main.js',
} as const;
export const DEFAULT_OUT_DIR = path.join(REPO_ROOT, 'dist');

export interface BuildResult {
  outDir: string;
  /** Compiled .js files written. */
  files: number;
  /** Assets copied, relative to the output. */
  assets: string[];
}

function runTsc(outDir: string): Promise<void> {
  const tsc = createRequire(path.join(REPO_ROOT, 'package.json')).resolve('typescript/bin/tsc');
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [tsc, '-p', path.join(REPO_ROOT, BUILD_TSCONFIG), '--outDir', outDir],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`tsc failed (exit ${code}):\n${output}`)),
    );
  });
}

async function copyAssets(outDir: string): Promise<string[]> {
  const copied: string[] = [];
  for (const dir of BUILT_DIRS) {
    for (const entry of await fs.readdir(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
      if (!entry.isFile() || entry.name.endsWith('.ts')) continue;
      const rel = path.join(dir, entry.name);
      await fs.mkdir(path.join(outDir, dir), { recursive: true });
      await fs.copyFile(path.join(REPO_ROOT, rel), path.join(outDir, rel));
      copied.push(rel);
    }
  }
  return copied;
}

async function countJs(dir: string): Promise<number> {
  let n = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile() && entry.name.endsWith('.js')) n++;
  return n;
}

/**
 * The output is emptied before each build: never a directory holding the repository or a source
 * directory.
 */
export function assertSafeOutDir(out: string): void {
  const holdsRepo = !path.relative(out, REPO_ROOT).startsWith('..');
  const isSource = ['', ...BUILT_DIRS, 'scripts', 'test'].some(
    (d) => out === path.join(REPO_ROOT, d).replace(/[\\/]$/, ''),
  );
  if (holdsRepo || isSource)
    throw new Error(`refusing to build into ${out}: emptying it would delete sources`);
}

/**
 * Builds into `outDir`. An output outside the repository cannot find the repository's
 * node_modules by walking up, so it gets a `node_modules` symlink to them.
 */
export async function build(outDir: string = DEFAULT_OUT_DIR): Promise<BuildResult> {
  const out = path.resolve(outDir);
  assertSafeOutDir(out);
  await fs.rm(out, { recursive: true, force: true });
  await runTsc(out);
  const assets = await copyAssets(out);
  await fs.writeFile(
    path.join(out, 'package.json'),
    `${JSON.stringify({ private: true, type: 'module' }, null, 2)}\n`,
  );
  const files = await countJs(out);
  if (path.relative(REPO_ROOT, out).startsWith('..'))
    await fs.symlink(path.join(REPO_ROOT, 'node_modules'), path.join(out, 'node_modules'), 'dir');
  return { outDir: out, files, assets };
}
