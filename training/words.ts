// The words component: multi-output logistic regression over the prompt's hashed words and word pairs
// (src/routing/word-features.ts). Each row's slot weights are scaled by a per-bucket IDF learned from the
// training prompts and L2-normalised (TF-IDF), then p = sigmoid(Σ u_k·W[bucket_k] + b). The loss is the
// masked soft-label log loss of every model (each model's mean over its known outcomes) plus an L2
// penalty, minimised by L-BFGS: convex, full-batch, so the fit is deterministic and needs no seed.
import type { TrainMatrix } from './matrix';

export interface WordLayout {
  /** Column of the first bucket id; the weights follow `slots` columns later. */
  start: number;
  slots: number;
  buckets: number;
}

export interface WordParams extends WordLayout {
  m: number;
  /** Per-bucket inverse document frequency [buckets]. */
  idf: Float32Array;
  /** Per-bucket, per-model weights, row-major [buckets × m] (the ONNX Gather layout). */
  W: Float32Array;
  b: Float32Array;
}

/** A bucket needs this many training prompts to get a weight. */
const MIN_ROWS = 2;

export interface WordFitOptions {
  l2: number;
  iterations: number;
}

interface SparseRows {
  n: number;
  /** Row r's entries are [offsets[r], offsets[r+1]). */
  offsets: Int32Array;
  buckets: Int32Array;
  values: Float32Array;
}

function readSlots(X: Float32Array, n: number, d: number, layout: WordLayout): SparseRows {
  const offsets = new Int32Array(n + 1);
  const buckets: number[] = [];
  const values: number[] = [];
  for (let r = 0; r < n; r++) {
    const base = r * d + layout.start;
    for (let k = 0; k < layout.slots; k++) {
      const v = X[base + layout.slots + k];
      if (v === 0) continue;
      const b = X[base + k];
      if (!(b >= 0 && b < layout.buckets && Number.isInteger(b))) throw new Error(`row ${r}: word slot ${k} holds bucket ${b}, outside 0..${layout.buckets - 1}`);
      buckets.push(b);
      values.push(v);
    }
    offsets[r + 1] = buckets.length;
  }
  return { n, offsets, buckets: Int32Array.from(buckets), values: Float32Array.from(values) };
}

/** TF-IDF: each entry times its bucket's IDF, each row scaled to unit length (what the ONNX graph does). */
function tfidf(rows: SparseRows, idf: Float32Array): Float32Array {
  const u = new Float32Array(rows.values.length);
  for (let r = 0; r < rows.n; r++) {
    let norm = 0;
    for (let e = rows.offsets[r]; e < rows.offsets[r + 1]; e++) {
      u[e] = rows.values[e] * idf[rows.buckets[e]];
      norm += u[e] * u[e];
    }
    const inv = 1 / Math.max(Math.sqrt(norm), 1e-12);
    for (let e = rows.offsets[r]; e < rows.offsets[r + 1]; e++) u[e] *= inv;
  }
  return u;
}

export function fitWords(data: TrainMatrix, layout: WordLayout, options: WordFitOptions): WordParams {
  const { n, d, m, Y, mask } = data;
  const rows = readSlots(data.X, n, d, layout);
  const df = new Float64Array(layout.buckets);
  for (const b of rows.buckets) df[b]++;
  const idf = new Float32Array(layout.buckets);
  for (let b = 0; b < layout.buckets; b++) idf[b] = Math.log((n + 1) / (df[b] + 1)) + 1;
  const u = tfidf(rows, idf);
  // Only buckets seen in at least MIN_ROWS training prompts get a weight: one seen once can only memorise
  // its row, and dropping those (most word pairs) makes the fit several times faster. They still count in
  // each row's TF-IDF norm, as they do at prediction time.
  const compact = new Int32Array(layout.buckets).fill(-1);
  let K = 0;
  for (let b = 0; b < layout.buckets; b++) if (df[b] >= MIN_ROWS) compact[b] = K++;
  // Entries with a weight, per row: [kept offsets]; bucket and TF-IDF value of each.
  const keptOffsets = new Int32Array(n + 1);
  const keptCols: number[] = [];
  const keptU: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let e = rows.offsets[r]; e < rows.offsets[r + 1]; e++) {
      const c = compact[rows.buckets[e]];
      if (c < 0) continue;
      keptCols.push(c);
      keptU.push(u[e]);
    }
    keptOffsets[r + 1] = keptCols.length;
  }
  const cols = Int32Array.from(keptCols);
  const vals = Float64Array.from(keptU);
  const count = new Float64Array(m);
  const rate = new Float64Array(m);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < m; j++) {
      count[j] += mask[r * m + j];
      rate[j] += mask[r * m + j] * Y[r * m + j];
    }
  }
  const P = K * m + m; // weights, then biases
  const theta = new Float64Array(P);
  for (let j = 0; j < m; j++) {
    const q = count[j] > 0 ? Math.min(0.99, Math.max(0.01, rate[j] / count[j])) : 0.5;
    theta[K * m + j] = Math.log(q / (1 - q));
  }
  const z = new Float64Array(m);
  const resid = new Float64Array(m);
  const lossAndGrad = (th: Float64Array, g: Float64Array): number => {
    g.fill(0);
    let loss = 0;
    for (let i = 0; i < K * m; i++) {
      loss += 0.5 * options.l2 * th[i] * th[i];
      g[i] = options.l2 * th[i];
    }
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < m; j++) z[j] = th[K * m + j];
      for (let e = keptOffsets[r]; e < keptOffsets[r + 1]; e++) {
        const base = cols[e] * m;
        const v = vals[e];
        for (let j = 0; j < m; j++) z[j] += v * th[base + j];
      }
      for (let j = 0; j < m; j++) {
        const w = mask[r * m + j];
        resid[j] = 0;
        if (w === 0) continue;
        const scale = w / count[j];
        const y = Y[r * m + j];
        const zj = z[j];
        loss += scale * (Math.max(zj, 0) + Math.log1p(Math.exp(-Math.abs(zj))) - y * zj);
        resid[j] = scale * (1 / (1 + Math.exp(-zj)) - y);
        g[K * m + j] += resid[j];
      }
      for (let e = keptOffsets[r]; e < keptOffsets[r + 1]; e++) {
        const base = cols[e] * m;
        const v = vals[e];
        for (let j = 0; j < m; j++) g[base + j] += v * resid[j];
      }
    }
    return loss;
  };
  lbfgs(theta, lossAndGrad, options.iterations);
  const W = new Float32Array(layout.buckets * m);
  for (let b = 0; b < layout.buckets; b++) {
    if (compact[b] < 0) continue;
    for (let j = 0; j < m; j++) W[b * m + j] = theta[compact[b] * m + j];
  }
  return { ...layout, m, idf, W, b: Float32Array.from(theta.subarray(K * m)) };
}

