/**
 * A simulated process: whether it is up, paused or crashed, and which incarnation of it is
 * running. Everything that would run inside the process (a timer firing, a message arriving, a
 * reply or an fsync completing) goes through `gate`:
 *  - up and running: it runs now;
 *  - paused (SIGSTOP, a long GC pause): it is held and runs, in arrival order, when the process
 *    resumes, so a paused process notices time passing only through its clock;
 *  - crashed, or addressed to an older incarnation: it is dropped (that process is gone; its
 *    pending promises simply never settle and are garbage).
 *
 * `nodeClock` is the per-process `Clock`: the run's single `ManualClock` (shared/clock.ts) with
 * timers gated as above, bound to one incarnation so a restarted replica never sees its
 * predecessor's timers fire.
 */
import type { Clock, ManualClock } from '../../../shared/clock.ts';

export class SimNode {
  incarnation = 0;
  up = true;
  paused = false;
  private held: Array<() => void> = [];

  constructor(
    readonly id: number,
    readonly name: string,
    private readonly clock: ManualClock,
  ) {}

  alive(incarnation: number): boolean {
    return this.up && incarnation === this.incarnation;
  }

  /** Runs `fn` inside incarnation `incarnation` of this process: now, at resume, or never. */
  gate(incarnation: number, fn: () => void): void {
    if (!this.alive(incarnation)) return;
    if (this.paused) {
      this.held.push(() => {
        if (this.alive(incarnation)) fn();
      });
      return;
    }
    fn();
  }

  pause(): void {
    this.paused = true;
  }

  /**
   * Held work runs in arrival order, each as its own timer so promise callbacks interleave as in a
   * real process.
   */
  resume(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const fn of held) {
      this.clock.setTimeout(() => {
        if (this.paused) this.held.push(fn);
        else fn();
      }, 0);
    }
  }

  crash(): void {
    this.up = false;
    this.paused = false;
    this.held = [];
    this.incarnation++;
  }

  restart(): void {
    this.up = true;
  }
}

/** The clock one incarnation of a process sees: shared simulated time, gated timers. */
export function nodeClock(base: ManualClock, node: SimNode): Clock {
  const incarnation = node.incarnation;
  const clock: Clock = {
    now: () => base.now(),
    setTimeout: (fn, ms) => base.setTimeout(() => node.gate(incarnation, fn), ms),
    sleep: (ms) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms)),
  };
  return clock;
}
