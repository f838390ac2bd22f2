/**
 * The anchors the store is measured next to, started before the store's clusters and stopped
 * once they are done: the bare ceilings (the same hops with no store logic, for reads and the
 * order chain) and a three-member etcd cluster (durable writes). etcd missing or failing to start
 * is recorded in the results, not fatal: the store side is still measured.
 */
import { startCeilings, type Ceilings } from './ceilings.ts';
import { findEtcd, startEtcdCluster, type EtcdCluster } from './etcd.ts';
import type { EtcdInfo } from './scenarios/durable.ts';
import type { SuiteContext } from './suite-plan.ts';

export class Anchors {
  private ceilingsNow: Ceilings | null = null;
  private etcdNow: EtcdCluster | null = null;

  constructor(private readonly ctx: SuiteContext) {}

  get ceilings(): Ceilings | null {
    return this.ceilingsNow;
  }

  get etcd(): EtcdCluster | null {
    return this.etcdNow;
  }

  async start(): Promise<void> {
    const { ctx } = this;
    if (ctx.has('throughput')) {
      await ctx.attempt('ceilings', async () => {
        const c = await this.ensureCeilings();
        ctx.say(`ceilings up: origin ${c.origin}, frontend ${c.frontend}`);
      });
    }
    if (ctx.has('etcd')) await ctx.attempt('etcd', () => this.startEtcd());
  }

  /** The ceilings, started again if an earlier phase stopped them. */
  async ensureCeilings(): Promise<Ceilings> {
    if (!this.ceilingsNow) {
      this.ceilingsNow = await startCeilings(this.ctx.profiler.env());
      this.ctx.profiler.name('ceiling', this.ceilingsNow.pids);
    }
    return this.ceilingsNow;
  }

  private async startEtcd(): Promise<void> {
    const { ctx } = this;
    const bin = findEtcd();
    if (!bin) {
      const info: EtcdInfo = {
        available: false,
        reason: 'etcd is not installed (no etcd on PATH, no ETCD_BIN)',
      };
      ctx.results.durable = { etcd: info };
      ctx.say(
        `etcd: not found, so the etcd targets are not measured (the store side still is). Debian: sudo apt-get install etcd-server`,
      );
      return;
    }
    const t0 = performance.now();
    try {
      this.etcdNow = await startEtcdCluster(bin, await ctx.newDir('etcd'));
    } catch (err) {
      ctx.results.durable = {
        etcd: {
          available: false,
          reason: `etcd ${bin.version} (${bin.path}) did not start: ${(err as Error).message.split('\n')[0]}`,
        },
      };
      throw err;
    }
    const e = this.etcdNow;
    ctx.results.durable = {
      etcd: {
        available: true,
        version: e.version,
        binary: bin.path,
        leader: e.leaderName,
        members: e.clientUrls,
      },
    };
    ctx.say(
      `etcd ${e.version} up in ${Math.round(performance.now() - t0)} ms: 3 members, leader ${e.leaderName} at ${e.leaderUrl}`,
    );
  }

  async stopEtcd(): Promise<void> {
    const e = this.etcdNow;
    this.etcdNow = null;
    await e?.stop();
  }

  async stop(): Promise<void> {
    const c = this.ceilingsNow;
    this.ceilingsNow = null;
    await Promise.all([c?.stop(), this.stopEtcd()]);
  }
}
