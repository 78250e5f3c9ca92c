// Where the average policy's λ comes from, per classifier: the classifier's reference prompts priced at
// the configured prices (read on first use), then the recent traffic's once there is enough of it; the
// curve over each, and λ per target cached per curve. A request that narrows the models (router.models)
// gets λ from a curve over the same prompts and only those models, cached per model set. Targets and
// model sets are few in practice, but bounded.
import type { ModelConfig } from '../config/schema';
import type { SuccessClassifier } from './classifier';
import type { ClassifierReference } from './classifier-reference';
import { estimateCost, outputTokensFor } from './cost';
import { TrafficWindow } from './traffic-window';
import { type ValueCurve, lambdaForTarget, valueCurve } from './value-policy';

export interface LambdaBasis {
  source: 'reference' | 'traffic';
  prompts: number;
}

/** How the average policy follows the traffic (see traffic-window.ts). */
export interface AverageOptions {
  /** Recent prompts kept; 0: λ always comes from the classifier's reference prompts. */
  trafficWindow: number;
  /** Routed prompts needed before they replace the reference prompts. */
  minTraffic: number;
  /** Least time between two rebuilds of λ from the window (each costs ≈ 6 ms for 2,000 prompts × 11 models). */
  refreshMs: number;
}

/** Prompts λ can be set on: their predictions and costs over the policy's models (row-major), and the curve over all of those models. */
interface Basis {
  P: Float64Array;
  C: Float64Array;
  n: number;
  curve: ValueCurve;
  basis: LambdaBasis;
}

/** Narrowed model sets (router.models) priced with their own λ per set of prompts λ is set on. */
export const MAX_MODEL_SETS = 32;

export const DEFAULT_AVERAGE_OPTIONS: AverageOptions = { trafficWindow: 2000, minTraffic: 200, refreshMs: 5000 };

export interface LambdaSourceDeps {
  models: readonly ModelConfig[];
  average: AverageOptions;
  /** Milliseconds on a monotonic clock: the traffic curve's refresh. */
  now: () => number;
  /** The answer lengths learned from the log; a new map re-prices the reference curve. */
  answerLengths: () => ReadonlyMap<string, number>;
  expectedOutputTokens: number;
}

/** What the router reads of one classifier's average-policy state. */
export interface PolicyState {
  readonly models: readonly string[];
  /** The classifier's columns of the configured models, in its order. */
  readonly cols: readonly number[];
  /** For each of those columns, the model's index among the configured ones (and the request's reports). */
  readonly configured: readonly number[];
  /** The recent traffic; every routed prompt joins it, whatever policy routed it. */
  readonly traffic: TrafficWindow | null;
}

/** The rest of it: the curves and λ cached for the classifier. */
interface State extends PolicyState {
  /** The classifier's reference prompts, read once. */
  readonly ref: ClassifierReference | null;
  /** Built on first use (≈ 20 ms for 2,000 prompts × 11 models): a per-request deployment never pays. */
  reference: Basis | null | undefined;
  /** The learned answer lengths `reference` was priced with. */
  referenceLengths: ReadonlyMap<string, number> | undefined;
  trafficBasis: (Basis & { builtAt: number; builtAtTotal: number }) | null;
  /** Per model set ('*': all of `cols`): its curve over `pricedFrom`'s prompts and λ per target. */
  readonly priced: Map<string, { curve: ValueCurve; lambdas: Map<number, number> }>;
  pricedFrom: Basis | null;
}

export interface LambdaSource {
  /** The classifier's state, made on first use and dropped with the classifier. */
  stateOf(classifier: SuccessClassifier): PolicyState;
  /** λ for the target over the current prompts; `positions`: the request's models as positions in `stateOf(classifier).cols`, null: all. */
  lambdaFor(classifier: SuccessClassifier, target: number, positions: readonly number[] | null): { lambda: number; basis: LambdaBasis } | null;
  /** Builds the reference curve now, so the first request after a swap does not pay for it. */
  warm(classifier: SuccessClassifier): void;
}

