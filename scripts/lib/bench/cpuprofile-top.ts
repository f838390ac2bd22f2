/**
 * Reads V8 CPU profiles (`node --cpu-prof` writes `*.cpuprofile`) and lists the functions with
 * the most self time: where a service spends its CPU. Used by the bench's `--profile`, and on
 * saved profiles: `npm run bench -- --profile-top <file.cpuprofile | dir>`.
 *
 * Lines are 1-based as V8 reports them for the code it ran; services run through tsx, whose
 * transformed code keeps most but not all line numbers of the .ts source, so for a function in
 * this repository the line of its declaration in the source is looked up by name as well.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './util.ts';

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
  /**
   * Repo-relative path for our code, package path for node_modules, `node:...` for Node internals.
   */
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
  /**
   * Our own functions (this repository, not node_modules or Node) by inclusive time; `self*` fields
   * hold the inclusive time here.
   */
  ours: HotFunction[];
}

/** A file of this repository's own code (not a dependency, not Node, not the bench itself). */
const isOurs = (f: string) => /^(frontend|order|catalog|shared)\/.*\.ts$/.test(f);

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
  if (
    !name ||
    name.startsWith('(') ||
    file.startsWith('node') ||
    file.includes('node_modules') ||
    !file.endsWith('.ts')
  )
    return null;
  if (!sourceCache.has(file))
    sourceCache.set(
      file,
      await fs.readFile(path.join(REPO_ROOT, file), 'utf8').then(
        (s) => s.split('\n'),
        () => null,
      ),
    );
  const lines = sourceCache.get(file);
  if (!lines) return null;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const decl = new RegExp(
    `(function\\*?\\s+${escaped}\\b|\\b${escaped}\\s*[(=:]|\\b(get|set|async)\\s+${escaped}\\s*\\()`,
  );
  const i = lines.findIndex((l) => decl.test(l) && !/^\s*(\/\/|\*)/.test(l));
  return i >= 0 ? i + 1 : null;
}

type Agg = { fn: string; file: string; line: number; us: number };

/** Nodes under the profiling hook itself (cpu-profile-hook.mjs: starting the profiler from a
 * signal handler): the measurement, not the service. */
function hookNodes(profile: CpuProfile, byId: Map<number, ProfileNode>): Set<number> {
  const nodes = new Set<number>();
  const mark = (id: number, inHook: boolean) => {
    const n = byId.get(id);
    if (!n) return;
    const here = inHook || n.callFrame.url.endsWith('cpu-profile-hook.mjs');
    if (here) nodes.add(id);
    for (const c of n.children ?? []) mark(c, here);
  };
  if (profile.nodes[0]) mark(profile.nodes[0].id, false);
  return nodes;
}

/** Self time per node, µs, leaving the hook's samples out (their time is reported apart). */
function selfTimes(
  profile: CpuProfile,
  hook: Set<number>,
): { selfUs: Map<number, number>; hookUs: number } {
  const selfUs = new Map<number, number>();
  let hookUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const dt = profile.timeDeltas[i] ?? 0;
    if (hook.has(id)) hookUs += dt;
    else selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  return { selfUs, hookUs };
}

function addTo(
  agg: Map<string, Agg>,
  cf: ProfileNode['callFrame'],
  file: string,
  us: number,
): void {
  const fn = cf.functionName || '(anonymous)';
  const key = `${fn}\0${file}\0${cf.lineNumber}`;
  const a = agg.get(key) ?? { fn, file, line: cf.lineNumber + 1, us: 0 };
  a.us += us;
  agg.set(key, a);
}

/** Self time aggregated per function, and the idle share. */
function bySelf(
  selfUs: Map<number, number>,
  byId: Map<number, ProfileNode>,
): { agg: Map<string, Agg>; idleUs: number } {
  const agg = new Map<string, Agg>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    if (n.callFrame.functionName === '(idle)') idleUs += us;
    else addTo(agg, n.callFrame, shortFile(n.callFrame.url), us);
  }
  return { agg, idleUs };
}

/**
 * Inclusive time (self + callees) of this repository's own functions: which of our code paths the
 * self time is under.
 */
function inclusiveOurs(
  profile: CpuProfile,
  selfUs: Map<number, number>,
  byId: Map<number, ProfileNode>,
): Map<string, Agg> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, Agg>();
  for (const [id, us] of selfUs) {
    if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      const f = shortFile(cf.url);
      const key = `${cf.functionName}\0${f}\0${cf.lineNumber}`;
      if (!isOurs(f) || seen.has(key)) continue;
      seen.add(key);
      addTo(inclusive, cf, f, us);
    }
  }
  return inclusive;
}

async function hottest(
  agg: Map<string, Agg>,
  topN: number,
  totalUs: number,
): Promise<HotFunction[]> {
  const out: HotFunction[] = [];
  for (const a of [...agg.values()].sort((x, y) => y.us - x.us).slice(0, topN)) {
    const line = (await declarationLine(a.file, a.fn)) ?? a.line;
    out.push({
      function: a.fn,
      file: a.file,
      line,
      selfMs: Math.round(a.us / 100) / 10,
      selfPercent: Math.round((a.us / totalUs) * 1000) / 10,
    });
  }
  return out;
}

export async function summarizeProfile(file: string, topN = 20): Promise<ProfileSummary> {
  const profile = JSON.parse(await fs.readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const { selfUs, hookUs } = selfTimes(profile, hookNodes(profile, byId));
  const totalUs = Math.max(1, profile.endTime - profile.startTime - hookUs);
  const { agg, idleUs } = bySelf(selfUs, byId);
  const ids = /\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(path.basename(file));
  return {
    file,
    pid: ids ? Number(ids[1]) : null,
    thread: ids ? Number(ids[2]) : 0,
    totalMs: Math.round(totalUs / 1000),
    idlePercent: Math.round((idleUs / totalUs) * 1000) / 10,
    top: await hottest(agg, topN, totalUs),
    ours: await hottest(inclusiveOurs(profile, selfUs, byId), topN, totalUs),
  };
}

export async function profilesIn(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => n.endsWith('.cpuprofile'))
    .map((n) => path.join(dir, n))
    .sort();
}

export function formatSummary(s: ProfileSummary, label = path.basename(s.file)): string {
  const lines = [`${label}: ${s.totalMs} ms profiled, ${s.idlePercent}% idle; top self time:`];
  for (const t of s.top)
    lines.push(
      `  ${String(t.selfPercent).padStart(5)}%  ${String(t.selfMs).padStart(8)} ms  ${t.function}  ${t.file}:${t.line}`,
    );
  if (s.ours.length) {
    lines.push('  our code by inclusive time:');
    for (const t of s.ours)
      lines.push(
        `  ${String(t.selfPercent).padStart(5)}%  ${String(t.selfMs).padStart(8)} ms  ${t.function}  ${t.file}:${t.line}`,
      );
  }
  return lines.join('\n');
}

/**
 * Summaries of each profile in `paths` (files or dirs of them), for `npm run bench --
 * --profile-top`.
 */
export async function summarizePaths(paths: readonly string[], topN = 20): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const files = (await fs.stat(p)).isDirectory() ? await profilesIn(p) : [p];
    for (const f of files) out.push(formatSummary(await summarizeProfile(f, topN)));
  }
  return out;
}
