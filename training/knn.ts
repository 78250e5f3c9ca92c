// Nearest-neighbour success rates: for a prompt, the similarity-weighted share of its k most similar
// training prompts that each model answered well, shrunk towards the model's base rate. It captures
// local structure (a topic a model is bad at) that a linear model over the embedding smooths away.
import { logit } from './matrix';

export interface KnnParams {
  /** Training feature rows used as keys [t×d] (the embedding part only; L2-normalised). */
  keys: Float32Array;
  t: number;
  d: number;
  m: number;
  /** Σ label·mask and Σ mask per training row and model [t×m]. */
  labelSum: Float32Array;
  labelCount: Float32Array;
  k: number;
  /** Neighbour weight exp((similarity − best similarity) / temperature). */
  temperature: number;
  /** Pseudo-count of the base-rate prior. */
  alpha: number;
  prior: Float32Array;
}

export interface KnnOptions {
  k: number;
  temperature: number;
  alpha: number;
}

export function fitKnn(keys: Float32Array, t: number, d: number, Y: Float32Array, mask: Float32Array, m: number, options: KnnOptions): KnnParams {
  const labelSum = new Float32Array(t * m);
  const labelCount = new Float32Array(t * m);
  const s = new Float64Array(m);
  const c = new Float64Array(m);
  for (let i = 0; i < t * m; i++) {
    labelSum[i] = Y[i] * mask[i];
    labelCount[i] = mask[i];
    s[i % m] += labelSum[i];
    c[i % m] += mask[i];
  }
  const prior = new Float32Array(m);
  for (let j = 0; j < m; j++) prior[j] = c[j] > 0 ? s[j] / c[j] : 0.5;
  return { keys, t, d, m, labelSum, labelCount, prior, k: Math.min(options.k, t), temperature: options.temperature, alpha: options.alpha };
}

/** Logits [n×m] for query rows X [n×stride], using each row's first `params.d` values. */
export function knnLogits(params: KnnParams, X: Float32Array, n: number, stride: number): Float32Array {
  const { keys, t, d, m, k, labelSum, labelCount, prior, alpha, temperature } = params;
  const out = new Float32Array(n * m);
  const topSim = new Float32Array(k);
  const topIdx = new Int32Array(k);
  const num = new Float64Array(m);
  const den = new Float64Array(m);
  for (let r = 0; r < n; r++) {
    let filled = 0;
    const q = r * stride;
    for (let i = 0; i < t; i++) {
      let s = 0;
      const o = i * d;
      for (let c = 0; c < d; c++) s += X[q + c] * keys[o + c];
      if (filled < k) {
        let p = filled++;
        while (p > 0 && topSim[p - 1] < s) {
          topSim[p] = topSim[p - 1];
          topIdx[p] = topIdx[p - 1];
          p--;
        }
        topSim[p] = s;
        topIdx[p] = i;
      } else if (s > topSim[k - 1]) {
        let p = k - 1;
        while (p > 0 && topSim[p - 1] < s) {
          topSim[p] = topSim[p - 1];
          topIdx[p] = topIdx[p - 1];
          p--;
        }
        topSim[p] = s;
        topIdx[p] = i;
      }
    }
    for (let j = 0; j < m; j++) {
      num[j] = alpha * prior[j];
      den[j] = alpha;
    }
    for (let a = 0; a < filled; a++) {
      // Relative to the nearest neighbour (weight 1), so `alpha` reads as "worth alpha nearest neighbours".
      const w = Math.exp((topSim[a] - topSim[0]) / temperature);
      const o = topIdx[a] * m;
      for (let j = 0; j < m; j++) {
        num[j] += w * labelSum[o + j];
        den[j] += w * labelCount[o + j];
      }
    }
    for (let j = 0; j < m; j++) out[r * m + j] = logit(num[j] / den[j], 1e-4);
  }
  return out;
}
