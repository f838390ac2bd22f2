/**
 * Coalesced invalidation pushes: many changes to one toy while a push is in flight cost one more
 * push, not one each, and every change is still followed by a push that started after it.
 */
import { describe, expect, it } from 'vitest';
import { createInvalidator } from '../../catalog/invalidator.ts';
import { deferred, ok, recordingHttp } from './helpers.ts';

describe('invalidation pushes', () => {
  it('changes made while a push is in flight share exactly one later push, which starts after them', async () => {
    const gates = [deferred<void>(), deferred<void>()];
    let sent = 0;
    const { http, calls } = recordingHttp(async () => {
      await gates[Math.min(sent++, 1)]!.promise;
      return ok();
    });
    const invalidator = createInvalidator({ http, frontendUrls: ['http://frontend.test'], log: () => {} });
    const first = invalidator.invalidate('Tux');
    await new Promise<void>((r) => setImmediate(r));
    let laterDone = 0;
    const later = Array.from({ length: 10 }, () => invalidator.invalidate('Tux').then(() => laterDone++));
    gates[0]!.resolve();
    await first;
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    // The first push has answered, but the changes after it wait for the second push.
    expect(calls).toHaveLength(2);
    expect(laterDone).toBe(0);
    gates[1]!.resolve();
    await Promise.all(later);
    expect(laterDone).toBe(10);
    expect(calls).toHaveLength(2);
  });

  it('different toys are pushed independently', async () => {
    const { http, calls } = recordingHttp(() => ok());
    const invalidator = createInvalidator({ http, frontendUrls: ['http://a.test', 'http://b.test'], log: () => {} });
    await Promise.all([invalidator.invalidate('Tux'), invalidator.invalidate('Lego')]);
    expect(calls.map((c) => `${c.url} ${JSON.stringify(c.body)}`).sort()).toEqual([
      'http://a.test/internal/invalidate {"name":"Lego"}',
      'http://a.test/internal/invalidate {"name":"Tux"}',
      'http://b.test/internal/invalidate {"name":"Lego"}',
      'http://b.test/internal/invalidate {"name":"Tux"}',
    ]);
  });
});
