/**
 * The scenarios that need clusters of their own, run after the shared ones: catch-up of a
 * replica behind a long log, start-up with and without a million orders (under tsx and as the
 * production build), and group commit against one fdatasync per append. Each case is attempted
 * on its own and removes its data dir as soon as it is done (a synthesized 1M-order log is 65 MB).
 */
import fs from 'node:fs/promises';
import { build } from '../build/build.ts';
import { catchUp, catchUpCases } from './scenarios/catchup.ts';
import { measureGroupCommit } from './scenarios/group-commit.ts';
import { startup } from './scenarios/startup.ts';
import type { SuiteContext } from './suite-plan.ts';

export async function catchUps(ctx: SuiteContext): Promise<void> {
  ctx.results.catchUp = [];
  for (const c of catchUpCases(ctx.o.quick)) {
    await ctx.attempt(`catch-up on a ${c.logOrders}-order log`, async () => {
      const label = `catchup-${c.logOrders}`;
      const dir = await ctx.newDir(label);
      const rows = await catchUp(
        dir,
        c,
        ctx.start,
        ctx.clusterOptions({}, true),
        ctx.say,
        (what, pids) => ctx.profiler.name(`${label} ${what}`, pids),
      );
      ctx.results.catchUp!.push(...rows);
      await fs.rm(dir, { recursive: true, force: true });
    });
  }
}

export async function startups(ctx: SuiteContext): Promise<void> {
  ctx.results.startup = [];
  // The production build, compiled once into a temporary dir (never the repo's dist/).
  let built: string | null = null;
  await ctx.attempt('the production build for start-up', async () => {
    const dir = await ctx.newDir('startup-build');
    await build(dir);
    built = dir;
  });
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
  if (built) await fs.rm(built, { recursive: true, force: true });
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
