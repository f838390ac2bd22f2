/**
 * The store on seven network-namespace hosts, for real: a short `npm run cluster:hosts --quick`
 * (one round of every fault kind: replica kills, a frontend killed under load, partitions and
 * random loss as packet drops, delay through the fault proxies) from a build made once for this
 * file. It must end with no violation (the checker over every replica's data and the clients'
 * histories, logs byte-identical), every fault measured, and nothing left behind: no namespace,
 * no process, and the machine's own nft ruleset as it was.
 *
 * It needs root and working `ip netns` (CI has both). Where the machine cannot, it says so out
 * loud and checks instead that the run refuses clearly (exit 3, the reason) and creates nothing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, REPO_ROOT } from '../../scripts/lib/build/build.ts';
import { listNamespaces, NS_PREFIX, whyNoNamespaces } from '../../scripts/lib/hosts/netns.ts';
import { isAlive } from '../../scripts/lib/hosts/procs.ts';
import { FAULT_KINDS } from '../../scripts/lib/hosts/schedule.ts';
import type { SupervisedReport } from '../../scripts/lib/hosts/supervisor.ts';

const RUN_DEADLINE_MS = 200_000;
let why: string | null = null;
let tmp = '';
let dist = '';

/**
 * Runs the CLI as its own process (so its PID is the supervisor's); `onProgress` sees its progress
 * output as it comes.
 */
function runCli(
  args: string[],
  onProgress: (soFar: string, child: ChildProcess) => void = () => {},
): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
  const tsx = pathToFileURL(
    createRequire(path.join(REPO_ROOT, 'package.json')).resolve('tsx'),
  ).href;
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', tsx, path.join(REPO_ROOT, 'scripts', 'cluster-hosts.ts'), ...args],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onProgress(stderr, child);
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), RUN_DEADLINE_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, pid: child.pid ?? 0 });
    });
  });
}

const rootRuleset = () => {
  try {
    return execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8' });
  } catch {
    return null;
  }
};

beforeAll(async () => {
  why = await whyNoNamespaces();
  if (why) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-hosts-test-'));
  dist = (await build(path.join(tmp, 'dist'))).outDir;
}, 120_000);

afterAll(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('npm run cluster:hosts --quick', () => {
  it(
    'runs the store on its own hosts through every fault, judges it clean, and leaves nothing behind',
    async (ctx) => {
      if (why) {
        console.warn(
          `\n*** multi-host run NOT exercised on this machine: ${why}.\n*** Checking only that it refuses clearly; CI (root) runs it for real.\n`,
        );
        const before = listNamespaces();
        const r = await runCli(['--quick']);
        expect(r.code).toBe(3);
        expect(r.stderr).toContain('cannot run on this machine');
        expect(listNamespaces()).toEqual(before);
        ctx.annotate?.(`not run: ${why}`);
        return;
      }
      const rulesBefore = rootRuleset();
      const r = await runCli(['--quick', '--json', '--seed', '11', '--dist', dist]);
      const result = JSON.parse(r.stdout) as SupervisedReport;
      const report = result.report!;
      const failure = `${r.stderr.split('\n').slice(-40).join('\n')}\n${report?.violations.join('\n')}`;
      expect(result.ownerPid, 'the supervisor is the process we started').toBe(r.pid);
      expect(report, failure).not.toBeNull();
      expect(report.violations, failure).toEqual([]);
      expect(report.logsIdentical).toBe(true);
      expect(report.check).toMatch(/0 violations/);
      expect(r.code, failure).toBe(0);

      // Every kind of fault happened and was measured; the figures the issue asks for are there.
      expect(report.faults.map((f) => f.kind).sort()).toEqual([...FAULT_KINDS].sort());
      expect(report.errorsWhen.frontendKilled.faults).toBe(1);
      expect(report.errorsWhen.leaderKilled.faults).toBe(1);
      expect(report.throughput!.lbOrdersPerSec).toBeGreaterThan(0);
      expect(report.throughput!.directOrdersPerSec).toBeGreaterThan(0);
      expect(report.duel.agreement.samples).toBeGreaterThan(0);
      expect(report.duel.startup?.leaderId).not.toBeNull();
      expect(report.client!.orders.acknowledged).toBeGreaterThan(0);
      expect(report.client!.mismatches).toEqual([]);

      // Nothing left behind, as the run reports it and as we see it ourselves.
      expect(result.teardown).toMatchObject({
        namespacesLeft: [],
        processesLeft: [],
        rootRulesetUnchanged: true,
      });
      expect(listNamespaces().filter((n) => n.startsWith(`${NS_PREFIX}${r.pid}-`))).toEqual([]);
      expect(report.pids.length).toBeGreaterThanOrEqual(7);
      expect(report.pids.filter(isAlive)).toEqual([]);
      expect(rootRuleset()).toBe(rulesBefore);
    },
    RUN_DEADLINE_MS + 10_000,
  );

  it(
    'when interrupted (SIGTERM) in the middle of its faults, it stops its services, tears down and leaves nothing behind',
    async () => {
      if (why) {
        console.warn(`\n*** multi-host interruption NOT exercised on this machine: ${why}.\n`);
        expect(why.length).toBeGreaterThan(0);
        return;
      }
      let signalled = false;
      const r = await runCli(
        ['--quick', '--json', '--throughput', '0', '--seed', '12', '--dist', dist],
        (soFar, child) => {
          if (!signalled && /fault: /.test(soFar)) {
            signalled = true;
            child.kill('SIGTERM');
          }
        },
      );
      expect(signalled, r.stderr.slice(-2_000)).toBe(true);
      expect(r.code).toBe(1);
      const result = JSON.parse(r.stdout) as SupervisedReport;
      expect(result.report?.interrupted).toBe(true);
      expect(result.teardown).toMatchObject({
        namespacesLeft: [],
        processesLeft: [],
        rootRulesetUnchanged: true,
      });
      expect(listNamespaces().filter((n) => n.startsWith(`${NS_PREFIX}${r.pid}-`))).toEqual([]);
      expect(result.report!.pids.filter(isAlive)).toEqual([]);
    },
    RUN_DEADLINE_MS,
  );
});
