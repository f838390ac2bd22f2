/**
 * The link mesh under overlapping partitions: two partitions holding the same link stack, so
 * healing the first one does not open a link the second still cuts, and the link passes again
 * only when both are healed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startLinkMesh, type LinkMesh } from '../../scripts/lib/chaos/index.ts';

let mesh: LinkMesh | null = null;
afterEach(async () => {
  await mesh?.close();
  mesh = null;
});

describe('link mesh', () => {
  it('when two partitions overlap on one link, healing one keeps the other in force', async () => {
    mesh = await startLinkMesh();
    const releaseIsolate = mesh.hold(
      [
        ['order-3', 'order-1'],
        ['frontend', 'order-3'],
      ],
      { kind: 'blackhole' },
    );
    const releaseOneWay = mesh.hold([['order-3', 'order-1']], { kind: 'drop' });
    expect(mesh.faulty().sort()).toEqual(['frontend->order-3', 'order-3->order-1']);

    releaseIsolate();
    expect(mesh.faulty()).toEqual(['order-3->order-1']);
    releaseOneWay();
    expect(mesh.faulty()).toEqual([]);

    mesh.hold([['catalog', 'frontend']], { kind: 'delay', ms: 50 });
    mesh.healAll();
    expect(mesh.faulty()).toEqual([]);
  });
});
