/**
 * CPU profiling of chosen time windows in processes whose command line we do not write (the
 * cluster launcher's services, the ceiling servers). `--cpu-prof` is not allowed in NODE_OPTIONS,
 * but `--import` is, so scripts/bench.ts `--profile` sets NODE_OPTIONS="--import <this file>"
 * and BENCH_CPU_PROF_DIR. Then:
 *  - SIGUSR2 starts V8's sampling profiler (1 ms interval, as --cpu-prof); the next SIGUSR2 stops
 *    it and writes `CPU.window.<pid>.0.<n>.cpuprofile` (n = 1, 2, ...) into BENCH_CPU_PROF_DIR;
 *  - with BENCH_CPU_PROF_FROM_START=1 the profiler runs from the start instead;
 *  - a profile still running when the process exits (graceful shutdown ends in process.exit) is
 *    written then.
 * The main thread's inspector session answers synchronously, which is what lets a signal handler
 * and the exit hook write the file at once. Plain JavaScript: it is loaded before tsx is.
 */
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  let running = false;
  let seq = 0;
  const start = () => {
    session.post('Profiler.start');
    running = true;
  };
  const stop = () => {
    running = false;
    session.post('Profiler.stop', (err, res) => {
      if (err || !res?.profile) return;
      seq++;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(
        path.join(dir, `CPU.window.${process.pid}.0.${seq}.cpuprofile`),
        JSON.stringify(res.profile),
      );
    });
  };
  if (process.env.BENCH_CPU_PROF_FROM_START === '1') start();
  process.on('SIGUSR2', () => (running ? stop() : start()));
  process.on('exit', () => {
    if (running) stop();
  });
}
