/**
 * The event trace of one simulated run: every delivery, drop, fault, client result and replica log
 * line, stamped with simulated time. Lines are folded into a running SHA-256 (the determinism test
 * compares two runs of one seed by this hash) and the last few hundred are kept so a failure can
 * show what led up to it; `keepAll` keeps everything (the CLI's --trace).
 */
import { createHash, type Hash } from 'node:crypto';

export class Trace {
  private hash: Hash = createHash('sha256');
  private ring: string[] = [];
  private ringAt = 0;
  readonly all: string[] | null;
  lines = 0;

  constructor(
    private readonly now: () => number,
    opts: { keepAll?: boolean; ringSize?: number } = {},
  ) {
    this.all = opts.keepAll ? [] : null;
    this.ring = new Array<string>(opts.ringSize ?? 400);
  }

  add(line: string): void {
    const stamped = `${this.now().toFixed(0).padStart(7)} ${line}`;
    this.hash.update(stamped).update('\n');
    this.ring[this.ringAt % this.ring.length] = stamped;
    this.ringAt++;
    this.lines++;
    this.all?.push(stamped);
  }

  /** The last `n` lines, oldest first. */
  tail(n = 60): string[] {
    const size = this.ring.length;
    const count = Math.min(n, this.ringAt, size);
    const out: string[] = [];
    for (let i = this.ringAt - count; i < this.ringAt; i++) out.push(this.ring[i % size]!);
    return out;
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }
}
