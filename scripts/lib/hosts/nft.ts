/**
 * Network faults as real packet drops: nftables rules inside the hosts' namespaces.
 *
 * A fault is a partition (every packet between two groups of hosts dropped) or random loss
 * (each packet between two hosts dropped with a probability, `numgen random`). The rules of
 * every active fault are rendered per namespace into one table, `inet toystore_faults`, which is
 * replaced whole each time the set of faults changes (`nft -f` with a flush), so healing is
 * removing a fault and re-rendering, and no rule outlives its fault. Rules only ever go into the
 * run's own namespaces (they vanish with them), never into the machine's.
 *
 * Links through a fault proxy: a link `a -> b` that the run routes through the controller's
 * fault proxy (for delay) carries a's packets to ctl:P and ctl's to b. Those are matched at a's
 * side by the proxy's port P, so a fault between a and b hits the proxied link too; ctl's own
 * address is never dropped as such (it carries every other proxied link as well).
 *
 * Each packet crosses exactly one rule of a fault: a direct packet from x to y at y's input; a
 * proxied one at its source's output (requests) or input (answers). So "20 % loss" is 20 % per
 * packet, each way.
 */
import { spawn } from 'node:child_process';

export const NFT_TABLE = 'toystore_faults';

export type NetFault =
  | { kind: 'partition'; id: string; a: readonly string[]; b: readonly string[] }
  | { kind: 'loss'; id: string; a: string; b: string; percent: number };

export interface RuleContext {
  addr(host: string): string;
  /** The controller's address (where the fault proxies listen). */
  ctl: string;
  /** The fault proxy's port for the link from -> to, if that link is proxied. */
  proxyPort(from: string, to: string): number | null;
}

type Rules = Map<string, { input: string[]; output: string[] }>;

function add(rules: Rules, host: string, chain: 'input' | 'output', rule: string): void {
  if (!rules.has(host)) rules.set(host, { input: [], output: [] });
  rules.get(host)![chain].push(rule);
}

/**
 * `x`'s rules that drop (with `verdict`'s probability) the packets of both directions between x and
 * y.
 */
function pairRules(rules: Rules, ctx: RuleContext, x: string, y: string, verdict: string): void {
  add(rules, x, 'input', `ip saddr ${ctx.addr(y)} ${verdict}`);
  const p = ctx.proxyPort(x, y);
  if (p !== null) {
    add(rules, x, 'output', `ip daddr ${ctx.ctl} tcp dport ${p} ${verdict}`);
    add(rules, x, 'input', `ip saddr ${ctx.ctl} tcp sport ${p} ${verdict}`);
  }
}

/** Pure: the rules per host for a set of active faults. */
export function renderRules(faults: readonly NetFault[], ctx: RuleContext): Rules {
  const rules: Rules = new Map();
  for (const f of faults) {
    if (f.kind === 'partition') {
      for (const x of f.a)
        for (const y of f.b) {
          if (x === y) continue;
          pairRules(rules, ctx, x, y, 'drop');
          pairRules(rules, ctx, y, x, 'drop');
        }
    } else {
      if (!(f.percent > 0 && f.percent <= 100))
        throw new RangeError(`loss must be 1-100 %, got ${f.percent}`);
      const verdict = `numgen random mod 100 < ${Math.round(f.percent)} drop`;
      pairRules(rules, ctx, f.a, f.b, verdict);
      pairRules(rules, ctx, f.b, f.a, verdict);
    }
  }
  return rules;
}

/** The `nft -f` script that replaces our table in one namespace (an empty table heals it). */
export function tableScript(r: { input: string[]; output: string[] } | undefined): string {
  const chain = (name: 'input' | 'output') =>
    `  chain ${name} {\n    type filter hook ${name} priority 0; policy accept;\n${(r?.[name] ?? []).map((l) => `    ${l}\n`).join('')}  }\n`;
  // "add" then "delete" makes the delete succeed whether or not the table existed.
  return `add table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\ntable inet ${NFT_TABLE} {\n${chain('input')}${chain('output')}}\n`;
}

export function runIn(ns: string, command: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...command], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command.join(' ')} in ${ns} failed (${code}): ${err.trim()}`));
    });
    child.stdin.end(stdin ?? '');
  });
}

/** Keeps the active faults and the tables in the namespaces in step. */
export function createFirewall(
  ctx: RuleContext,
  nsOf: (host: string) => string,
  hosts: readonly string[],
) {
  const active = new Map<string, NetFault>();
  const touched = new Set<string>();
  async function sync(): Promise<void> {
    const rules = renderRules([...active.values()], ctx);
    for (const h of hosts) {
      if (!rules.has(h) && !touched.has(h)) continue;
      await runIn(nsOf(h), ['nft', '-f', '-'], tableScript(rules.get(h)));
      touched.add(h);
    }
  }
  return {
    async add(f: NetFault) {
      active.set(f.id, f);
      await sync();
    },
    async remove(id: string) {
      if (active.delete(id)) await sync();
    },
    async clear() {
      active.clear();
      await sync();
    },
    active: () => [...active.values()],
    /** What one host's table holds now (`nft list table`), for reports and tests. */
    list: (host: string) => runIn(nsOf(host), ['nft', 'list', 'ruleset']),
  };
}
export type Firewall = ReturnType<typeof createFirewall>;
