/**
 * The multi-host run's fault plan and the packet-drop rules it turns into, without a network:
 * the plan is a pure function of its seed, and each fault drops exactly the packets between the
 * hosts it names (proxied links included), each packet at one place.
 */
import { describe, expect, it } from 'vitest';
import {
  renderRules,
  tableScript,
  NFT_TABLE,
  type RuleContext,
} from '../../scripts/lib/hosts/nft.ts';
import {
  FAULT_KINDS,
  makeSchedule,
  parseKinds,
  QUICK_TIMING,
  roundDurationMs,
} from '../../scripts/lib/hosts/schedule.ts';
import { parseCliArgs, UsageError } from '../../scripts/lib/hosts/report.ts';

const ADDR: Record<string, string> = { a: '10.213.0.11', b: '10.213.0.12', c: '10.213.0.13' };
const ctx: RuleContext = {
  addr: (h) => ADDR[h]!,
  ctl: '10.213.0.100',
  proxyPort: (from, to) =>
    from === 'a' && to === 'b' ? 4001 : from === 'b' && to === 'a' ? 4002 : null,
};

describe('the fault plan', () => {
  it('is the same for the same seed and different for another', () => {
    const one = makeSchedule(7, 60_000, FAULT_KINDS);
    expect(makeSchedule(7, 60_000, FAULT_KINDS)).toEqual(one);
    expect(makeSchedule(8, 60_000, FAULT_KINDS)).not.toEqual(one);
  });

  it('runs faults one at a time, each ending within the duration, every kind once per round', () => {
    const steps = makeSchedule(3, 120_000, FAULT_KINDS);
    for (const [i, s] of steps.entries()) {
      expect(s.atMs + s.holdMs).toBeLessThanOrEqual(120_000);
      if (i > 0) expect(s.atMs).toBeGreaterThan(steps[i - 1]!.atMs + steps[i - 1]!.holdMs);
    }
    expect(new Set(steps.slice(0, FAULT_KINDS.length).map((s) => s.kind))).toEqual(
      new Set(FAULT_KINDS),
    );
    for (const s of steps.filter((x) => x.kind === 'loss')) expect(s.amount).toBeGreaterThan(0);
  });

  it('fits one round of every kind into roundDurationMs (the quick run)', () => {
    const steps = makeSchedule(
      1,
      roundDurationMs(FAULT_KINDS, QUICK_TIMING),
      FAULT_KINDS,
      QUICK_TIMING,
      FAULT_KINDS.length,
    );
    expect(steps.map((s) => s.kind).sort()).toEqual([...FAULT_KINDS].sort());
  });

  it('refuses an unknown fault kind, naming the known ones', () => {
    expect(parseKinds('loss, delay')).toEqual(['loss', 'delay']);
    expect(() => parseKinds('loss,meteor')).toThrow(/meteor.*known: kill-leader/);
  });
});

describe('packet-drop rules', () => {
  it('a partition drops both directions at each side, including the proxied links between them', () => {
    const rules = renderRules([{ kind: 'partition', id: 'p', a: ['a'], b: ['b'] }], ctx);
    expect(rules.get('a')).toEqual({
      input: ['ip saddr 10.213.0.12 drop', 'ip saddr 10.213.0.100 tcp sport 4001 drop'],
      output: ['ip daddr 10.213.0.100 tcp dport 4001 drop'],
    });
    expect(rules.get('b')).toEqual({
      input: ['ip saddr 10.213.0.11 drop', 'ip saddr 10.213.0.100 tcp sport 4002 drop'],
      output: ['ip daddr 10.213.0.100 tcp dport 4002 drop'],
    });
    expect(rules.has('c')).toBe(false);
  });

  it('never drops the controller address as such (it carries every other proxied link)', () => {
    const rules = renderRules([{ kind: 'partition', id: 'p', a: ['a'], b: ['b', 'c'] }], ctx);
    for (const r of rules.values())
      for (const line of [...r.input, ...r.output]) {
        if (line.includes('10.213.0.100')) expect(line).toMatch(/tcp [sd]port \d+/);
      }
  });

  it('loss drops each packet at most once, with the given probability', () => {
    const rules = renderRules([{ kind: 'loss', id: 'l', a: 'a', b: 'c', percent: 30 }], ctx);
    expect(rules.get('a')!.input).toEqual(['ip saddr 10.213.0.13 numgen random mod 100 < 30 drop']);
    expect(rules.get('c')!.input).toEqual(['ip saddr 10.213.0.11 numgen random mod 100 < 30 drop']);
    expect(rules.get('a')!.output).toEqual([]);
    expect(() => renderRules([{ kind: 'loss', id: 'l', a: 'a', b: 'c', percent: 0 }], ctx)).toThrow(
      RangeError,
    );
  });

  it('replaces the whole table each time, so a healed fault leaves no rule behind', () => {
    const script = tableScript({ input: ['ip saddr 10.213.0.12 drop'], output: [] });
    expect(script.startsWith(`add table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n`)).toBe(
      true,
    );
    expect(script).toContain('ip saddr 10.213.0.12 drop');
    expect(tableScript(undefined)).not.toContain('drop');
  });
});

describe('npm run cluster:hosts options', () => {
  it('quick runs one round of every kind with a deadline above its phases', () => {
    const o = parseCliArgs(['--quick', '--seed', '5']);
    expect(o).toMatchObject({ quick: true, seed: 5, kinds: [...FAULT_KINDS] });
    expect(o.deadlineMs).toBeGreaterThan(o.durationMs + 2 * o.throughputMs);
  });
  it('rejects a bad number or fault kind with a usage error', () => {
    expect(() => parseCliArgs(['--clients', '0'])).toThrow(UsageError);
    expect(() => parseCliArgs(['--faults', 'nope'])).toThrow(UsageError);
    expect(() => parseCliArgs(['--bogus'])).toThrow(UsageError);
  });
});
