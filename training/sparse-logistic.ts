// Sparse logistic regression over a few dense features, one feature set per model, found by forward
// stepwise selection: at each step the candidate with the largest score statistic (the gain in fit one
// Newton step would give) is tried, and kept only when it lowers the model's cross-validated log loss by
// at least `minGain`. On small sets a full logistic regression over every prompt statistic spreads its
// weight over features that are noise there; the selection keeps the two or three that carry the signal
// (GSM8K: length for Mixtral, decimals and fractions for GPT-4) and nothing else (docs/routing-quality.md).
// The result is an ordinary logistic layer with zero weights for unselected features, so it is served and
// exported exactly like the dense one. Deterministic given the seed.
import { fitMaskedLogistic, solve } from './calibrate';
import { type TrainMatrix, logLossAtLogit, seededRandom, shuffleInPlace, sigmoid } from './matrix';
import type { NetworkParams } from './network';

export interface SparseFitOptions {
  /** Ridge on the weights, in units of the per-outcome mean log loss. */
  ridge: number;
  /** Least drop in cross-validated log loss (nats per known outcome) a feature must buy to be kept. */
  minGain: number;
  maxFeatures: number;
  /** Inner folds for the stopping rule. */
  folds: number;
  seed: number;
}

export const DEFAULT_SPARSE_FIT: SparseFitOptions = { ridge: 1e-3, minGain: 0.002, maxFeatures: 8, folds: 5, seed: 1 };

/** The chosen columns for each model, in the order they were added. */
export interface SparseFit {
  params: NetworkParams;
  selected: number[][];
}

/** Fits on rows X [n×d] that the caller has already standardised. */
export function fitSparseLogistic(data: TrainMatrix, options: Partial<SparseFitOptions> = {}): SparseFit {
  const opt = { ...DEFAULT_SPARSE_FIT, ...options };
  const { d, m } = data;
  const W = new Float32Array(d * m);
  const b = new Float32Array(m);
  const selected: number[][] = [];
  for (let j = 0; j < m; j++) {
    const cols = selectColumns(data, j, opt);
    const theta = fitColumns(data, data.mask, j, cols, opt.ridge);
    cols.forEach((c, k) => (W[c * m + j] = theta[k]));
    b[j] = theta[cols.length];
    selected.push(cols);
  }
  return { params: { hidden: null, out: { inDim: d, outDim: m, W, b } }, selected };
}

/** θ for model j over `cols` and an intercept (last), on the rows `mask` marks known. */
function fitColumns(data: TrainMatrix, mask: Float32Array, j: number, cols: readonly number[], ridge: number): Float64Array {
  const { d, X, Y, m } = data;
  const P = cols.length + 1;
  return fitMaskedLogistic(Y, mask, m, j, P, new Float64Array(P), ridge, (r, x) => {
    for (let k = 0; k < cols.length; k++) x[k] = X[r * d + cols[k]];
    x[cols.length] = 1;
  });
}

function selectColumns(data: TrainMatrix, j: number, opt: SparseFitOptions): number[] {
  const { n, m, mask } = data;
  const known: number[] = [];
  for (let r = 0; r < n; r++) if (mask[r * m + j] > 0) known.push(r);
  if (known.length < 2 * opt.folds) return [];
  // Inner folds over the rows whose outcome is known; each fold's training mask hides its rows.
  shuffleInPlace(known, seededRandom(opt.seed + 7919 * j));
  const foldOf = new Int32Array(n).fill(-1);
  known.forEach((r, i) => (foldOf[r] = i % opt.folds));
  const trainMasks = Array.from({ length: opt.folds }, (_, f) => {
    const out = Float32Array.from(mask);
    for (const r of known) if (foldOf[r] === f) out[r * m + j] = 0;
    return out;
  });
  const cvLoss = (cols: readonly number[]): number => {
    let total = 0;
    let weight = 0;
    for (let f = 0; f < opt.folds; f++) {
      const theta = fitColumns(data, trainMasks[f], j, cols, opt.ridge);
      for (const r of known) {
        if (foldOf[r] !== f) continue;
        const w = mask[r * m + j];
        total += w * logLossAtLogit(rowLogit(data, r, cols, theta), data.Y[r * m + j]);
        weight += w;
      }
    }
    return total / weight;
  };
  const cols: number[] = [];
  let current = cvLoss(cols);
  while (cols.length < Math.min(opt.maxFeatures, data.d)) {
    const candidate = bestScoreCandidate(data, j, cols, fitColumns(data, mask, j, cols, opt.ridge), opt.ridge);
    if (candidate < 0) break;
    const loss = cvLoss([...cols, candidate]);
    if (!(loss < current - opt.minGain)) break;
    cols.push(candidate);
    current = loss;
  }
  return cols;
}

function rowLogit(data: TrainMatrix, r: number, cols: readonly number[], theta: Float64Array): number {
  let z = theta[cols.length];
  for (let k = 0; k < cols.length; k++) z += theta[k] * data.X[r * data.d + cols[k]];
  return z;
}

/**
 * The unused column with the largest score statistic g² / (I − bᵀA⁻¹b): the squared gradient of the
 * penalised log loss in that column's direction, over its information once the columns already in the
 * model are partialled out. -1 when no column is left or none has any information.
 */
function bestScoreCandidate(data: TrainMatrix, j: number, cols: readonly number[], theta: Float64Array, ridge: number): number {
  const { n, d, m, X, Y, mask } = data;
  const P = cols.length + 1;
  let count = 0;
  for (let r = 0; r < n; r++) count += mask[r * m + j];
  const A = new Float64Array(P * P);
  const B = new Float64Array(P * d);
  const info = new Float64Array(d);
  const grad = new Float64Array(d);
  const xc = new Float64Array(P);
  for (let r = 0; r < n; r++) {
    const w = mask[r * m + j] / count;
    if (w === 0) continue;
    const p = sigmoid(rowLogit(data, r, cols, theta));
    const e = w * (p - Y[r * m + j]);
    const v = w * p * (1 - p);
    for (let k = 0; k < cols.length; k++) xc[k] = X[r * d + cols[k]];
    xc[cols.length] = 1;
    for (let a = 0; a < P; a++) for (let c = 0; c < P; c++) A[a * P + c] += v * xc[a] * xc[c];
    for (let c = 0; c < d; c++) {
      const x = X[r * d + c];
      if (x === 0) continue;
      grad[c] += e * x;
      info[c] += v * x * x;
      for (let a = 0; a < P; a++) B[a * d + c] += v * xc[a] * x;
    }
  }
  for (let a = 0; a < P; a++) A[a * P + a] += ridge;
  let best = -1;
  let bestScore = 0;
  const used = new Set(cols);
  const bc = new Float64Array(P);
  for (let c = 0; c < d; c++) {
    if (used.has(c)) continue;
    for (let a = 0; a < P; a++) bc[a] = B[a * d + c];
    const s = solve(A, bc, P);
    if (!s) continue;
    let explained = 0;
    for (let a = 0; a < P; a++) explained += bc[a] * s[a];
    const residual = info[c] - explained + ridge;
    if (!(residual > 1e-12)) continue;
    const score = (grad[c] * grad[c]) / residual;
    if (score > bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}
