// Calibration and stacking per model: p = sigmoid(Σ_k w_k·z_k + b), fitted on out-of-fold logits z_k of
// one or more components. With one component this is Platt scaling; with several it also learns how much
// to trust each (e.g. the parametric model versus nearest neighbours). Fitted by Newton's method on the
// masked soft-label log loss, with a small ridge towards w = 1/K, b = 0 so tiny sets stay sane, against
// Platt's smoothed targets (plattTargets) so a few dozen outcomes cannot teach it certainty.
import { logLossAtLogit, sigmoid } from './matrix';

export interface StackParams {
  /** weights[k][j]: component k's weight for model j. */
  weights: Float32Array[];
  bias: Float32Array;
}

/**
 * Platt's targets (Platt 1999; Lin, Lin and Weng 2007): per model, a success counts as (N₊ + 1)/(N₊ + 2)
 * and a failure as 1/(N₋ + 2), N₊ and N₋ the model's known successes and failures (graded outcomes
 * count by their score, and map linearly in between). A calibration fitted on 0s and 1s pushes a
 * component that happens to separate 30 training rows to p = 0.999, and the first failure the router
 * meets costs it dearly; with these targets 27 successes and 3 failures give at most 28/29 ≈ 0.97, while
 * thousands of outcomes move a target by under 0.001. `copies`: the rows hold that many copies of each
 * outcome (several draws of the inner folds pooled), which count once.
 */
export function plattTargets(Y: Float32Array, mask: Float32Array, m: number, copies = 1): Float32Array {
  const out = new Float32Array(Y.length);
  const { pos, neg } = modelCounts(Y, mask, m, copies);
  for (let j = 0; j < m; j++) {
    const hi = (pos[j] + 1) / (pos[j] + 2);
    const lo = 1 / (neg[j] + 2);
    for (let i = j; i < Y.length; i += m) out[i] = mask[i] ? lo + Y[i] * (hi - lo) : Y[i];
  }
  return out;
}

/** Per model: its known successes and failures (graded outcomes by their score), each copy counted once. */
function modelCounts(Y: Float32Array, mask: Float32Array, m: number, copies: number): { pos: number[]; neg: number[] } {
  const pos = new Array<number>(m).fill(0);
  const neg = new Array<number>(m).fill(0);
  for (let i = 0; i < Y.length; i++) {
    if (!mask[i]) continue;
    pos[i % m] += Y[i];
    neg[i % m] += 1 - Y[i];
  }
  return { pos: pos.map((v) => v / copies), neg: neg.map((v) => v / copies) };
}

/**
 * Known outcomes a model needs for the stack to weigh its components. With fewer, a component fitted on
 * them says the same for every prompt, and says it with certainty: a model with one success in the store
 * was served p 0.98–0.999 on every prompt, so the per-request bar sent it everything. Such a model gets
 * its smoothed success rate (Platt's (N₊ + 1)/(N + 2)) for every prompt until it has outcomes enough.
 */
export const MIN_STACK_OUTCOMES = 10;

/** Per model: its known outcomes (each copy counted once) and Platt's smoothed success rate. */
function knownRates(Y: Float32Array, mask: Float32Array, m: number, copies: number): { known: number[]; rate: number[] } {
  const { pos, neg } = modelCounts(Y, mask, m, copies);
  const known = pos.map((p, j) => p + neg[j]);
  return { known, rate: pos.map((p, j) => (p + 1) / (known[j] + 2)) };
}

