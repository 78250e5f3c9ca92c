// The served classifier's shape (one stack of components, or one per kind behind a gate) and its
// predictions computed in JavaScript, which the ONNX export must match.
import { type JointParams, type StackParams, applyJoint, applyStack, stackLogits } from './calibrate';
import { type KnnParams, knnLogitsFromNeighbours, nearestNeighbours } from './knn';
import { pickRows, putRows, sigmoid } from './matrix';
import { type NetworkParams, forwardLogits } from './network';
import { type WordParams, wordLogits } from './words';

/** How a network component prepares its columns: clipped into the training range, then standardised. */
export interface Scaling {
  /**
   * The training rows' range of each column: a row is clipped into it before standardising, so a prompt
   * far outside what training saw (a 40,000-word prompt, a 30-digit number) gets the prediction at the
   * edge of the data, not a linear extrapolation to p = 0 or 1.
   */
  lo: Float32Array;
  hi: Float32Array;
  mean: Float32Array;
  invStd: Float32Array;
}

export type Component =
  | (Scaling & {
      type: 'network';
      name: string;
      /** The feature columns [start, end) this component reads (all, the embedding, or the extra features). */
      columns: { start: number; end: number };
      params: NetworkParams;
    })
  | { type: 'knn'; name: string; params: KnnParams }
  | { type: 'words'; name: string; params: WordParams };

export interface ClassifierSpec {
  models: string[];
  /** Length of a feature row. */
  inputDim: number;
  /** The leading part of a feature row that is the embedding (what kNN compares). */
  embeddingDim: number;
  components: Component[];
  stack: StackParams;
  /** Optional joint layer over the stack's logits (calibrate.ts), when it routed better out of fold. */
  joint?: JointParams;
}

/**
 * Several classifiers, one per kind of prompt, and a gate that tells the kinds apart from the prompt's
 * features (training/experts.ts): a row is served by its kind's classifier. All read the same feature row.
 */
export interface GatedSpec {
  models: string[];
  inputDim: number;
  embeddingDim: number;
  /** The kinds, in the gate's output order (the first segment of the training rows' sources). */
  kinds: string[];
  /** Logistic regression over the dense features with one output per kind; a row goes to its largest. */
  gate: Extract<Component, { type: 'network' }>;
  /**
   * One classifier per kind, in `kinds` order, each over the models its kind records (`models`, or some of
   * them). A model is served by the expert of the kind the gate scores highest among those whose expert
   * predicts it: with every expert over every model, simply the row's kind's.
   */
  experts: ClassifierSpec[];
}

/** Per model of a gated spec: the experts predicting it, each with the model's column among its outputs. */
export function modelExperts(spec: Pick<GatedSpec, 'models' | 'experts'>): { expert: number; column: number }[][] {
  return spec.models.map((model) =>
    spec.experts.flatMap((x, e) => (x.models.includes(model) ? [{ expert: e, column: x.models.indexOf(model) }] : [])),
  );
}

/** Every expert predicts every model, in the spec's order: a row takes its kind's expert whole. */
export const expertsCoverAll = (spec: Pick<GatedSpec, 'models' | 'experts'>): boolean =>
  spec.experts.every((x) => x.models.length === spec.models.length && x.models.every((model, j) => model === spec.models[j]));

/** What a classifier version serves. */
export type ServedSpec = ClassifierSpec | GatedSpec;

export const isGated = (spec: ServedSpec): spec is GatedSpec => 'experts' in spec;

/** Clipped-column helpers shared by training (component-recipes.ts) and prediction (below). */
export function sliceColumns(X: Float32Array, n: number, d: number, { start, end }: { start: number; end: number }): Float32Array {
  if (start === 0 && end === d) return X;
  const w = end - start;
  const out = new Float32Array(n * w);
  for (let r = 0; r < n; r++) out.set(X.subarray(r * d + start, r * d + end), r * w);
  return out;
}

