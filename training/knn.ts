// Nearest-neighbour success rates: for a prompt, the similarity-weighted share of its k most similar
// training prompts that each model answered well, shrunk towards the model's base rate. It captures
// local structure (a topic a model is bad at) that a linear model over the embedding smooths away.
import * as ort from 'onnxruntime-node';
import { attr, buildModel, floatTensor, int64Tensor, node, serializeModel, valueInfo } from '../src/onnx/onnx-builder';
import { baseRates, logit } from './matrix';

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
  for (let i = 0; i < t * m; i++) {
    labelSum[i] = Y[i] * mask[i];
    labelCount[i] = mask[i];
  }
  const prior = Float32Array.from(baseRates(Y.subarray(0, t * m), mask.subarray(0, t * m), m));
  return { keys, t, d, m, labelSum, labelCount, prior, k: Math.min(options.k, t), temperature: options.temperature, alpha: options.alpha };
}

/** Rows of queries per onnxruntime call: bounds the similarity block to ROWS × t floats. */
const ROWS_PER_RUN = 1024;

/**
 * The k most similar keys of every query row, by onnxruntime (a MatMul and a TopK: the same graph the
 * exported classifier runs, and an order of magnitude faster than a JavaScript loop on 10k × 10k rows).
 */
export async function nearestNeighbours(params: Pick<KnnParams, 'keys' | 't' | 'd' | 'k'>, X: Float32Array, n: number, stride: number): Promise<{ sim: Float32Array; idx: Int32Array }> {
  const { keys, t, d, k } = params;
  const keysT = new Float32Array(d * t);
  for (let i = 0; i < t; i++) for (let c = 0; c < d; c++) keysT[c * t + i] = keys[i * d + c];
  const model = buildModel({
    name: 'knn_search',
    inputs: [valueInfo('q', 'float32', ['n', d])],
    outputs: [valueInfo('sim', 'float32', ['n', k]), valueInfo('idx', 'int64', ['n', k])],
    initializers: [floatTensor('keys_t', [d, t], keysT), int64Tensor('k', [1], [k])],
    nodes: [node('MatMul', ['q', 'keys_t'], ['s']), node('TopK', ['s', 'k'], ['sim', 'idx'], { axis: attr.int(1), largest: attr.int(1), sorted: attr.int(1) })],
  });
  const session = await ort.InferenceSession.create(serializeModel(model), { graphOptimizationLevel: 'all' });
  const sim = new Float32Array(n * k);
  const idx = new Int32Array(n * k);
  try {
    for (let r0 = 0; r0 < n; r0 += ROWS_PER_RUN) {
      const rows = Math.min(ROWS_PER_RUN, n - r0);
      const q = new Float32Array(rows * d);
      for (let r = 0; r < rows; r++) q.set(X.subarray((r0 + r) * stride, (r0 + r) * stride + d), r * d);
      const out = await session.run({ q: new ort.Tensor('float32', q, [rows, d]) });
      sim.set(out.sim.data as Float32Array, r0 * k);
      const ids = out.idx.data as BigInt64Array;
      for (let i = 0; i < ids.length; i++) idx[r0 * k + i] = Number(ids[i]);
    }
  } finally {
    await session.release();
  }
  return { sim, idx };
}

/** Logits [n×m] from each query's precomputed neighbours (sorted by similarity, best first). */
export function knnLogitsFromNeighbours(params: KnnParams, nb: { sim: Float32Array; idx: Int32Array }, n: number): Float32Array {
  const { m, k, labelSum, labelCount, prior, alpha, temperature } = params;
  const out = new Float32Array(n * m);
  const num = new Float64Array(m);
  const den = new Float64Array(m);
  for (let r = 0; r < n; r++) {
    const base = r * k;
    for (let j = 0; j < m; j++) {
      num[j] = alpha * prior[j];
      den[j] = alpha;
    }
    for (let a = 0; a < k; a++) {
      const w = Math.exp((nb.sim[base + a] - nb.sim[base]) / temperature);
      const o = nb.idx[base + a] * m;
      for (let j = 0; j < m; j++) {
        num[j] += w * labelSum[o + j];
        den[j] += w * labelCount[o + j];
      }
    }
    for (let j = 0; j < m; j++) out[r * m + j] = logit(num[j] / den[j], 1e-4);
  }
  return out;
}
