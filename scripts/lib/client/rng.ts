/**
 * The client's seeded choices: the tools' generator (scripts/lib/rng), one independent stream per
 * client.
 */
import { mulberry32 } from '../rng/rng.ts';

export { mulberry32 };

/** One independent stream per client, derived from the run's seed. */
export function clientRng(seed: number, clientId: number): () => number {
  const mixed = mulberry32((seed ^ Math.imul(clientId + 1, 0x9e3779b1)) >>> 0);
  return mulberry32(Math.floor(mixed() * 4294967296));
}
