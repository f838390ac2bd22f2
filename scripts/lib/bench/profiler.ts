/**
 * `--profile DIR`: CPU profiles of chosen time windows in processes whose command line the bench
 * does not write (the launcher's services, the ceilings). The services get
 * `NODE_OPTIONS=--import cpu-profile-hook.mjs`; SIGUSR2 starts and stops V8's profiler in each
 * (see the hook), and each window's profiles are moved into their own dir, named after the
 * window, then summarized (hottest functions per process) into the results.
 *
 * Without a dir every method is a no-op (`window` just runs its function).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  formatSummary,
  profilesIn,
  summarizeProfile,
  type ProfileSummary,
} from './cpuprofile-top.ts';
import type { Pids } from './procfs.ts';
import { REPO_ROOT, sleep, type Say } from './util.ts';

export interface ProfileEntry {
  label: string;
  service: string;
  summary: ProfileSummary;
}

export class Profiler {
  private readonly raw: string;
  /** pid -> what it is, to name its profiles. */
  private readonly names = new Map<number, string>();
  /** Profile dir name -> the window's name as the results show it. */
  private readonly windowNames = new Map<string, string>([['raw', 'whole life']]);
  /** Windows each pid has written so far (the hook numbers them 1, 2, ...). */
  private readonly written = new Map<number, number>();

  constructor(readonly dir: string | null) {
    this.raw = dir ? path.join(dir, 'raw') : '';
  }

  /** Environment that loads the hook into a process (`fromStart`: profile from its first line). */
  env(fromStart = false): Record<string, string> {
    if (!this.dir) return {};
    // --cpu-prof is not allowed in NODE_OPTIONS; the hook runs the same profiler from inside.
    return {
      NODE_OPTIONS: `--import ${pathToFileURL(path.join(REPO_ROOT, 'scripts/lib/bench/cpu-profile-hook.mjs')).href}`,
      BENCH_CPU_PROF_DIR: this.raw,
      ...(fromStart && { BENCH_CPU_PROF_FROM_START: '1' }),
    };
  }

  /**
   * `node --cpu-prof` arguments for a process the bench spawns itself, whole life, into
   * `<dir>/<name>`.
   */
  nodeArgs(name: string): string[] {
    return this.dir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(this.dir, name)}`] : [];
  }

  name(label: string, pids: Pids): void {
    for (const [service, pid] of Object.entries(pids))
      if (pid !== null) this.names.set(pid, `${label} / ${service}`);
  }

  /** Profiles `pids` while `fn` runs; their profiles end up in <dir>/<window>/. */
  async window<T>(window: string, pids: Pids, fn: () => Promise<T>): Promise<T> {
    if (!this.dir) return fn();
    const targets = Object.values(pids).filter((p): p is number => p !== null);
    this.signal(targets);
    await sleep(20);
    try {
      return await fn();
    } finally {
      this.signal(targets);
      await this.collect(window, targets);
    }
  }

  private signal(pids: number[]): void {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGUSR2');
      } catch {
        // gone
      }
    }
  }

  private async collect(window: string, pids: number[]): Promise<void> {
    const dirName = window.replace(/[^\w.-]+/g, '_');
    this.windowNames.set(dirName, window);
    const dest = path.join(this.dir!, dirName);
    await fs.mkdir(dest, { recursive: true });
    for (const pid of pids) {
      const n = (this.written.get(pid) ?? 0) + 1;
      this.written.set(pid, n);
      const name = `CPU.window.${pid}.0.${n}.cpuprofile`;
      for (let i = 0; i < 200; i++) {
        if (
          await fs.rename(path.join(this.raw, name), path.join(dest, name)).then(
            () => true,
            () => false,
          )
        )
          break;
        await sleep(25);
      }
    }
  }

  /** Every profile written, summarized (and printed). */
  async summarize(say: Say): Promise<ProfileEntry[] | undefined> {
    if (!this.dir) return undefined;
    const entries: ProfileEntry[] = [];
    for (const window of (await fs.readdir(this.dir).catch(() => [] as string[])).sort()) {
      for (const file of await profilesIn(path.join(this.dir, window))) {
        const summary = await summarizeProfile(file, 20);
        const startup = window.startsWith('startup');
        // tsx's loader thread only matters for start-up (it compiles the TypeScript).
        if (summary.thread !== 0 && !startup) continue;
        const named = summary.pid !== null ? this.names.get(summary.pid) : undefined;
        const service =
          (named ?? (startup ? 'order-1' : `pid ${summary.pid}`)) +
          (summary.thread ? ' (tsx loader thread)' : '');
        const label = this.windowNames.get(window) ?? window;
        entries.push({ label, service, summary });
        say(formatSummary(summary, `${label} / ${service}`));
      }
    }
    say(
      `profiles in ${this.dir} (open them in Chrome DevTools > Performance, or: npm run bench -- --profile-top <file or dir>)`,
    );
    return entries;
  }
}
