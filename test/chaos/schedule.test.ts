/**
 * The chaos tool's pure parts (scripts/lib/chaos): the seeded nemesis schedule (same seed,
 * same schedule; steps never overlap and end within the duration; every enabled kind shows up;
 * the leader is the target of at least a third of the replica kills), the links a partition
 * cuts, flag parsing, history analysis (counts, p99, longest stall), the power-loss cut, and
 * judging through the checker.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  allLinks,
  analyzeHistory,
  cutToSynced,
  describeStep,
  FAULT_KINDS,
  formatTimelineEvent,
  judge,
  linksOf,
  makeOverlapSchedule,
  makeSchedule,
  maxOverlap,
  OVERLAP_TIMING,
  parseChaosArgs,
  summaryLine,
  type ChaosReport,
  type FaultStep,
} from '../../scripts/lib/chaos/index.ts';
import { formatRecord, LOG_HEADER } from '../../order/record-codec.ts';
import { signEntry } from '../../order/log.ts';
import type { HistoryEvent } from '../../shared/contracts.ts';

describe('makeSchedule', () => {
  it('is a pure function of seed, duration and kinds', () => {
    const a = makeSchedule(42, 30_000, FAULT_KINDS);
    expect(makeSchedule(42, 30_000, FAULT_KINDS)).toEqual(a);
    expect(makeSchedule(43, 30_000, FAULT_KINDS)).not.toEqual(a);
    expect(a.length).toBeGreaterThan(3);
    expect(a.map(describeStep)).toEqual(makeSchedule(42, 30_000, FAULT_KINDS).map(describeStep));
  });

  it.each([1, 7, 99, 123456, 0xffffffff])(
    'seed %i: steps do not overlap, end within the duration and use only enabled kinds',
    (seed) => {
      for (const kinds of [FAULT_KINDS, ['kill'], ['pause', 'partition'], ['power']] as const) {
        const steps = makeSchedule(seed, 20_000, kinds);
        let end = 0;
        for (const s of steps) {
          expect(kinds).toContain(s.kind);
          expect(s.atMs).toBeGreaterThanOrEqual(end);
          expect(s.holdMs).toBeGreaterThan(0);
          end = s.atMs + s.holdMs;
          expect(end).toBeLessThanOrEqual(20_000);
        }
      }
    },
  );

  it('has nothing to do without kinds or time', () => {
    expect(makeSchedule(1, 30_000, [])).toEqual([]);
    expect(makeSchedule(1, 500, FAULT_KINDS)).toEqual([]);
  });

  it('brings every enabled kind round once per round', () => {
    for (let seed = 0; seed < 50; seed++) {
      const steps = makeSchedule(seed, 20_000, FAULT_KINDS);
      if (steps.length < 4) continue;
      expect(new Set(steps.slice(0, 4).map((s) => s.kind)).size, `seed ${seed}`).toBe(4);
    }
  });

  it('targets the leader in at least a third of replica kills, and also kills the catalog and the frontend', () => {
    const kills = [1, 2, 3, 4, 5].flatMap((seed) =>
      makeSchedule(seed, 3_600_000, ['kill']),
    ) as Array<Extract<FaultStep, { kind: 'kill' }>>;
    const roles = kills.map((k) => k.target.role);
    const replicaKills = roles.filter((r) => r === 'leader' || r === 'follower');
    expect(replicaKills.filter((r) => r === 'leader').length / replicaKills.length).toBeGreaterThan(
      1 / 3,
    );
    expect(roles.filter((r) => r === 'leader').length / roles.length).toBeGreaterThan(1 / 3);
    expect(roles).toContain('catalog');
    expect(roles).toContain('frontend');
    const power = [1, 2, 3].flatMap((seed) => makeSchedule(seed, 3_600_000, ['power'])) as Array<
      Extract<FaultStep, { kind: 'power' }>
    >;
    expect(power.filter((p) => p.target.role === 'leader').length / power.length).toBeGreaterThan(
      1 / 3,
    );
  });

  it('uses every partition shape and mode over a long run', () => {
    const parts = makeSchedule(9, 3_600_000, ['partition']) as Array<
      Extract<FaultStep, { kind: 'partition' }>
    >;
    expect(new Set(parts.map((p) => p.links.shape))).toEqual(
      new Set([
        'leader-follower',
        'frontend-leader',
        'isolate-leader',
        'leader-followers',
        'leader-catalog',
        'catalog-frontend',
      ]),
    );
    expect(new Set(parts.map((p) => p.mode.kind))).toEqual(new Set(['drop', 'blackhole', 'delay']));
    const dirs = parts.flatMap((p) =>
      p.links.shape === 'leader-follower' ? [p.links.direction] : [],
    );
    expect(new Set(dirs)).toEqual(new Set(['both', 'from-leader', 'to-leader']));
  });
});

describe('makeOverlapSchedule', () => {
  it('is a pure function of its arguments, and differs from the one-at-a-time schedule', () => {
    const a = makeOverlapSchedule(42, 60_000, FAULT_KINDS);
    expect(makeOverlapSchedule(42, 60_000, FAULT_KINDS)).toEqual(a);
    expect(makeOverlapSchedule(43, 60_000, FAULT_KINDS)).not.toEqual(a);
    expect(a).not.toEqual(makeSchedule(42, 60_000, FAULT_KINDS));
  });

  it.each([1, 7, 99, 123456, 0xffffffff])(
    'seed %i: faults overlap, never more than three at once, and end within the duration',
    (seed) => {
      const steps = makeOverlapSchedule(seed, 120_000, FAULT_KINDS);
      expect(steps.length).toBeGreaterThan(20);
      expect(maxOverlap(steps)).toBeGreaterThanOrEqual(2);
      expect(maxOverlap(steps)).toBeLessThanOrEqual(OVERLAP_TIMING.maxActive);
      for (const s of steps) expect(s.atMs + s.holdMs).toBeLessThanOrEqual(120_000);
      for (let i = 1; i < steps.length; i++)
        expect(steps[i]!.atMs).toBeGreaterThanOrEqual(steps[i - 1]!.atMs);
      expect(new Set(steps.map((s) => s.kind))).toEqual(new Set(FAULT_KINDS));
    },
  );

  it('on a long run holds three at once, and pairs a partition with a kill or power cut of the leader', () => {
    const steps = makeOverlapSchedule(5, 3_600_000, FAULT_KINDS);
    expect(maxOverlap(steps)).toBe(3);
    const overlapping = (a: FaultStep, b: FaultStep) =>
      a.atMs < b.atMs + b.holdMs && b.atMs < a.atMs + a.holdMs;
    const pairs = steps.filter(
      (p) =>
        p.kind === 'partition' &&
        steps.some(
          (k) =>
            (k.kind === 'kill' || k.kind === 'power') &&
            k.target.role === 'leader' &&
            overlapping(p, k),
        ),
    );
    expect(pairs.length).toBeGreaterThan(10);
    expect(maxOverlap(makeSchedule(5, 3_600_000, FAULT_KINDS))).toBe(1);
  });
});

describe('linksOf', () => {
  it('cuts the directed links of each shape around the current leader', () => {
    expect(linksOf({ shape: 'leader-follower', pick: 0, direction: 'both' }, 3)).toEqual([
      ['order-3', 'order-1'],
      ['order-1', 'order-3'],
    ]);
    expect(linksOf({ shape: 'leader-follower', pick: 0.9, direction: 'from-leader' }, 3)).toEqual([
      ['order-3', 'order-2'],
    ]);
    expect(linksOf({ shape: 'leader-follower', pick: 0.9, direction: 'to-leader' }, 1)).toEqual([
      ['order-3', 'order-1'],
    ]);
    expect(linksOf({ shape: 'frontend-leader' }, 2)).toEqual([['frontend', 'order-2']]);
    expect(linksOf({ shape: 'isolate-leader' }, 2)).toEqual([
      ['order-2', 'order-1'],
      ['order-1', 'order-2'],
      ['order-2', 'order-3'],
      ['order-3', 'order-2'],
      ['frontend', 'order-2'],
    ]);
    // Issue 9 item 7's shape: cut from both followers, still reachable by the frontend.
    expect(linksOf({ shape: 'leader-followers' }, 3)).toEqual([
      ['order-3', 'order-1'],
      ['order-1', 'order-3'],
      ['order-3', 'order-2'],
      ['order-2', 'order-3'],
    ]);
    expect(linksOf({ shape: 'leader-catalog' }, 1)).toEqual([['order-1', 'catalog']]);
    expect(linksOf({ shape: 'catalog-frontend' }, 1)).toEqual([['catalog', 'frontend']]);
  });

  it('only names links the mesh has', () => {
    const mesh = new Set(allLinks().map(([a, b]) => `${a}->${b}`));
    expect(mesh.size).toBe(14);
    for (const steps of [makeSchedule(5, 3_600_000, ['partition'])]) {
      for (const s of steps) {
        if (s.kind !== 'partition') continue;
        for (const leader of [1, 2, 3] as const)
          for (const [a, b] of linksOf(s.links, leader)) expect(mesh.has(`${a}->${b}`)).toBe(true);
      }
    }
  });
});

describe('parseChaosArgs', () => {
  it('has defaults', () => {
    expect(parseChaosArgs([])).toEqual({
      seed: undefined,
      durationS: 30,
      clients: 5,
      faults: ['kill', 'pause', 'partition', 'power'],
      overlap: false,
      keep: false,
      builtDir: undefined,
      json: false,
      help: false,
    });
  });

  it('reads every flag', () => {
    expect(
      parseChaosArgs([
        '--seed',
        '9',
        '--duration',
        '2.5',
        '--clients',
        '3',
        '--faults',
        'kill,power',
        '--overlap',
        '--keep',
        '--built',
        'dist',
        '--json',
      ]),
    ).toEqual({
      seed: 9,
      durationS: 2.5,
      clients: 3,
      faults: ['kill', 'power'],
      overlap: true,
      keep: true,
      builtDir: 'dist',
      json: true,
      help: false,
    });
    expect(parseChaosArgs(['--faults', 'none']).faults).toEqual([]);
  });

  it.each([
    [['--faults', 'kill,meteor'], /unknown fault 'meteor'/],
    [['--duration', '0'], /--duration/],
    [['--clients', '0'], /--clients/],
    [['--seed', '-1'], /--seed/],
    [['--bogus'], /bogus/],
    [['--built', ' '], /--built must name a build directory/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseChaosArgs(argv)).toThrow(message);
  });
});

describe('analyzeHistory', () => {
  const ev = (
    type: HistoryEvent['type'],
    op: number,
    f: HistoryEvent['f'],
    timeMs: number,
  ): HistoryEvent => ({
    type,
    op,
    client: op % 2,
    f,
    key: null,
    request: {},
    response: null,
    timeMs,
  });

  it('counts completions, and measures order latency and the longest gap between ok orders', () => {
    const s = analyzeHistory([
      ev('invoke', 0, 'order', 0),
      ev('invoke', 1, 'order', 5),
      ev('ok', 0, 'order', 10),
      ev('invoke', 2, 'query', 11),
      ev('ok', 2, 'query', 12),
      ev('ok', 1, 'order', 100), // 95 ms latency; the gap 10 -> 100 is 90 ms
      ev('invoke', 3, 'order', 101),
      ev('info', 3, 'order', 3000),
      ev('invoke', 4, 'order', 3001),
      ev('ok', 4, 'order', 3020), // gap 100 -> 3020
      ev('invoke', 5, 'read', 3030),
      ev('fail', 5, 'read', 3031),
    ]);
    expect(s.ops).toEqual({ ok: 4, fail: 1, info: 1 });
    expect(s.byF.order).toEqual({ ok: 3, fail: 0, info: 1 });
    expect(s.p99OrderMs).toBe(95);
    expect(s.longestStallMs).toBe(2920);
    expect(s.longestStallAtMs).toBe(100);
  });

  it('has no latency or stall without ok orders', () => {
    const s = analyzeHistory([ev('invoke', 0, 'order', 0), ev('ok', 0, 'order', 10)]);
    expect(s.longestStallMs).toBeNull();
    expect(analyzeHistory([]).p99OrderMs).toBeNull();
  });
});

describe('cutToSynced', () => {
  it('cuts a file back to its .synced length, and leaves it alone without a readable sidecar', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-cut-'));
    try {
      const file = path.join(dir, 'orders.csv');
      await fs.writeFile(file, 'header\nrecord 1\nrecord 2 not synced\n');
      expect(await cutToSynced(file)).toEqual({ kind: 'absent' });
      await fs.writeFile(`${file}.synced`, '');
      expect(await cutToSynced(file)).toEqual({ kind: 'unreadable', text: '' });
      await fs.writeFile(`${file}.synced`, `${'header\nrecord 1\n'.length}\n`);
      expect(await cutToSynced(file)).toEqual({
        kind: 'cut',
        bytes: 'record 2 not synced\n'.length,
      });
      expect(await fs.readFile(file, 'utf8')).toBe('header\nrecord 1\n');
      expect(await cutToSynced(file)).toEqual({ kind: 'cut', bytes: 0 });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('report formatting', () => {
  it('prints one summary line with every figure', () => {
    const report = {
      seed: 5,
      durationMs: 20_000,
      clients: 5,
      faults: ['kill', 'partition'],
      ops: { ok: 10, fail: 2, info: 1 },
      faultsInjected: { kill: 2, pause: 0, partition: 1, power: 0 },
      leaderChanges: 3,
      p99OrderMs: 812,
      longestStallMs: 2500,
      violations: [],
      interrupted: false,
    } as unknown as ChaosReport;
    expect(summaryLine(report)).toBe(
      'chaos: seed 5, 20 s, 5 clients | ops ok 10, fail 2, info 1 | faults kill 2, partition 1 | leader changes 3 | p99 order 812 ms | longest stall 2500 ms | violations 0',
    );
    expect(summaryLine({ ...report, longestStallAtMs: 4100 })).toContain(
      '| longest stall 2500 ms at +4.10s |',
    );
    expect(
      formatTimelineEvent({ timeMs: 2190, kind: 'fault', text: 'SIGKILL order-3 (leader)' }),
    ).toBe('   +2.19s  fault  SIGKILL order-3 (leader)');
    expect(
      formatTimelineEvent({ timeMs: -500, kind: 'phase', text: 'starting', setup: true }),
    ).toBe('    setup  phase  starting');
  });
});

describe("judge (the checker over the run's data dir and history)", () => {
  const order = (
    op: number,
    type: HistoryEvent['type'],
    name: string,
    quantity: number,
    number?: number,
  ): HistoryEvent => ({
    type,
    op,
    client: 0,
    f: 'order',
    key: `k${op}`,
    request: { name, quantity },
    response:
      type === 'ok'
        ? { status: 200, body: { data: { order_number: number } } }
        : type === 'invoke'
          ? null
          : { status: 504, body: null },
    timeMs: op,
  });

  async function dataDirWith(records: Array<[string, number, string]>): Promise<string> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-fallback-'));
    let prev = 0;
    let text = LOG_HEADER;
    records.forEach(([name, quantity, key], index) => {
      const e = signEntry(prev, { index, epoch: 1, name, quantity, key });
      prev = e.crc;
      text += formatRecord(e);
    });
    for (const id of [1, 2, 3]) {
      await fs.mkdir(path.join(dir, `order-${id}`));
      await fs.writeFile(path.join(dir, `order-${id}`, 'orders.csv'), text);
    }
    return dir;
  }

  async function judged(dir: string, history: HistoryEvent[]) {
    const file = path.join(dir, 'history.jsonl');
    await fs.writeFile(file, history.map((e) => `${JSON.stringify(e)}\n`).join(''));
    return judge(dir, file);
  }

  it('accepts acknowledged orders and an unacknowledged one explained by an unknown outcome', async () => {
    const dir = await dataDirWith([
      ['Tux', 1, 'k0'],
      ['Lego', 2, 'k2'],
    ]);
    try {
      const history = [
        order(0, 'invoke', 'Tux', 1),
        order(0, 'ok', 'Tux', 1, 0),
        order(2, 'invoke', 'Lego', 2),
        order(2, 'info', 'Lego', 2),
      ];
      expect((await judged(dir, history)).violations).toEqual([]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('flags a phantom (an order nobody sent) and a lost acknowledged order', async () => {
    const dir = await dataDirWith([
      ['Tux', 1, 'k0'],
      ['Tux', 1, 'k7'],
    ]);
    try {
      const history = [
        order(0, 'invoke', 'Tux', 1),
        order(0, 'ok', 'Tux', 1, 0),
        order(1, 'invoke', 'Lego', 3),
        order(1, 'ok', 'Lego', 3, 5),
      ];
      const { violations } = await judged(dir, history);
      const kinds = violations.map((v) => v.kind);
      expect(kinds).toContain('phantom');
      expect(kinds).toContain('lost');
      expect(violations.every((v) => v.source === 'check')).toBe(true);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
