/**
 * One worker process of `npm run sim -- --jobs N` (runner.ts forks it): it receives its seeds
 * and the run options, runs them one after the other and sends each result back.
 */
import { runSimulation } from './simulation.ts';
import type { SimOptions } from './options.ts';

process.once('message', (m: { seeds: number[]; opts: Omit<SimOptions, 'seed'> }) => {
  void (async () => {
    for (const seed of m.seeds) {
      const { trace: _trace, ...r } = await runSimulation({ ...m.opts, seed });
      await new Promise<void>((resolve) => process.send!(r, () => resolve()));
    }
    process.disconnect();
  })();
});
