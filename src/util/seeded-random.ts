// One seeded random source for everything that must be reproducible: training initialisation and
// shuffles, the simulated models' failure patterns, test fixtures.

/** mulberry32: small, fast and good enough for initialisation, shuffling and simulated error rates. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
