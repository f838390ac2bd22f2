/**
 * Reads V8 CPU profiles (`node --cpu-prof` writes `*.cpuprofile`) and lists the functions with
 * the most self time: where a service spends its CPU. Used by scripts/bench.ts `--profile`,
 * and on its own:
 *
 *   npx tsx scripts/lib/bench/cpuprofile-top.ts <file.cpuprofile | dir> [--top 25]
 *
 * Lines are 1-based as V8 reports them for the code it ran; services run through tsx, whose
 * transformed code keeps most but not all line numbers of the .ts source, so for a function in
 * this repository the line of its declaration in the source is looked up by name as well.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface HotFunction {
  function: string;
  /** Repo-relative path for our code, package path for node_modules, `node:...` for Node internals. */
  file: string;
  line: number;
  selfMs: number;
  selfPercent: number;
}

export interface ProfileSummary {
  file: string;
  pid: number | null;
  /** 0: the main thread; others are workers (under tsx, 1 is its module loader thread). */
  thread: number;
  totalMs: number;
  /** Share of samples that were idle (waiting for I/O). */
  idlePercent: number;
  top: HotFunction[];
  /** Our own functions (this repository, not node_modules or Node) by inclusive time; `self*` fields hold the inclusive time here. */
  ours: HotFunction[];
}

/** A file of this repository's own code (not a dependency, not Node, not the bench itself). */
const isOurs = (f: string) => /^(frontend|order|catalog|shared)\/.*\.ts$/.test(f);

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function shortFile(url: string): string {
  if (!url) return '(native)';
  let p = url;
  if (p.startsWith('file://')) {
    try {
      p = fileURLToPath(p.split('?')[0]!);
    } catch {
      return url;
    }
  }
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) return p.slice(nm);
  if (p.startsWith(REPO_ROOT)) return path.relative(REPO_ROOT, p);
  return p;
}

const sourceCache = new Map<string, string[] | null>();
/** The 1-based line declaring `name` in one of our .ts files, if it can be found. */
async function declarationLine(file: string, name: string): Promise<number | null> {
  if (!name || name.startsWith('(') || file.startsWith('node') || file.includes('node_modules') || !file.endsWith('.ts')) return null;
  if (!sourceCache.has(file)) sourceCache.set(file, await fs.readFile(path.join(REPO_ROOT, file), 'utf8').then((s) => s.split('\n'), () => null));
  const lines = sourceCache.get(file);
  if (!lines) return null;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const decl = new RegExp(`(function\\*?\\s+${escaped}\\b|\\b${escaped}\\s*[(=:]|\\b(get|set|async)\\s+${escaped}\\s*\\()`);
  const i = lines.findIndex((l) => decl.test(l) && !/^\s*(\/\/|\*)/.test(l));
  return i >= 0 ? i + 1 : null;
}

export async function summarizeProfile(file: string, topN = 20): Promise<ProfileSummary> {
  const profile = JSON.parse(await fs.readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Samples under the profiling hook itself (scripts/lib/bench/cpu-profile-hook.mjs: starting the
  // profiler from a signal handler) are the measurement, not the service: left out, time included.
  const hookNodes = new Set<number>();
  const markHook = (id: number, inHook: boolean) => {
    const n = byId.get(id);
    if (!n) return;
    const here = inHook || n.callFrame.url.endsWith('cpu-profile-hook.mjs');
    if (here) hookNodes.add(id);
    for (const c of n.children ?? []) markHook(c, here);
  };
  if (profile.nodes[0]) markHook(profile.nodes[0].id, false);
  const selfUs = new Map<number, number>();
  let hookUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    if (hookNodes.has(id)) {
      hookUs += profile.timeDeltas[i] ?? 0;
      continue;
    }
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = Math.max(1, profile.endTime - profile.startTime - hookUs);
  const agg = new Map<string, { fn: string; file: string; line: number; us: number }>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const fn = n.callFrame.functionName || '(anonymous)';
    if (fn === '(idle)') {
      idleUs += us;
      continue;
    }
    const f = shortFile(n.callFrame.url);
    const key = `${fn}\0${f}\0${n.callFrame.lineNumber}`;
    const a = agg.get(key) ?? { fn, file: f, line: n.callFrame.lineNumber + 1, us: 0 };
    a.us += us;
    agg.set(key, a);
  }
  const sorted = [...agg.values()].sort((a, b) => b.us - a.us).slice(0, topN);
  const top: HotFunction[] = [];
  for (const a of sorted) {
    const line = (await declarationLine(a.file, a.fn)) ?? a.line;
    top.push({ function: a.fn, file: a.file, line, selfMs: Math.round(a.us / 100) / 10, selfPercent: Math.round((a.us / totalUs) * 1000) / 10 });
  }
  // Inclusive time (self + callees) of the functions in this repository's own files: which of
  // our code paths the self time above is spent under.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, { fn: string; file: string; line: number; us: number }>();
  for (const [id, us] of selfUs) {
    if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      const f = shortFile(cf.url);
      if (!isOurs(f)) continue;
      const fn = cf.functionName || '(anonymous)';
      const key = `${fn}\0${f}\0${cf.lineNumber}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const a = inclusive.get(key) ?? { fn, file: f, line: cf.lineNumber + 1, us: 0 };
      a.us += us;
      inclusive.set(key, a);
    }
  }
  const ours: HotFunction[] = [];
  for (const a of [...inclusive.values()].sort((x, y) => y.us - x.us).slice(0, topN)) {
    const line = (await declarationLine(a.file, a.fn)) ?? a.line;
    ours.push({ function: a.fn, file: a.file, line, selfMs: Math.round(a.us / 100) / 10, selfPercent: Math.round((a.us / totalUs) * 1000) / 10 });
  }
  const ids = /\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(path.basename(file));
  return { file, pid: ids ? Number(ids[1]) : null, thread: ids ? Number(ids[2]) : 0, totalMs: Math.round(totalUs / 1000), idlePercent: Math.round((idleUs / totalUs) * 1000) / 10, top, ours };
}

export async function profilesIn(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.cpuprofile')).map((n) => path.join(dir, n)).sort();
}

export function formatSummary(s: ProfileSummary, label = path.basename(s.file)): string {
  const lines = [`${label}: ${s.totalMs} ms profiled, ${s.idlePercent}% idle; top self time:`];
  for (const t of s.top) lines.push(`  ${String(t.selfPercent).padStart(5)}%  ${String(t.selfMs).padStart(8)} ms  ${t.function}  ${t.file}:${t.line}`);
  if (s.ours.length) {
    lines.push('  our code by inclusive time:');
    for (const t of s.ours) lines.push(`  ${String(t.selfPercent).padStart(5)}%  ${String(t.selfMs).padStart(8)} ms  ${t.function}  ${t.file}:${t.line}`);
  }
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '20' } } });
  if (positionals.length === 0) {
    console.error('usage: tsx scripts/lib/bench/cpuprofile-top.ts <file.cpuprofile | dir>... [--top N]');
    process.exit(2);
  }
  for (const p of positionals) {
    const files = (await fs.stat(p)).isDirectory() ? await profilesIn(p) : [p];
    for (const f of files) console.log(formatSummary(await summarizeProfile(f, Number(values.top))), '\n');
  }
}