export function standardizer(X: Float32Array, n: number, d: number): Scaling {
  const lo = new Float32Array(d);
  const hi = new Float32Array(d);
  const mean = new Float32Array(d);
  const invStd = new Float32Array(d);
  for (let c = 0; c < d; c++) {
    let s = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let r = 0; r < n; r++) {
      const x = X[r * d + c];
      s += x;
      if (x < min) min = x;
      if (x > max) max = x;
    }
    // No rows: nothing to clip to.
    lo[c] = n > 0 ? min : -Infinity;
    hi[c] = n > 0 ? max : Infinity;
    const mu = n > 0 ? s / n : 0;
    let v = 0;
    for (let r = 0; r < n; r++) v += (X[r * d + c] - mu) ** 2;
    const sd = n > 1 ? Math.sqrt(v / (n - 1)) : 1;
    mean[c] = mu;
    invStd[c] = sd > 1e-8 ? 1 / sd : 1;
  }
  return { lo, hi, mean, invStd };
}

/** Clipped into the training range, then centred and scaled (what the ONNX graph does: Max, Min, Sub, Mul). */
export function standardize(X: Float32Array, n: number, d: number, { lo, hi, mean, invStd }: Scaling): Float32Array {
  const out = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < d; c++) out[r * d + c] = (Math.min(Math.max(X[r * d + c], lo[c]), hi[c]) - mean[c]) * invStd[c];
  }
  return out;
}

export async function componentLogits(c: Component, X: Float32Array, n: number, d: number): Promise<Float32Array> {
  if (c.type === 'network') {
    const w = c.columns.end - c.columns.start;
    return forwardLogits(c.params, standardize(sliceColumns(X, n, d, c.columns), n, w, c), n);
  }
  if (c.type === 'words') return wordLogits(c.params, X, n, d);
  if (n === 0) return new Float32Array(0);
  return knnLogitsFromNeighbours(c.params, await nearestNeighbours(c.params, X, n, d), n);
}

/** Of the candidate columns, the one with the largest logit in row r of z [n×k] (ties: the first, as ONNX ArgMax). */
export function argmaxAmong(z: Float32Array, r: number, k: number, candidates: readonly number[]): number {
  let best = candidates[0];
  for (const c of candidates) if (z[r * k + c] > z[r * k + best]) best = c;
  return best;
}

/** The gate's kind (an index into `spec.kinds`) for each of n rows: the largest of its logits. */
export async function gateKinds(spec: Pick<GatedSpec, 'kinds' | 'gate' | 'inputDim'>, X: Float32Array, n: number): Promise<Int32Array> {
  const k = spec.kinds.length;
  const z = await componentLogits(spec.gate, X, n, spec.inputDim);
  const every = Array.from({ length: k }, (_, c) => c);
  return Int32Array.from({ length: n }, (_, r) => argmaxAmong(z, r, k, every));
}

/** Probabilities [n×m] computed in JavaScript (and onnxruntime for the neighbour search). */
export async function predictSpec(spec: ServedSpec, X: Float32Array, n: number): Promise<Float32Array> {
  if (isGated(spec)) {
    const m = spec.models.length;
    const d = spec.inputDim;
    const out = new Float32Array(n * m);
    if (expertsCoverAll(spec)) {
      const kind = await gateKinds(spec, X, n);
      for (let e = 0; e < spec.experts.length; e++) {
        const rows = Array.from(kind.keys()).filter((r) => kind[r] === e);
        if (rows.length === 0) continue;
        putRows(out, await predictSpec(spec.experts[e], pickRows(X, rows, d), rows.length), rows, m);
      }
      return out;
    }
    // Per model, the expert of the gate's likeliest kind among those predicting it. Every expert runs on
    // every row, as in the graph.
    const k = spec.kinds.length;
    const z = await componentLogits(spec.gate, X, n, spec.inputDim);
    const P: Float32Array[] = [];
    for (const x of spec.experts) P.push(await predictSpec(x, X, n));
    modelExperts(spec).forEach((serving, j) => {
      if (serving.length === 0) throw new Error(`gated classifier: no expert predicts ${spec.models[j]}`);
      const experts = serving.map((c) => c.expert);
      for (let r = 0; r < n; r++) {
        const best = serving[experts.indexOf(argmaxAmong(z, r, k, experts))];
        out[r * m + j] = P[best.expert][r * spec.experts[best.expert].models.length + best.column];
      }
    });
    return out;
  }
  const logits: Float32Array[] = [];
  for (const c of spec.components) logits.push(await componentLogits(c, X, n, spec.inputDim));
  if (!spec.joint) return applyStack(logits, spec.stack, spec.models.length);
  return applyJoint(stackLogits(logits, spec.stack, spec.models.length), spec.joint, spec.models.length).map(sigmoid);
}
