/** The client's seeded choices: mulberry32, one independent stream per client. */

/** mulberry32: a tiny, fast, seedable uint32 PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One independent stream per client, derived from the run's seed. */
export function clientRng(seed: number, clientId: number): () => number {
  const mixed = mulberry32((seed ^ Math.imul(clientId + 1, 0x9e3779b1)) >>> 0);
  return mulberry32(Math.floor(mixed() * 4294967296));
}
