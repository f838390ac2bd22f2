/**
 * Writes what people read from a run's results: results.json (everything), results.md and the
 * SVG plots, into one dir. `redraw` rebuilds the Markdown and the plots from a results.json
 * (after a change to the report's format), recomputing the targets from the figures.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { renderMarkdown } from './markdown.ts';
import { catchUpSpec, latencySpec, renderSvg, targetsSpec } from './plots.ts';
import { RESULTS_FORMAT, type BenchResults } from './results.ts';
import { evaluateTargets } from './targets.ts';
import { makeDirs } from './util.ts';

/** The files a complete run writes (CI checks for them). */
export const REPORT_FILES = [
  'results.json',
  'results.md',
  'latency-vs-p.svg',
  'throughput.svg',
  'catchup.svg',
] as const;

async function renderPlots(r: BenchResults): Promise<Array<[string, string]>> {
  const subtitle = `${r.commit.label}, ${r.machine.cores} cores (${r.machine.cpu}), ${r.mode} mode, load ${r.machine.loadAverage1m}`;
  const out: Array<[string, string]> = [];
  if (r.lab?.length) out.push(['latency-vs-p.svg', await renderSvg(latencySpec(r.lab, subtitle))]);
  const targets = targetsSpec(r, subtitle);
  if (targets) out.push(['throughput.svg', await renderSvg(targets)]);
  if (r.catchUp?.length)
    out.push(['catchup.svg', await renderSvg(catchUpSpec(r.catchUp, subtitle))]);
  return out;
}

/** Writes results.json, results.md and the plots into `dir`; returns the files written. */
export async function writeReport(
  r: BenchResults,
  dir: string,
  opts: { json?: boolean } = {},
): Promise<string[]> {
  await makeDirs(dir);
  const files: Array<[string, string]> = [];
  if (opts.json !== false) files.push(['results.json', `${JSON.stringify(r, null, 2)}\n`]);
  files.push(['results.md', `${renderMarkdown(r)}\n`], ...(await renderPlots(r)));
  for (const [name, content] of files) await fs.writeFile(path.join(dir, name), content);
  return files.map(([name]) => path.join(dir, name));
}

/** Rebuilds results.md and the plots beside `file`. Throws for a file of another format. */
export async function redraw(file: string): Promise<string[]> {
  const r = JSON.parse(await fs.readFile(file, 'utf8')) as BenchResults;
  if (r.format !== RESULTS_FORMAT)
    throw new Error(
      `${file} is in results format ${r.format ?? 1}, this bench draws format ${RESULTS_FORMAT}: run the bench again`,
    );
  return writeReport({ ...r, targets: evaluateTargets(r) }, path.dirname(file), { json: false });
}
