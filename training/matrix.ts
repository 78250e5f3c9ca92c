// Dense row-major training matrices and the seeded random source every training step draws from, so a
// retrain with the same data and seed produces the same classifier.

/** Features X [n×d], soft labels Y [n×m] and a mask [n×m]: 1 where the outcome is known, 0 where unknown. */
export interface TrainMatrix {
  n: number;
  d: number;
  m: number;
  X: Float32Array;
  Y: Float32Array;
  mask: Float32Array;
}

export function selectRows(data: TrainMatrix, rows: readonly number[]): TrainMatrix {
  const { d, m } = data;
  const X = new Float32Array(rows.length * d);
  const Y = new Float32Array(rows.length * m);
  const mask = new Float32Array(rows.length * m);
  rows.forEach((r, i) => {
    X.set(data.X.subarray(r * d, (r + 1) * d), i * d);
    Y.set(data.Y.subarray(r * m, (r + 1) * m), i * m);
    mask.set(data.mask.subarray(r * m, (r + 1) * m), i * m);
  });
  return { n: rows.length, d, m, X, Y, mask };
}

export { seededRandom } from '../src/util/seeded-random';

export function shuffleInPlace<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

export const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** Soft-label log loss at logit z, log(1 + e^z) − y·z, computed without overflow. */
export const logLossAtLogit = (z: number, y: number): number => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - y * z;

export function logit(p: number, eps = 1e-6): number {
  const q = Math.min(1 - eps, Math.max(eps, p));
  return Math.log(q / (1 - q));
}

/** Stable 32-bit hash of a string (FNV-1a), for deterministic splits keyed by row id. */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
