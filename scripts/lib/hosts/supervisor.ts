/**
 * The supervisor: the part of the multi-host run that stays in the machine's own namespace. It
 * checks the machine can do it, builds the network (netns.ts), starts the controller inside the
 * `ctl` namespace, holds the run to its deadline, and tears everything down whatever happens.
 *
 * Teardown, in every way the run can end:
 * - normal end, or the controller failing: the network is destroyed (every process left in our
 *   namespaces SIGKILLed by PID, each namespace deleted, which takes its nft rules with it);
 * - SIGINT/SIGTERM: passed to the controller, which stops its clients and services gracefully;
 *   a second signal, or the deadline passing 15 s later, SIGKILLs it; then as above;
 * - the process exiting any other way: a synchronous `exit` handler does the same;
 * - the supervisor SIGKILLed: its controller sees its stdin close and stops the services (each
 *   also SIGTERMs itself when the controller's pipe closes); the namespaces are removed by the
 *   next run's `sweepStale`.
 * Afterwards it checks for leaks: none of our namespaces left, none of the run's PIDs alive, and
 * the machine's own nft ruleset as it was before the run.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, REPO_ROOT } from '../build/build.ts';
import {
  createNetwork,
  destroyNetworkSync,
  namespacesOf,
  sweepStale,
  whyNoNamespaces,
  type Network,
} from './netns.ts';
import { isAlive, signalPid } from './procs.ts';
import type { HostsReport, RunOptions } from './run.ts';
import { pipeLines } from '../cluster/index.ts';

export class NamespacesUnavailable extends Error {
  constructor(readonly why: string) {
    super(`the multi-host run cannot run on this machine: ${why}`);
    this.name = 'NamespacesUnavailable';
  }
}

export interface SupervisorOptions extends Omit<RunOptions, 'ownerPid' | 'distDir' | 'runDir'> {
  /** A built tree (npm run build) to run; default: build a fresh one into the run dir. */
  distDir?: string;
  keep: boolean;
  /** The whole run, setup and judging included, is stopped after this. */
  deadlineMs: number;
  signal?: AbortSignal;
}

export interface Teardown {
  namespacesLeft: string[];
  processesLeft: number[];
  killedAtTeardown: number;
  rootRulesetUnchanged: boolean;
}

export interface SupervisedReport {
  /** The PID the run's namespaces are named after (`tsh-<ownerPid>-<host>`). */
  ownerPid: number;
  report: HostsReport | null;
  teardown: Teardown;
  runDir: string | null;
  controllerExit: number | null;
  deadlineHit: boolean;
}

const CONTROLLER = fileURLToPath(new URL('./controller.ts', import.meta.url));
const rootRuleset = () => {
  try {
    return execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8', timeout: 10_000 });
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
};

export async function superviseRun(
  o: SupervisorOptions,
  say: (line: string) => void,
): Promise<SupervisedReport> {
  const why = await whyNoNamespaces();
  if (why) throw new NamespacesUnavailable(why);
  const swept = sweepStale();
  if (swept.length)
    say(
      `removed ${swept.length} namespaces left by an earlier run that was killed: ${swept.join(', ')}`,
    );
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-hosts-'));
  const rulesBefore = rootRuleset();
  let net: Network | null = null;
  let controllerPid = 0;
  const teardownSync = () => {
    signalPid(controllerPid, 'SIGKILL');
    return net ? destroyNetworkSync(net) : { killed: [], left: [] };
  };
  process.on('exit', teardownSync);
  let result: Omit<SupervisedReport, 'teardown' | 'runDir' | 'ownerPid'> = {
    report: null,
    controllerExit: null,
    deadlineHit: false,
  };
  let torn = { killed: [] as number[], left: [] as string[] };
  try {
    const distDir =
      o.distDir ??
      (say('building the services (npm run build) into the run dir'),
      (await build(path.join(runDir, 'dist'))).outDir);
    net = await createNetwork(process.pid);
    say(
      `network: ${net.namespaces().length} namespaces (${net.namespaces().join(', ')}) on a bridge of their own, 10.213.0.0/24`,
    );
    const runOptions: RunOptions = { ...o, ownerPid: process.pid, distDir, runDir };
    result = await runController(net, runOptions, o, say, (pid) => (controllerPid = pid));
  } finally {
    torn = teardownSync();
    process.off('exit', teardownSync);
  }
  const pids = [...(result.report?.pids ?? []), controllerPid].filter((p) => p > 0);
  const teardown: Teardown = {
    namespacesLeft: [...new Set([...torn.left, ...namespacesOf(process.pid)])],
    processesLeft: pids.filter(isAlive),
    killedAtTeardown: torn.killed.length,
    rootRulesetUnchanged: rootRuleset() === rulesBefore,
  };
  if (!o.keep) await fs.rm(runDir, { recursive: true, force: true });
  return { ownerPid: process.pid, ...result, teardown, runDir: o.keep ? runDir : null };
}

async function runController(
  net: Network,
  run: RunOptions,
  o: SupervisorOptions,
  say: (line: string) => void,
  onPid: (pid: number) => void,
): Promise<Omit<SupervisedReport, 'teardown' | 'runDir' | 'ownerPid'>> {
  const optionsFile = path.join(run.runDir, 'options.json');
  const reportFile = path.join(run.runDir, 'report.json');
  await fs.writeFile(optionsFile, JSON.stringify(run));
  const tsx = pathToFileURL(
    createRequire(path.join(REPO_ROOT, 'package.json')).resolve('tsx'),
  ).href;
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      net.ns('ctl'),
      process.execPath,
      '--import',
      tsx,
      CONTROLLER,
      optionsFile,
      reportFile,
    ],
    {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: os.tmpdir() },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  onPid(child.pid ?? 0);
  child.stdin.on('error', () => {});
  pipeLines(child.stdout, say);
  pipeLines(child.stderr, say);
  let deadlineHit = false;
  let signals = 0;
  const stopController = (why: string) => {
    signals++;
    say(signals === 1 ? `${why}: asking the controller to stop` : `${why}: killing the controller`);
    signalPid(child.pid ?? 0, signals === 1 ? 'SIGTERM' : 'SIGKILL');
  };
  const onSignal = (sig: string) => stopController(sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  o.signal?.addEventListener('abort', () => stopController('aborted'), { once: true });
  let lastResort: NodeJS.Timeout | undefined;
  const deadline = setTimeout(() => {
    deadlineHit = true;
    stopController(`deadline of ${o.deadlineMs / 1000} s passed`);
    lastResort = setTimeout(() => stopController('still running 15 s after the deadline'), 15_000);
  }, o.deadlineMs);
  try {
    const code = await new Promise<number | null>((resolve) => {
      child.once('close', (c) => resolve(c));
      child.once('error', () => resolve(null));
    });
    const report = await fs.readFile(reportFile, 'utf8').then(
      (t) => JSON.parse(t) as HostsReport,
      () => null,
    );
    return { report, controllerExit: code, deadlineHit };
  } finally {
    clearTimeout(deadline);
    clearTimeout(lastResort);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
