/**
 * The scenarios that need clusters of their own, run after the shared ones: catch-up of a
 * replica behind a long log (on the production build), start-up with and without a million
 * orders (under tsx and as the production build), and group commit against one fdatasync per
 * append. Each case is attempted on its own and removes its data dir as soon as it is done (a
 * synthesized 1M-order log is 65 MB). The production build is compiled once per run, by whichever
 * of catch-up and start-up asks first (`SuiteContext.productionBuild`), and removed with the
 * run's other temporary dirs.
 */
import fs from 'node:fs/promises';
import { build } from '../build/build.ts';
import { catchUp, catchUpCases } from './scenarios/catchup.ts';
import { measureGroupCommit } from './scenarios/group-commit.ts';
import { startup } from './scenarios/startup.ts';
import type { SuiteContext } from './suite-plan.ts';

/** The run's production build: its dir, or null and why not. */
export type ProductionBuild = { dir: string; error?: undefined } | { dir: null; error: string };

/**
 * Compiles the production build into a temporary dir of the run (never the repo's dist/). A
 * failure is recorded like any other and returned, so each scenario can fall back to tsx and say
 * so.
 */
export async function buildForRun(ctx: SuiteContext): Promise<ProductionBuild> {
  let result: ProductionBuild = { dir: null, error: 'not attempted' };
  await ctx.attempt('the production build', async () => {
    const dir = await ctx.newDir('build');
    const t0 = performance.now();
    try {
      await build(dir);
    } catch (err) {
      result = { dir: null, error: (err as Error).message.split('\n')[0]! };
      throw err;
    }
    result = { dir };
    ctx.say(`production build in ${dir} (${Math.round(performance.now() - t0)} ms)`);
  });
  return result;
}

export async function catchUps(ctx: SuiteContext): Promise<void> {
  ctx.results.catchUp = [];
  const built = await ctx.productionBuild();
  if (built.dir === null)
    ctx.say(`  catch-up runs under tsx: the production build failed (${built.error})`);
  for (const c of catchUpCases(ctx.o.quick)) {
    await ctx.attempt(`catch-up on a ${c.logOrders}-order log`, async () => {
      const label = `catchup-${c.logOrders}`;
      const dir = await ctx.newDir(label);
      const rows = await catchUp(
        dir,
        c,
        ctx.start,
        { ...ctx.clusterOptions({}, true), ...(built.dir && { builtDir: built.dir }) },
        ctx.say,
        (what, pids) => ctx.profiler.name(`${label} ${what}`, pids),
      );
      ctx.results.catchUp!.push(
        ...rows.map((r) => (built.dir === null ? { ...r, buildError: built.error } : r)),
      );
      await fs.rm(dir, { recursive: true, force: true });
    });
  }
}

export async function startups(ctx: SuiteContext): Promise<void> {
  ctx.results.startup = [];
  const built = (await ctx.productionBuild()).dir;
  for (const runtime of built ? [null, built] : [null]) {
    for (const n of [0, 1_000_000]) {
      await ctx.attempt(`start-up with ${n} orders`, async () => {
        const dir = await ctx.newDir(`startup-${n}`);
        ctx.results.startup!.push(
          await startup(
            dir,
            n,
            ctx.profiler.nodeArgs(`startup-${n}${runtime ? '-node' : ''}`),
            ctx.say,
            runtime,
          ),
        );
        await fs.rm(dir, { recursive: true, force: true });
      });
    }
  }
}

export async function groupCommit(ctx: SuiteContext): Promise<void> {
  const clusterFor = async (label: string) => ({
    ...ctx.clusterOptions(),
    dataDir: await ctx.newDir(label),
  });
  const r = await measureGroupCommit(32, ctx.o.quick ? 2 : 5, ctx.start, clusterFor);
  ctx.results.groupCommit = r;
  ctx.say(
    `  group commit: ${r.batched.ordersPerSecond} orders/s batched vs ${r.single.ordersPerSecond} with one fdatasync per append (${r.ratio}x), ${r.clients} clients`,
  );
}
