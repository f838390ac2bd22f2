/**
 * The nemesis running overlapping steps against an in-memory cluster (no processes), on logical
 * time (a ManualClock): what it does when two steps want the same process, how many faults it
 * keeps in force at once, and that everything is back up when the schedule is done. Holds are
 * seconds long as in a run and take no real time; the test waits for the nemesis itself
 * (`done()`), letting logical time pass meanwhile.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.ts';
import {
  Nemesis,
  type FaultStep,
  type LeaderWatch,
  type LinkMesh,
  type TimelineKind,
} from '../../scripts/lib/chaos/index.ts';
import type { Cluster, ServiceName } from '../../scripts/lib/cluster/index.ts';

function fakeCluster() {
  const up = new Set<ServiceName>(['catalog', 'order-1', 'order-2', 'order-3', 'frontend']);
  const paused = new Set<ServiceName>();
  const log: string[] = [];
  const c: Partial<Cluster> = {
    dataDir: '/nonexistent',
    isRunning: (s) => up.has(s),
    pids: () => ({ catalog: 1, 'order-1': 2, 'order-2': 3, 'order-3': 4, frontend: 5 }),
    kill: async (s, sig = 'SIGKILL') =>
      void (log.push(`${sig} ${s}`), up.delete(s), paused.delete(s)),
    restart: async (s) => void (log.push(`restart ${s}`), up.add(s)),
    pause: async (s) => void (log.push(`stop ${s}`), paused.add(s)),
    resume: async (s) => void (log.push(`cont ${s}`), paused.delete(s)),
  };
  return { cluster: c as Cluster, up, paused, log };
}

const leaderIs3 = { find: async () => 3 } as unknown as LeaderWatch;
const noMesh = { hold: () => () => {}, healAll: () => {} } as unknown as LinkMesh;

/** Lets logical time pass, 10 ms at a time, until the nemesis has run its whole schedule. */
async function runToEnd(n: Nemesis, clock: ManualClock, deadlineMs = 60_000): Promise<void> {
  let finished = false;
  void n.done().then(() => (finished = true));
  const end = clock.now() + deadlineMs;
  while (!finished) {
    if (clock.now() > end)
      throw new Error(`the schedule did not finish within ${deadlineMs} ms of logical time`);
    await clock.advance(10);
  }
}

describe('the nemesis with overlapping steps', () => {
  it('when a second step wants the leader while it is down, skips it; a follower step takes a follower that is not busy', async () => {
    const f = fakeCluster();
    const notes: string[] = [];
    const clock = new ManualClock();
    const n = new Nemesis(
      f.cluster,
      noMesh,
      leaderIs3,
      (_k: TimelineKind, t: string) => notes.push(t),
      undefined,
      clock,
    );
    const steps: FaultStep[] = [
      { kind: 'kill', atMs: 0, holdMs: 4_000, target: { role: 'leader' } },
      { kind: 'pause', atMs: 500, holdMs: 2_000, target: { role: 'leader' } },
      { kind: 'kill', atMs: 500, holdMs: 3_000, target: { role: 'follower', pick: 0 } },
      { kind: 'pause', atMs: 1_000, holdMs: 1_000, target: { role: 'follower', pick: 0 } },
    ];
    n.start(steps, clock.now(), true);
    await runToEnd(n, clock);

    expect(notes).toContain('pause skipped: the leader is already under a fault');
    expect(f.log.filter((l) => l.startsWith('SIGKILL'))).toEqual([
      'SIGKILL order-3',
      'SIGKILL order-1',
    ]);
    expect(f.log).toContain('stop order-2'); // order-1 was busy, so the other follower
    expect(n.injected).toEqual({ kill: 2, pause: 1, partition: 0, power: 0 });
    expect(n.maxActive).toBe(3);
    expect([...f.up].sort()).toEqual(['catalog', 'frontend', 'order-1', 'order-2', 'order-3']);
    expect(f.paused.size).toBe(0);
  });

  it('keeps at most maxActive faults in force, making later steps wait for a slot', async () => {
    const f = fakeCluster();
    const clock = new ManualClock();
    const n = new Nemesis(f.cluster, noMesh, leaderIs3, () => {}, undefined, clock);
    const steps: FaultStep[] = ['catalog', 'frontend', 'catalog', 'frontend'].map((role, i) => ({
      kind: 'pause',
      atMs: i * 100,
      holdMs: 1_500,
      target: { role } as { role: 'catalog' | 'frontend' },
    }));
    n.start(steps, clock.now(), true, 1);
    await runToEnd(n, clock);
    // One slot: each step waited for the one before it to be undone, 1.5 s each.
    expect(clock.now()).toBeGreaterThanOrEqual(4 * 1_500);
    expect(n.maxActive).toBe(1);
    expect(n.injected.pause).toBe(4);
    expect(f.log).toEqual([
      'stop catalog',
      'cont catalog',
      'stop frontend',
      'cont frontend',
      'stop catalog',
      'cont catalog',
      'stop frontend',
      'cont frontend',
    ]);
  });
});
