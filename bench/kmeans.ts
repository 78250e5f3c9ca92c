// bench:quality --kmeans-experts (an experiment): clusters of the training prompts' embeddings, one
// classifier per cluster.
import { seededRandom } from '../training/matrix';

/**
 * Spherical k-means over the rows' embeddings (the first `e` columns, unit length): k-means++ start,
 * 30 rounds. Returns the centroids [k×e]. An experiment (--kmeans-experts): one classifier per cluster.
 */
export function kMeans(X: Float32Array, d: number, rows: readonly number[], e: number, k: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const C = new Float32Array(k * e);
  const dot = (r: number, c: number): number => {
    let s = 0;
    for (let j = 0; j < e; j++) s += X[r * d + j] * C[c * e + j];
    return s;
  };
  const first = rows[Math.floor(rand() * rows.length)];
  C.set(X.subarray(first * d, first * d + e), 0);
  const far = rows.map((r) => Math.max(0, 2 - 2 * dot(r, 0)));
  for (let c = 1; c < k; c++) {
    const total = far.reduce((a, b) => a + b, 0);
    let u = rand() * total;
    let pick = rows.length - 1;
    for (let i = 0; i < rows.length; i++) if ((u -= far[i]) <= 0) { pick = i; break; }
    C.set(X.subarray(rows[pick] * d, rows[pick] * d + e), c * e);
    rows.forEach((r, i) => (far[i] = Math.min(far[i], Math.max(0, 2 - 2 * dot(r, c)))));
  }
  for (let round = 0; round < 30; round++) {
    const sum = new Float64Array(k * e);
    for (const r of rows) {
      const c = nearestCentroid(X, d, r, C, e, k);
      for (let j = 0; j < e; j++) sum[c * e + j] += X[r * d + j];
    }
    for (let c = 0; c < k; c++) {
      let norm = 0;
      for (let j = 0; j < e; j++) norm += sum[c * e + j] ** 2;
      if (norm === 0) continue;
      for (let j = 0; j < e; j++) C[c * e + j] = sum[c * e + j] / Math.sqrt(norm);
    }
  }
  return C;
}

export function nearestCentroid(X: Float32Array, d: number, r: number, C: Float32Array, e: number, k: number): number {
  let best = 0;
  let bestSim = -Infinity;
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let j = 0; j < e; j++) s += X[r * d + j] * C[c * e + j];
    if (s > bestSim) [best, bestSim] = [c, s];
  }
  return best;
}
