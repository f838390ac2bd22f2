/**
 * Power cuts that really remove unsynced bytes, on a real process: a small writer appends to
 * `order-1/orders.csv` and only some milliseconds later advances its `.synced` sidecar, as the
 * store's WAL does after its fdatasync (shared/fsutil.ts). `landPowerCut` must catch it with
 * written-but-unsynced bytes (SIGSTOP, look, SIGKILL while frozen), then cut the file back to
 * exactly what the sidecar says was synced. A random SIGKILL would mostly find nothing to cut.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { landPowerCut } from '../../scripts/lib/chaos/index.ts';
import { trySignal, untilState } from '../../scripts/lib/cluster/signals.ts';
import type { Cluster, ServiceName } from '../../scripts/lib/cluster/index.ts';

/** Appends a record, then after a few ms records the new length as synced; forever. */
const WRITER = `
const fs = require('node:fs');
const file = process.argv[1];
fs.writeFileSync(file, 'header\\n');
fs.writeFileSync(file + '.synced', String(6).padStart(19, ' ') + '\\n');
let n = 0;
const step = () => {
  fs.appendFileSync(file, 'record ' + (n++) + ',' + 'x'.repeat(40) + '\\n');
  setTimeout(() => {
    const fd = fs.openSync(file + '.synced', 'r+');
    fs.writeSync(fd, String(fs.statSync(file).size).padStart(19, ' ') + '\\n', 0);
    fs.closeSync(fd);
    setTimeout(step, 3);
  }, 3);
};
step();
`;

let dir = '';
let child: ChildProcess | null = null;
afterEach(async () => {
  if (child?.pid && child.exitCode === null && child.signalCode === null)
    trySignal(child.pid, 'SIGKILL');
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** Just enough of a Cluster for landPowerCut: one process as `order-1`. */
function oneProcess(dataDir: string, p: ChildProcess): Cluster {
  const state = { pid: p.pid!, exited: false };
  const exited = new Promise<void>((resolve) =>
    p.once('exit', () => ((state.exited = true), resolve())),
  );
  const c: Partial<Cluster> = {
    dataDir,
    isRunning: (s: ServiceName) => s === 'order-1' && !state.exited,
    pause: async () => {
      trySignal(state.pid, 'SIGSTOP');
      await untilState(state, (st) => st === 'T');
    },
    resume: async () => {
      trySignal(state.pid, 'SIGCONT');
      await untilState(state, (st) => st !== 'T');
    },
    kill: async () => {
      trySignal(state.pid, 'SIGKILL');
      await exited;
    },
  };
  return c as Cluster;
}

describe('a simulated power cut', () => {
  it('lands while written bytes are unsynced, and cuts the file back to exactly its synced length', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-power-'));
    await fs.mkdir(path.join(dir, 'order-1'));
    const file = path.join(dir, 'order-1', 'orders.csv');
    child = spawn(process.execPath, ['-e', WRITER, file], { stdio: 'ignore' });
    // Poll with a deadline until the writer has written a few records.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && ((await fs.stat(file).catch(() => null))?.size ?? 0) < 300)
      await new Promise((r) => setTimeout(r, 10));

    const cut = await landPowerCut(oneProcess(dir, child), 'order-1');

    expect(cut.unsyncedAtKill).toBeGreaterThan(0);
    expect(cut.wrote).toBe(true);
    expect(cut.removedBytes).toBeGreaterThanOrEqual(cut.unsyncedAtKill);
    expect(cut.files).toEqual([
      {
        file: path.join('order-1', 'orders.csv'),
        result: { kind: 'cut', bytes: cut.removedBytes },
      },
    ]);
    const synced = Number((await fs.readFile(`${file}.synced`, 'utf8')).trim());
    const text = await fs.readFile(file, 'utf8');
    expect(text.length).toBe(synced);
    expect(text.endsWith('\n')).toBe(true); // the writer synced whole records: nothing torn is left
  });
});