export function createLambdaSource(deps: LambdaSourceDeps): LambdaSource {
  const { average, now } = deps;
  const learned = deps.answerLengths;
  const byId = new Map(deps.models.map((m) => [m.id, m]));
  const modelIds = deps.models.map((m) => m.id);
  const states = new WeakMap<SuccessClassifier, State>();
  function stateOf(classifier: SuccessClassifier): State {
    let state = states.get(classifier);
    if (!state) {
      const cols = classifier.models.flatMap((m, j) => (byId.has(m) ? [j] : []));
      const ref = classifier.reference;
      state = {
        models: classifier.models,
        ref: ref ?? null,
        cols,
        configured: cols.map((j) => modelIds.indexOf(classifier.models[j])),
        reference: undefined,
        referenceLengths: undefined,
        traffic: average.trafficWindow > 0 && cols.length > 0 ? new TrafficWindow(average.trafficWindow, cols.length) : null,
        trafficBasis: null,
        priced: new Map(),
        pricedFrom: null,
      };
      states.set(classifier, state);
    }
    return state;
  }
  /** The prompts λ is set on now: the traffic's once there are enough of them, else the reference's. */
  function currentBasis(state: State): Basis | null {
    const window = state.traffic;
    if (window && window.size >= Math.min(average.minTraffic, window.capacity)) {
      const t = now();
      const built = state.trafficBasis;
      if (!built || (window.total > built.builtAtTotal && t - built.builtAt >= average.refreshMs)) {
        const { P, C, n } = window.rows();
        const curve = valueCurve(P, C, n, window.width);
        state.trafficBasis = { P, C, n, curve, basis: { source: 'traffic', prompts: n }, builtAt: t, builtAtTotal: window.total };
      }
      return state.trafficBasis;
    }
    return referenceOf(state);
  }
  function referenceOf(state: State): Basis | null {
    const lengths = learned();
    if (state.reference === undefined || state.referenceLengths !== lengths) {
      state.reference = state.ref ? referenceBasis(state.ref, state.models, state.cols, (id) => byId.get(id)!, lengths, deps.expectedOutputTokens) : null;
      state.referenceLengths = lengths;
    }
    return state.reference;
  }
  function lambdaFor(classifier: SuccessClassifier, target: number, positions: readonly number[] | null): { lambda: number; basis: LambdaBasis } | null {
    const state = stateOf(classifier);
    const current = currentBasis(state);
    if (!current) return null;
    if (state.pricedFrom !== current) {
      state.priced.clear();
      state.pricedFrom = current;
    }
    // A narrowed curve costs ≈ 9 ms (2,000 prompts × 10 models): at most MAX_MODEL_SETS of them per set of
    // prompts, so clients cycling through model sets cannot make every request pay for one; further sets
    // are priced with the full set's λ until the prompts are next re-read.
    const sets = state.priced.size - (state.priced.has('*') ? 1 : 0);
    const narrowed = positions !== null && (state.priced.has(positions.join(',')) || sets < MAX_MODEL_SETS);
    const key = narrowed ? positions.join(',') : '*';
    let entry = state.priced.get(key);
    if (!entry) {
      entry = { curve: narrowed ? narrowedCurve(current, state.cols.length, positions) : current.curve, lambdas: new Map() };
      state.priced.set(key, entry);
    }
    if (entry.lambdas.size >= 1024) entry.lambdas.clear();
    let lambda = entry.lambdas.get(target);
    if (lambda === undefined) {
      lambda = lambdaForTarget(entry.curve, target);
      entry.lambdas.set(target, lambda);
    }
    return { lambda, basis: current.basis };
  }

  return { stateOf, lambdaFor, warm: (classifier) => void referenceOf(stateOf(classifier)) };
}

/** The reference prompts' predictions and costs over the configured models the classifier knows. */
function referenceBasis(
  ref: ClassifierReference,
  models: readonly string[],
  cols: readonly number[],
  configOf: (id: string) => ModelConfig,
  lengths: ReadonlyMap<string, number>,
  outputTokens: number,
): Basis | null {
  if (ref.p.length === 0 || cols.length === 0) return null;
  const n = ref.p.length;
  const P = new Float64Array(n * cols.length);
  const C = new Float64Array(n * cols.length);
  const priced = cols.map((j) => {
    const model = configOf(models[j]);
    return { price: model.price, tokens: outputTokensFor(model.expectedOutputTokens, lengths.get(model.id), undefined, outputTokens).tokens };
  });
  for (let i = 0; i < n; i++) {
    priced.forEach((m, k) => {
      P[i * cols.length + k] = ref.p[i][cols[k]];
      C[i * cols.length + k] = estimateCost(m.price, ref.inputTokens[i], m.tokens);
    });
  }
  return { P, C, n, curve: valueCurve(P, C, n, cols.length), basis: { source: 'reference', prompts: n } };
}

/** The curve over the same prompts with only the models at `positions` (of `width` per prompt). */
function narrowedCurve(rows: Basis, width: number, positions: readonly number[]): ValueCurve {
  const k = positions.length;
  const P = new Float64Array(rows.n * k);
  const C = new Float64Array(rows.n * k);
  for (let i = 0; i < rows.n; i++) {
    positions.forEach((j, q) => {
      P[i * k + q] = rows.P[i * width + j];
      C[i * k + q] = rows.C[i * width + j];
    });
  }
  return valueCurve(P, C, rows.n, k);
}
