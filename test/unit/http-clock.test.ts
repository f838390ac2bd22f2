/**
 * The in-process HTTP seam's timeout runs on an injected Clock: a story on a ManualClock sees a
 * call to a paused or partitioned app time out when it advances logical time, never on the wall
 * clock, so fault stories and the simulator are deterministic and take no real time.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.ts';
import { createFetchHttp, createInProcessNetwork, NetworkError } from '../../shared/http.ts';

describe('HTTP client timeouts on an injected clock', () => {
  it('when a replica is blackholed, a call times out exactly when logical time reaches its timeout', async () => {
    const clock = new ManualClock();
    const net = createInProcessNetwork({ clock });
    const app = new Hono();
    app.get('/internal/status', (c) => c.json({ data: {} }));
    net.register('http://order-1.test', app.fetch);
    net.setState('http://order-1.test', 'blackhole');

    let outcome: unknown = 'pending';
    void net
      .http({ method: 'GET', url: 'http://order-1.test/internal/status', timeoutMs: 300 })
      .then(
        (r) => (outcome = r),
        (e: unknown) => (outcome = e),
      );
    await clock.advance(299);
    expect(outcome).toBe('pending');
    await clock.advance(1);
    expect(outcome).toBeInstanceOf(NetworkError);
    expect((outcome as NetworkError).kind).toBe('timeout');
  });

  it('an answer in time cancels its timer: nothing is left on the clock to fire later', async () => {
    const clock = new ManualClock();
    let timers = 0;
    const counting = {
      ...clock,
      now: () => clock.now(),
      sleep: (ms: number) => clock.sleep(ms),
      setTimeout: (fn: () => void, ms: number) => {
        timers++;
        const cancel = clock.setTimeout(fn, ms);
        return () => {
          timers--;
          cancel();
        };
      },
    };
    const http = createFetchHttp(async () => new Response(JSON.stringify({ data: 1 })), {
      clock: counting,
    });
    expect((await http({ method: 'GET', url: 'http://x.test/', timeoutMs: 1_000 })).body).toEqual({
      data: 1,
    });
    expect(timers).toBe(0);
  });
});