/** `copies`: the rows hold that many copies of each outcome (see `plattTargets`); the ridge is per outcome already. */
export function fitStack(components: readonly Float32Array[], Y: Float32Array, mask: Float32Array, m: number, ridge = 1e-3, copies = 1): StackParams {
  const T = plattTargets(Y, mask, m, copies);
  const K = components.length;
  const weights = Array.from({ length: K }, () => new Float32Array(m));
  const bias = new Float32Array(m);
  const prior = new Float64Array(K + 1).fill(1 / K);
  prior[K] = 0;
  const { known, rate } = knownRates(Y, mask, m, copies);
  for (let j = 0; j < m; j++) {
    if (known[j] < MIN_STACK_OUTCOMES) {
      bias[j] = Math.log(rate[j] / (1 - rate[j]));
      continue;
    }
    const theta = fitMaskedLogistic(T, mask, m, j, K + 1, prior, ridge, (r, x) => {
      for (let k = 0; k < K; k++) x[k] = components[k][r * m + j];
      x[K] = 1;
    });
    for (let k = 0; k < K; k++) weights[k][j] = theta[k];
    bias[j] = theta[K];
  }
  return { weights, bias };
}

/** The stack's logits [n×m] (before the sigmoid). */
export function stackLogits(components: readonly Float32Array[], params: StackParams, m: number): Float32Array {
  const out = new Float32Array(components[0].length);
  for (let i = 0; i < out.length; i++) {
    const j = i % m;
    let z = params.bias[j];
    for (let k = 0; k < components.length; k++) z += params.weights[k][j] * components[k][i];
    out[i] = z;
  }
  return out;
}

export function applyStack(components: readonly Float32Array[], params: StackParams, m: number): Float32Array {
  return stackLogits(components, params, m).map(sigmoid);
}

/**
 * A joint layer over the stack's logits z (one row's m values): model j's logit becomes
 * b_j + Σ_k A[j,k]·z_k + Σ_k B[j,k]·z_j·z_k. The models' outcomes are correlated (a question one model
 * fails, the others often fail too), and what a dearer model adds depends on both models' odds together,
 * which separate per-model calibrations cannot express. Ridge towards the identity (A = I, B = 0, b = 0),
 * so with little data it stays the stack.
 */
export interface JointParams {
  /** Row-major m×m. */
  linear: Float32Array;
  quadratic: Float32Array;
  bias: Float32Array;
}

export function fitJoint(Z: Float32Array, Y: Float32Array, mask: Float32Array, m: number, ridge = 1e-3, copies = 1): JointParams {
  const T = plattTargets(Y, mask, m, copies);
  const linear = new Float32Array(m * m);
  const quadratic = new Float32Array(m * m);
  const bias = new Float32Array(m);
  const P = 2 * m + 1;
  const { known } = knownRates(Y, mask, m, copies);
  for (let j = 0; j < m; j++) {
    // Too few outcomes to learn from (fitStack): the identity, which keeps the stack's constant rate.
    if (known[j] < MIN_STACK_OUTCOMES) {
      linear[j * m + j] = 1;
      continue;
    }
    const prior = new Float64Array(P);
    prior[j] = 1;
    const theta = fitMaskedLogistic(T, mask, m, j, P, prior, ridge, (r, x) => {
      const zj = Z[r * m + j];
      for (let k = 0; k < m; k++) {
        x[k] = Z[r * m + k];
        x[m + k] = zj * Z[r * m + k];
      }
      x[2 * m] = 1;
    });
    for (let k = 0; k < m; k++) {
      linear[j * m + k] = theta[k];
      quadratic[j * m + k] = theta[m + k];
    }
    bias[j] = theta[2 * m];
  }
  return { linear, quadratic, bias };
}

/** The joint layer's logits for stack logits Z [n×m]. */
export function applyJoint(Z: Float32Array, params: JointParams, m: number): Float32Array {
  const out = new Float32Array(Z.length);
  for (let r = 0; r < Z.length / m; r++) {
    for (let j = 0; j < m; j++) {
      const zj = Z[r * m + j];
      let s = params.bias[j];
      for (let k = 0; k < m; k++) s += (params.linear[j * m + k] + params.quadratic[j * m + k] * zj) * Z[r * m + k];
      out[r * m + j] = s;
    }
  }
  return out;
}

