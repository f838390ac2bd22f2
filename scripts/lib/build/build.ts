/**
 * The production build: each service (catalog/, frontend/, order/) bundled by esbuild into one
 * ES module, `node <out>/<service>/main.js`, with no tsx and no TypeScript at run time.
 *
 * - **One file per service, dependencies included.** A replica that restarts loads one file
 *   instead of about 330 modules (its sources, hono, pino, zod, undici, prom-client): start-up
 *   is what a catching-up replica and a failover wait for, and module loading was the larger
 *   part of an empty replica's start (about 130 ms of 380 here, measured spawn to `listening`).
 *   esbuild does this job better than anything we would write: a well-kept bundler that already
 *   comes with tsx, so it adds no download.
 * - **Type-checked as before.** tsc (tsconfig.build.json, `--noEmit`) checks the same sources
 *   alongside, and a type error fails the build.
 * - Modules that still `require()` at run time (CommonJS inside dependencies, and pino-pretty,
 *   loaded only for the pretty format) get a `require` made with `createRequire` in each bundle's
 *   banner, and the output gets a `node_modules` link (or an installed copy beside it, in the
 *   Docker image) to find what is loaded that way.
 * - Files the services read at run time (the status page's HTML) are copied beside the bundles:
 *   every file in a service directory that is not TypeScript is an asset, and the code finds it
 *   relative to its bundle (`new URL('./x', import.meta.url)`, from a file of that service).
 * - A `package.json` with `"type": "module"` is written into the output, so the ES modules run
 *   wherever the output is put (a container, a temp dir) and not only under this repository.
 * - The output directory is emptied first, so no file of a deleted source lingers.
 */
import { spawn } from 'node:child_process';
import * as esbuild from 'esbuild';
import { createRequire } from 'node:module';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const BUILD_TSCONFIG = 'tsconfig.build.json';
/** The directories built, one per service plus what they share. */
export const BUILT_DIRS = ['catalog', 'frontend', 'order', 'shared'] as const;
/** The service entry points inside the output. */
export const SERVICE_ENTRIES = {
  catalog: 'catalog/main.js',
  order: 'order/main.js',
  frontend: 'frontend/main.js',
} as const;
export const DEFAULT_OUT_DIR = path.join(REPO_ROOT, 'dist');

/** The TypeScript source of a built entry, relative to the repository (`order/main.ts`). */
export const sourceEntryOf = (entry: string): string => entry.replace(/\.js$/, '.ts');

export interface BuildResult {
  outDir: string;
  /** JavaScript files written (one bundle per service). */
  files: number;
  /** Assets copied, relative to the output. */
  assets: string[];
}

/** Type-checks the sources the build bundles; rejects with tsc's output on any error. */
function typecheck(): Promise<void> {
  const tsc = createRequire(path.join(REPO_ROOT, 'package.json')).resolve('typescript/bin/tsc');
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [tsc, '-p', path.join(REPO_ROOT, BUILD_TSCONFIG), '--noEmit'],
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

/** A `require` for the CommonJS a bundle still loads at run time (see the module comment). */
const REQUIRE_BANNER =
  "import { createRequire as __toystoreRequire } from 'node:module'; const require = __toystoreRequire(import.meta.url);";

async function bundle(outDir: string): Promise<void> {
  await esbuild.build({
    entryPoints: Object.values(SERVICE_ENTRIES).map((entry) => ({
      in: path.join(REPO_ROOT, sourceEntryOf(entry)),
      out: entry.replace(/\.js$/, ''),
    })),
    outdir: outDir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    banner: { js: REQUIRE_BANNER },
    logLevel: 'silent',
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
  await Promise.all([typecheck(), bundle(out)]);
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
