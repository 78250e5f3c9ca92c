// The parametric success model: multi-output logistic regression (no hidden layer) or a one-hidden-layer
// MLP, trained with Adam on a masked binary cross-entropy. Unknown outcomes (mask 0) contribute nothing,
// and graded outcomes in (0,1) are soft labels, which BCE handles as is.
import { type TrainMatrix, baseRates, seededRandom, shuffleInPlace, sigmoid } from './matrix';

export interface DenseLayer {
  inDim: number;
  outDim: number;
  /** Row-major [inDim × outDim]: the ONNX MatMul layout. */
  W: Float32Array;
  b: Float32Array;
}

export interface NetworkParams {
  hidden: DenseLayer | null;
  out: DenseLayer;
}

export interface FitOptions {
  /** 0 for logistic regression. */
  hiddenUnits: number;
  l2: number;
  epochs: number;
  learningRate: number;
  batchSize: number;
  seed: number;
}

export const DEFAULT_FIT: FitOptions = { hiddenUnits: 0, l2: 1e-4, epochs: 40, learningRate: 0.01, batchSize: 128, seed: 1 };

function layer(inDim: number, outDim: number, random: () => number, scale: number): DenseLayer {
  const W = new Float32Array(inDim * outDim);
  // Uniform Glorot-style initialisation; small and seeded.
  for (let i = 0; i < W.length; i++) W[i] = (random() * 2 - 1) * scale;
  return { inDim, outDim, W, b: new Float32Array(outDim) };
}

/** out[n×o] = in[n×i] · W + b, optionally ReLU. */
function dense(input: Float32Array, n: number, l: DenseLayer, relu: boolean, out = new Float32Array(n * l.outDim)): Float32Array {
  const { inDim, outDim, W, b } = l;
  for (let r = 0; r < n; r++) {
    const o = r * outDim;
    for (let j = 0; j < outDim; j++) out[o + j] = b[j];
    const x = r * inDim;
    for (let k = 0; k < inDim; k++) {
      const v = input[x + k];
      if (v === 0) continue;
      const w = k * outDim;
      for (let j = 0; j < outDim; j++) out[o + j] += v * W[w + j];
    }
    if (relu) for (let j = 0; j < outDim; j++) if (out[o + j] < 0) out[o + j] = 0;
  }
  return out;
}

/** Logits [n×m] for rows X [n×d]. */
export function forwardLogits(params: NetworkParams, X: Float32Array, n: number): Float32Array {
  const h = params.hidden ? dense(X, n, params.hidden, true) : X;
  return dense(h, n, params.out, false);
}

interface AdamSlot { p: Float32Array; g: Float32Array; m: Float32Array; v: Float32Array; decay: boolean }

export function fitNetwork(data: TrainMatrix, options: Partial<FitOptions> = {}): NetworkParams {
  const opt = { ...DEFAULT_FIT, ...options };
  const { n, d, m, X, Y, mask } = data;
  const random = seededRandom(opt.seed);
  const H = opt.hiddenUnits;
  const hidden = H > 0 ? layer(d, H, random, Math.sqrt(6 / (d + H))) : null;
  const out = layer(H > 0 ? H : d, m, random, H > 0 ? Math.sqrt(6 / (H + m)) : 0);
  // Start each output at its base rate so early epochs learn differences, not the mean.
  baseRates(Y.subarray(0, n * m), mask.subarray(0, n * m), m).forEach((r, j) => {
    const rate = Math.min(0.99, Math.max(0.01, r));
    out.b[j] = Math.log(rate / (1 - rate));
  });
  const slot = (p: Float32Array, decay: boolean): AdamSlot => ({
    p, g: new Float32Array(p.length), m: new Float32Array(p.length), v: new Float32Array(p.length), decay,
  });
  const slots: AdamSlot[] = [slot(out.W, true), slot(out.b, false)];
  if (hidden) slots.push(slot(hidden.W, true), slot(hidden.b, false));

  const B = opt.batchSize;
  const inDimOut = out.inDim;
  const xb = new Float32Array(B * d);
  const hb = new Float32Array(B * Math.max(H, 1));
  const logits = new Float32Array(B * m);
  const dz = new Float32Array(B * m);
  const dh = new Float32Array(B * Math.max(H, 1));
  const order = Array.from({ length: n }, (_, i) => i);
  const beta1 = 0.9;
  const beta2 = 0.999;
  let step = 0;

  for (let epoch = 0; epoch < opt.epochs; epoch++) {
    shuffleInPlace(order, random);
    for (let start = 0; start < n; start += B) {
      const bs = Math.min(B, n - start);
      for (let i = 0; i < bs; i++) xb.set(X.subarray(order[start + i] * d, order[start + i] * d + d), i * d);
      const act = hidden ? dense(xb, bs, hidden, true, hb) : xb;
      dense(act, bs, out, false, logits);
      let known = 0;
      for (let i = 0; i < bs; i++) {
        const r = order[start + i];
        for (let j = 0; j < m; j++) {
          const w = mask[r * m + j];
          known += w;
          dz[i * m + j] = w * (sigmoid(logits[i * m + j]) - Y[r * m + j]);
        }
      }
      if (known === 0) continue;
      const inv = 1 / known;
      for (const s of slots) s.g.fill(0);
      // Output layer gradients.
      const gW = slots[0].g;
      const gb = slots[1].g;
      for (let i = 0; i < bs; i++) {
        for (let j = 0; j < m; j++) {
          const g = dz[i * m + j] * inv;
          dz[i * m + j] = g;
          gb[j] += g;
        }
        for (let k = 0; k < inDimOut; k++) {
          const a = act[i * inDimOut + k];
          if (a === 0) continue;
          const w = k * m;
          for (let j = 0; j < m; j++) gW[w + j] += a * dz[i * m + j];
        }
      }
      if (hidden) {
        const gW1 = slots[2].g;
        const gb1 = slots[3].g;
        for (let i = 0; i < bs; i++) {
          for (let k = 0; k < H; k++) {
            if (hb[i * H + k] <= 0) {
              dh[i * H + k] = 0;
              continue;
            }
            let s = 0;
            const w = k * m;
            for (let j = 0; j < m; j++) s += out.W[w + j] * dz[i * m + j];
            dh[i * H + k] = s;
            gb1[k] += s;
          }
          for (let c = 0; c < d; c++) {
            const x = xb[i * d + c];
            if (x === 0) continue;
            const w = c * H;
            for (let k = 0; k < H; k++) gW1[w + k] += x * dh[i * H + k];
          }
        }
      }
      step++;
      const lr = opt.learningRate * Math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step);
      for (const s of slots) {
        const { p, g, m: m1, v } = s;
        for (let i = 0; i < p.length; i++) {
          const gi = g[i] + (s.decay ? opt.l2 * p[i] : 0);
          m1[i] = beta1 * m1[i] + (1 - beta1) * gi;
          v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
          p[i] -= (lr * m1[i]) / (Math.sqrt(v[i]) + 1e-8);
        }
      }
    }
  }
  return { hidden, out };
}

/** Mean masked binary cross-entropy of probabilities P against soft labels (what training minimises). */
export function maskedLogLoss(P: Float32Array, Y: Float32Array, mask: Float32Array): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < P.length; i++) {
    if (mask[i] === 0) continue;
    const p = Math.min(1 - 1e-7, Math.max(1e-7, P[i]));
    s -= mask[i] * (Y[i] * Math.log(p) + (1 - Y[i]) * Math.log(1 - p));
    c += mask[i];
  }
  return c > 0 ? s / c : NaN;
}