/**
 * Logistic regression for model j's column by damped Newton on the masked soft-label log loss (each
 * known outcome weighted 1/count), with a ridge pulling the P parameters towards `prior`. `fill(r, x)`
 * writes row r's P features into x.
 */
export function fitMaskedLogistic(
  Y: Float32Array,
  mask: Float32Array,
  m: number,
  j: number,
  P: number,
  prior: Float64Array,
  ridge: number,
  fill: (r: number, x: Float64Array) => void,
): Float64Array {
  const n = Y.length / m;
  let count = 0;
  for (let r = 0; r < n; r++) count += mask[r * m + j];
  const theta = Float64Array.from(prior);
  if (count === 0) return theta;
  const x = new Float64Array(P);
  // Row r's features into x, and its logit under th.
  const rowLogit = (th: Float64Array, r: number): number => {
    fill(r, x);
    let z = 0;
    for (let a = 0; a < P; a++) z += th[a] * x[a];
    return z;
  };
  const loss = (th: Float64Array): number => {
    let total = 0;
    for (let a = 0; a < P; a++) total += (ridge / 2) * (th[a] - prior[a]) ** 2;
    for (let r = 0; r < n; r++) {
      const w = mask[r * m + j] / count;
      if (w === 0) continue;
      total += w * logLossAtLogit(rowLogit(th, r), Y[r * m + j]);
    }
    return total;
  };
  for (let iter = 0; iter < 50; iter++) {
    const g = new Float64Array(P);
    const h = new Float64Array(P * P);
    for (let a = 0; a < P; a++) {
      g[a] = ridge * (theta[a] - prior[a]);
      h[a * P + a] = ridge;
    }
    for (let r = 0; r < n; r++) {
      const w = mask[r * m + j] / count;
      if (w === 0) continue;
      const p = sigmoid(rowLogit(theta, r));
      const e = (p - Y[r * m + j]) * w;
      const hw = p * (1 - p) * w;
      for (let a = 0; a < P; a++) {
        g[a] += e * x[a];
        for (let b = 0; b <= a; b++) h[a * P + b] += hw * x[a] * x[b];
      }
    }
    for (let a = 0; a < P; a++) for (let b = 0; b < a; b++) h[b * P + a] = h[a * P + b];
    const step = solve(h, g, P);
    if (!step) break;
    // Damped Newton: halve the step until the loss goes down. Saturated logits (an over-confident
    // component) make the Hessian tiny and a full step would overshoot.
    const before = loss(theta);
    let scale = 1;
    let next = theta;
    for (let tries = 0; tries < 30; tries++, scale /= 2) {
      next = theta.map((v, a) => v - scale * step[a]);
      if (loss(next) <= before) break;
    }
    let moved = 0;
    for (let a = 0; a < P; a++) moved += Math.abs(next[a] - theta[a]);
    theta.set(next);
    if (moved < 1e-7) break;
  }
  return theta;
}

/** Gaussian elimination with partial pivoting; null when singular. */
export function solve(A: Float64Array, b: Float64Array, n: number): Float64Array | null {
  const M = Float64Array.from(A);
  const x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c]) > Math.abs(M[piv * n + c])) piv = r;
    if (Math.abs(M[piv * n + c]) < 1e-12) return null;
    if (piv !== c) {
      for (let k = 0; k < n; k++) [M[c * n + k], M[piv * n + k]] = [M[piv * n + k], M[c * n + k]];
      [x[c], x[piv]] = [x[piv], x[c]];
    }
    for (let r = c + 1; r < n; r++) {
      const f = M[r * n + c] / M[c * n + c];
      if (f === 0) continue;
      for (let k = c; k < n; k++) M[r * n + k] -= f * M[c * n + k];
      x[r] -= f * x[c];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r];
    for (let k = r + 1; k < n; k++) s -= M[r * n + k] * x[k];
    x[r] = s / M[r * n + r];
  }
  return x;
}
