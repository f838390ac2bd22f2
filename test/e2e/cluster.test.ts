/**
 * Smoke test of the process launcher (scripts/lib/cluster) with real processes on ephemeral ports:
 * the whole store comes up, elects a leader and serves the lab API end to end; one service can be
 * killed, restarted, paused and resumed; `stop()` leaves no process behind. The heavier failover
 * scenarios live in their own e2e suite; this one only proves the launcher and the wiring it
 * computes.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, SERVICE_NAMES, type Cluster } from '../../scripts/lib/cluster/index.ts';
import { pollFor } from '../support/async.ts';

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
const waitFor = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000) =>
  pollFor(what, check, { deadlineMs: timeoutMs, everyMs: 50 });

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

describe('cluster launcher (real processes)', () => {
  let dir: string;
  let cluster: Cluster | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-e2e-'));
    cluster = await startCluster({
      dataDir: dir,
      heartbeatIntervalMs: 50,
      output: (service, line) => lines.push(`[${service}] ${line}`),
    });
  });

  afterAll(async () => {
    await cluster?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('serves products and orders through the frontend', async () => {
    const c = cluster!;
    const pids = Object.values(c.pids());
    expect(pids.every((p) => typeof p === 'number' && p > 0)).toBe(true);
    expect(new Set(pids).size).toBe(SERVICE_NAMES.length);
    for (const s of SERVICE_NAMES)
      expect(lines.some((l) => l.startsWith(`[${s}]`) && l.includes('listening on http://'))).toBe(
        true,
      );

    const leaderId = await waitFor('a leader in /health', async () => {
      const res = await fetch(`${c.urls.frontend}/health`);
      const body = (await res.json()) as { data: { leaderId: number | null } };
      return res.status === 200 && body.data.leaderId !== null ? body.data.leaderId : undefined;
    });
    expect([1, 2, 3]).toContain(leaderId);

    const product = await fetch(`${c.urls.frontend}/products/Tux`);
    expect(product.status).toBe(200);
    const { data } = (await product.json()) as {
      data: { name: string; price: number; quantity: number };
    };
    expect(data).toEqual({ name: 'Tux', price: expect.any(Number), quantity: expect.any(Number) });
    expect(Number.isInteger(data.quantity)).toBe(true);

    const placed = await fetch(`${c.urls.frontend}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Tux', quantity: 1 }),
    });
    expect(placed.status).toBe(200);
    expect(await placed.json()).toEqual({ data: { order_number: 0 } });

    const order = await fetch(`${c.urls.frontend}/orders/0`);
    expect(order.status).toBe(200);
    expect(await order.json()).toEqual({ data: { number: 0, name: 'Tux', quantity: 1 } });

    // Each service keeps its data under the given directory.
    expect(await fs.readdir(dir)).toEqual(
      expect.arrayContaining(['catalog', 'order-1', 'order-2', 'order-3']),
    );
  });

  it('kills, restarts, pauses and resumes one service, and stop() leaves no process', async () => {
    const c = cluster!;
    const health = (id: 1 | 2 | 3, timeoutMs = 2_000) =>
      fetch(`${c.urls.replicas[id]}/health`, { signal: AbortSignal.timeout(timeoutMs) });

    const old = c.pids()['order-3']!;
    await c.kill('order-3');
    expect(isAlive(old)).toBe(false);
    expect(c.pids()['order-3']).toBeNull();
    await c.restart('order-3');
    const fresh = c.pids()['order-3']!;
    expect(fresh).not.toBe(old);
    expect((await health(3)).status).toBe(200);

    const pid1 = c.pids()['order-1']!;
    await c.pause('order-1');
    expect(procState(pid1) ?? 'T').toBe('T');
    await expect(health(1, 300)).rejects.toThrow();
    await c.resume('order-1');
    expect(procState(pid1) ?? 'S').not.toBe('T');
    expect((await health(1)).status).toBe(200);

    const pids = Object.values(c.pids()) as number[];
    await c.stop();
    await c.stop(); // idempotent
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(Object.values(c.pids()).every((p) => p === null)).toBe(true);
  });
});

/** The state letter from /proc/<pid>/stat ('T' = stopped), or null where there is no /proc. */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}