/** Logits [n×m] for feature rows X [n×d]. */
export function wordLogits(params: WordParams, X: Float32Array, n: number, d: number): Float32Array {
  const rows = readSlots(X, n, d, params);
  const u = tfidf(rows, params.idf);
  const { m, W, b } = params;
  const out = new Float32Array(n * m);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < m; j++) out[r * m + j] = b[j];
    for (let e = rows.offsets[r]; e < rows.offsets[r + 1]; e++) {
      const base = rows.buckets[e] * m;
      for (let j = 0; j < m; j++) out[r * m + j] += u[e] * W[base + j];
    }
  }
  return out;
}

/**
 * Limited-memory BFGS (two-loop recursion, 10 pairs) with a backtracking Armijo line search; minimises
 * in place. Stops after `iterations`, or when the loss stops moving.
 */
export function lbfgs(x: Float64Array, f: (x: Float64Array, g: Float64Array) => number, iterations: number, memory = 10): number {
  const P = x.length;
  let g = new Float64Array(P);
  let loss = f(x, g);
  const S: Float64Array[] = [];
  const Yv: Float64Array[] = [];
  const rho: number[] = [];
  const dir = new Float64Array(P);
  const xNew = new Float64Array(P);
  let gNew = new Float64Array(P);
  const dot = (a: Float64Array, b: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < P; i++) s += a[i] * b[i];
    return s;
  };
  for (let it = 0; it < iterations; it++) {
    // Two-loop recursion: dir = −H·g.
    for (let i = 0; i < P; i++) dir[i] = -g[i];
    const alpha = new Array<number>(S.length);
    for (let k = S.length - 1; k >= 0; k--) {
      alpha[k] = rho[k] * dot(S[k], dir);
      for (let i = 0; i < P; i++) dir[i] -= alpha[k] * Yv[k][i];
    }
    if (S.length > 0) {
      const last = S.length - 1;
      const gamma = dot(S[last], Yv[last]) / dot(Yv[last], Yv[last]);
      for (let i = 0; i < P; i++) dir[i] *= gamma;
    } else {
      const gn = Math.sqrt(dot(g, g));
      if (gn === 0) break;
      for (let i = 0; i < P; i++) dir[i] /= gn;
    }
    for (let k = 0; k < S.length; k++) {
      const beta = rho[k] * dot(Yv[k], dir);
      for (let i = 0; i < P; i++) dir[i] += (alpha[k] - beta) * S[k][i];
    }
    let slope = dot(g, dir);
    if (slope >= 0) {
      // Not a descent direction (curvature went bad): restart from steepest descent.
      S.length = 0;
      Yv.length = 0;
      rho.length = 0;
      for (let i = 0; i < P; i++) dir[i] = -g[i];
      slope = dot(g, dir);
    }
    let step = 1;
    let next = loss;
    let accepted = false;
    for (let tries = 0; tries < 30; tries++, step /= 2) {
      for (let i = 0; i < P; i++) xNew[i] = x[i] + step * dir[i];
      next = f(xNew, gNew);
      if (next <= loss + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
    // Reuse the oldest pair's buffers once the memory is full.
    const s = S.length >= memory ? S[0] : new Float64Array(P);
    const y = S.length >= memory ? Yv[0] : new Float64Array(P);
    for (let i = 0; i < P; i++) {
      s[i] = xNew[i] - x[i];
      y[i] = gNew[i] - g[i];
    }
    const sy = dot(s, y);
    if (sy > 1e-12) {
      if (S.length >= memory) {
        S.shift();
        Yv.shift();
        rho.shift();
      }
      S.push(s);
      Yv.push(y);
      rho.push(1 / sy);
    }
    x.set(xNew);
    [g, gNew] = [gNew, g];
    const improvement = loss - next;
    loss = next;
    if (improvement < 1e-9 * Math.max(1, Math.abs(loss))) break;
  }
  return loss;
}
