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

/** The given rows of a row-major matrix of width w, in that order. */
export function pickRows<T extends Float32Array | Float64Array>(M: T, rows: readonly number[], w: number): T {
  const out = new (M.constructor as new (length: number) => T)(rows.length * w);
  rows.forEach((r, i) => out.set(M.subarray(r * w, (r + 1) * w), i * w));
  return out;
}

/** The inverse of pickRows: row i of `M` becomes row rows[i] of `out`. */
export function putRows(out: Float32Array, M: Float32Array, rows: readonly number[], w: number): void {
  rows.forEach((r, i) => out.set(M.subarray(i * w, (i + 1) * w), r * w));
}

export function selectRows(data: TrainMatrix, rows: readonly number[]): TrainMatrix {
  const { d, m } = data;
  return { n: rows.length, d, m, X: pickRows(data.X, rows, d), Y: pickRows(data.Y, rows, m), mask: pickRows(data.mask, rows, m) };
}

/** The given columns of a row-major matrix of n rows and width w, in that order. */
export function pickColumns<T extends Float32Array | Float64Array>(M: T, n: number, w: number, columns: readonly number[]): T {
  const out = new (M.constructor as new (length: number) => T)(n * columns.length);
  for (let r = 0; r < n; r++) columns.forEach((c, k) => (out[r * columns.length + k] = M[r * w + c]));
  return out;
}

/** The outcomes of the given models only (their columns of Y and the mask); the features are shared. */
export function selectModels(data: TrainMatrix, models: readonly number[]): TrainMatrix {
  const { n, m } = data;
  return { ...data, m: models.length, Y: pickColumns(data.Y, n, m, models), mask: pickColumns(data.mask, n, m, models) };
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

/**
 * Stable 32-bit hash of a string (FNV-1a), for deterministic splits keyed by row id. Its low bits are
 * well spread (folds take it modulo K); its top bits are not for keys that differ only at the end
 * ("q-0001", "q-0002", …): a threshold on the whole value needs `mixedHash`.
 */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** `hashString` through murmur3's finaliser, so every bit depends on every character: for thresholds. */
export function mixedHash(s: string, seed = 0): number {
  let h = hashString(s, seed);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Each model's success rate over the rows that know it (mask-weighted); `unknown` for a model no row
 * knows. `pseudo` adds that many successes and failures (1: Laplace's rule, (s + 1)/(n + 2)).
 */
export function baseRates(Y: Float32Array, mask: Float32Array, m: number, unknown = 0.5, pseudo = 0): Float64Array {
  const sum = new Float64Array(m);
  const count = new Float64Array(m);
  for (let i = 0; i < Y.length; i++) {
    sum[i % m] += Y[i] * mask[i];
    count[i % m] += mask[i];
  }
  return sum.map((s, j) => (count[j] > 0 ? (s + pseudo) / (count[j] + 2 * pseudo) : unknown));
}

/** Arithmetic mean (NaN for none). */
export function mean(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}
