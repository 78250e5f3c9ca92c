// A routing decision: embed the prompt, predict each model's success, apply the policy. Knows nothing of
// HTTP; the gateway and /v1/route both call `route()`.
import { performance } from 'node:perf_hooks';
import type { ModelConfig } from '../config/schema';
import { InvalidInputError } from '../errors';
import type { SuccessClassifier } from './classifier';
import type { ClassifierReference } from './classifier-reference';
import { type OutputTokensBasis, estimateCost, estimateTokens, outputTokensFor, windowTokens } from './cost';
import { featureKind, viewText } from './features';
import { createMicroBatcher } from './micro-batcher';
import { type DecisionReason, type PolicyKind, choose, chooseByValue, chooseNearBest, coldStartOrder } from './policy';
import { applyShift } from './recalibration';
import { TrafficWindow } from './traffic-window';
import { type ValueCurve, lambdaForTarget, valueCurve } from './value-policy';

export interface RouteInput {
  prompt: string;
  /**
   * The request's max_tokens, if any: caps the completion length of cost estimates (a model's own
   * length, configured or learned, else the default).
   */
  maxTokens?: number;
  minSuccess?: number;
  /** Overrides the configured policy for this request. */
  policy?: PolicyKind;
  /** Restrict routing to these configured models. */
  models?: readonly string[];
}

export interface CandidateReport {
  model: string;
  /** null when the classifier does not know the model or no classifier is loaded. */
  pSuccess: number | null;
  estimatedCost: number;
  /** The answer length the cost assumes, and where it came from (see cost.ts `outputTokensFor`). */
  outputTokens: number;
  outputTokensBasis: OutputTokensBasis;
  eligible: boolean;
  excludedBecause?: 'not-requested' | 'unknown-to-classifier' | 'context-window';
  /**
   * Set when the clients' ratings recalibrated this model (routing.recalibration; per-request and near-best
   * policies): the classifier's own prediction, and the logit shift that turned it into `pSuccess`.
   */
  pClassifier?: number;
  logitShift?: number;
}

export interface Decision {
  chosen: string;
  fallbacks: string[];
  reason: DecisionReason;
  target: number;
  /**
   * The policy applied: `average` needs a classifier with reference predictions (reference.json) and
   * falls back to `per-request` without one; null when no policy could judge (cold start, no known model).
   */
  policy: PolicyKind | null;
  /**
   * Average policy: the price of success λ the target set (each candidate's value is p − λ·cost); null
   * under the per-request policy, and under the average one when λ is infinite: the target is met by
   * sending the reference prompts to their cheapest models, so this request goes to its cheapest.
   */
  lambda: number | null;
  /**
   * Average policy: the prompts λ was set on — the classifier's reference prompts until `minTraffic`
   * prompts have been routed with it, then the last `trafficWindow` routed prompts; null otherwise.
   */
  lambdaBasis: LambdaBasis | null;
  /**
   * Average policy: what the clients' recent ratings added to the target λ was set for (the classifier
   * over- or under-predicted their rated answers by this much; routing.average.feedback); null: nothing added.
   */
  targetCorrection: number | null;
  candidates: CandidateReport[];
  classifierVersion: string | null;
  embedderId: string | null;
  /** The prompt's estimated tokens, and the answer length the chosen model was costed at. */
  estimatedTokens: { input: number; output: number };
  timings: { embedMs: number; classifyMs: number; totalMs: number };
}

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

export interface RouterDeps {
  models: readonly ModelConfig[];
  minSuccess: number;
  /** Default per-request. */
  policy?: PolicyKind;
  coldStart?: string;
  expectedOutputTokens: number;
  embedder: { readonly id: string; embed(texts: readonly string[]): Promise<Float32Array[]> };
  /** The classifier serving now, or null before any has been trained. */
  classifier: () => SuccessClassifier | null;
  /** Default DEFAULT_AVERAGE_OPTIONS. */
  average?: AverageOptions;
  /** Milliseconds on any monotonic clock: timings and the traffic curve's refresh. */
  now?: () => number;
  /**
   * Average policy: how much to add to the target for the classifier `version` (its mean predicted minus
   * mean rated success on recent rated answers, when significant; see feedback-correction.ts). Null or 0:
   * nothing. Called per request, so it must answer from memory.
   */
  targetCorrection?: (version: string) => number | null;
  /**
   * Per-request and near-best policies: each model's logit shift for the classifier `version`, fitted to
   * its recent rated answers where significant (recalibration.ts); models not in the map keep the
   * classifier's predictions. Called per request, so it must answer from memory.
   */
  recalibration?: (version: string) => ReadonlyMap<string, number>;
  /**
   * Each model's typical answer length learned from the log (answer-lengths.ts), for models without a
   * configured expectedOutputTokens. The same map while nothing changed: the average policy's reference
   * curve is re-priced when it does. Answers from memory.
   */
  answerLengths?: () => ReadonlyMap<string, number>;
}

export interface Router {
  route(input: RouteInput): Promise<Decision>;
  /**
   * Builds the average policy's reference λ curve for the classifier serving now (≈ 20 ms for 2,000 reference
   * prompts × 11 models), so the first request after a swap does not pay for it. Optional to call.
   */
  warm(): void;
  readonly modelIds: readonly string[];
}

export function createRouter(deps: RouterDeps): Router {
  const now = deps.now ?? (() => performance.now());
  const byId = new Map(deps.models.map((m) => [m.id, m]));
  const modelIds = deps.models.map((m) => m.id);
  // Without a configured cold-start model, the dearest one: before anything is learned, quality first.
  const coldStart =
    deps.coldStart ??
    [...deps.models].sort((a, b) => b.price.inputPerMTok + b.price.outputPerMTok - (a.price.inputPerMTok + a.price.outputPerMTok))[0].id;

  // Concurrent requests share one embedder call and one classifier call (see micro-batcher.ts); the
  // batch's embed and classify times are reported for each of its requests.
  const score = createMicroBatcher(async (items: { prompt: string; classifier: SuccessClassifier }[]) => {
    const out: { p: Float32Array; embedMs: number; classifyMs: number }[] = new Array(items.length);
    // Normally one group; two only when a new classifier was swapped in between arrivals.
    for (const classifier of new Set(items.map((i) => i.classifier))) {
      const idx = items.flatMap((it, i) => (it.classifier === classifier ? [i] : []));
      const kind = featureKind(classifier.featureKind);
      const views = kind.views.length;
      const t1 = now();
      const embeddings = await deps.embedder.embed(idx.flatMap((i) => kind.views.map((v) => viewText(v, items[i].prompt))));
      const t2 = now();
      const rows = idx.map((i, k) => kind.build(embeddings.slice(k * views, (k + 1) * views), items[i].prompt));
      const X = new Float32Array(rows.length * classifier.inputDim);
      rows.forEach((r, k) => X.set(r, k * classifier.inputDim));
      const P = await classifier.predict(X, rows.length);
      const t3 = now();
      const m = classifier.models.length;
      idx.forEach((i, k) => (out[i] = { p: P.subarray(k * m, (k + 1) * m), embedMs: t2 - t1, classifyMs: t3 - t2 }));
    }
    return out;
  });

  // The average policy's state per classifier: the reference prompts' predictions and costs at the
  // configured prices (read on first use), the recent traffic's, and the curve over each; λ per target is
  // cached per curve. A request that narrows the models (router.models) gets λ from a curve over the same
  // prompts and only those models, cached per model set. Targets and model sets are few in practice, but bounded.
  const average = deps.average ?? DEFAULT_AVERAGE_OPTIONS;
  const noLengths: ReadonlyMap<string, number> = new Map();
  const learned = deps.answerLengths ?? (() => noLengths);
  interface PolicyState {
    models: readonly string[];
    /** The classifier's reference prompts, read once. */
    ref: ClassifierReference | null;
    /** The classifier's columns of the configured models, in its order. */
    cols: number[];
    /** For each of those columns, the model's index among the configured ones (and the request's reports). */
    configured: number[];
    /** Built on first use (≈ 20 ms for 2,000 prompts × 11 models): a per-request deployment never pays. */
    reference: Basis | null | undefined;
    /** The learned answer lengths `reference` was priced with. */
    referenceLengths: ReadonlyMap<string, number> | undefined;
    traffic: TrafficWindow | null;
    trafficBasis: (Basis & { builtAt: number; builtAtTotal: number }) | null;
    /** Per model set ('*': all of `cols`): its curve over `pricedFrom`'s prompts and λ per target. */
    priced: Map<string, { curve: ValueCurve; lambdas: Map<number, number> }>;
    pricedFrom: Basis | null;
  }
  const states = new WeakMap<SuccessClassifier, PolicyState>();
  function stateOf(classifier: SuccessClassifier): PolicyState {
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
  function currentBasis(state: PolicyState): Basis | null {
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
  function referenceOf(state: PolicyState): Basis | null {
    const lengths = learned();
    if (state.reference === undefined || state.referenceLengths !== lengths) {
      state.reference = state.ref ? referenceBasis(state.ref, state.models, state.cols, (id) => byId.get(id)!, lengths, deps.expectedOutputTokens) : null;
      state.referenceLengths = lengths;
    }
    return state.reference;
  }
  /** `positions`: the request's models as positions in `state.cols`; null: all of them. */
  function lambdaFor(state: PolicyState, target: number, positions: readonly number[] | null): { lambda: number; basis: LambdaBasis } | null {
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

  async function route(input: RouteInput): Promise<Decision> {
    const t0 = now();
    const target = input.minSuccess ?? deps.minSuccess;
    const wantedPolicy = input.policy ?? deps.policy ?? 'per-request';
    if (input.models) {
      const unknown = input.models.filter((m) => !byId.has(m));
      if (unknown.length > 0) {
        throw new InvalidInputError(
          `unknown model(s) in router.models: ${unknown.join(', ')} (configured: ${modelIds.join(', ')})`,
          'router.models',
          'model_not_found',
        );
      }
    }
    const requested = new Set(input.models && input.models.length > 0 ? input.models : modelIds);
    const inputTokens = estimateTokens(input.prompt);
    // Counted only when some model has a window to fit: it walks the prompt's characters.
    let windowed: number | undefined;
    const promptWindowTokens = (): number => (windowed ??= windowTokens(input.prompt));
    const outputTokens = input.maxTokens ?? deps.expectedOutputTokens;
    const classifier = deps.classifier();
    const column = new Map(classifier ? classifier.models.map((m, i) => [m, i] as const) : []);
    const lengths = learned();

    const reports: CandidateReport[] = deps.models.map((m) => {
      const costed = outputTokensFor(m.expectedOutputTokens, lengths.get(m.id), input.maxTokens, deps.expectedOutputTokens);
      const report: CandidateReport = {
        model: m.id,
        pSuccess: null,
        estimatedCost: estimateCost(m.price, inputTokens, costed.tokens),
        outputTokens: costed.tokens,
        outputTokensBasis: costed.basis,
        eligible: true,
      };
      if (!requested.has(m.id)) report.excludedBecause = 'not-requested';
      // The window must hold what the upstream may write: max_tokens when set, else the expected answer.
      else if (m.contextWindow !== undefined && promptWindowTokens() + (input.maxTokens ?? costed.tokens) > m.contextWindow) report.excludedBecause = 'context-window';
      report.eligible = report.excludedBecause === undefined;
      return report;
    });
    // Models the classifier has never seen cannot be judged: beside ones it knows they are left out; when
    // it knows none that could take the request (a model added since the last retrain, asked for by name;
    // renamed ids), the cold-start order routes among them all (reason no-known-candidates, below).
    if (classifier && reports.some((r) => r.eligible && column.has(r.model))) {
      for (const r of reports) {
        if (r.eligible && !column.has(r.model)) Object.assign(r, { eligible: false, excludedBecause: 'unknown-to-classifier' });
      }
    }
    const eligible = reports.filter((r) => r.eligible);
    if (eligible.length === 0) {
      throw new InvalidInputError(
        `no configured model can take this request (${reports.map((r) => `${r.model}: ${r.excludedBecause}`).join('; ')})`,
        'messages',
        'no_eligible_model',
      );
    }

    let embedMs = 0;
    let classifyMs = 0;
    let p: Float32Array | null = null;
    if (classifier) {
      const scored = await score({ prompt: input.prompt, classifier });
      embedMs = scored.embedMs;
      classifyMs = scored.classifyMs;
      p = scored.p;
      for (const r of reports) {
        const j = column.get(r.model);
        if (j !== undefined) r.pSuccess = p![j];
      }
    }

    const state = classifier ? stateOf(classifier) : null;
    // λ is the price that meets the target over traffic routed among the same models: a client that may
    // use only some of them gets the λ those models need, not the one the full set needs (a prompt's
    // context-window limits do not change it: they constrain that prompt, not the traffic's price).
    const narrowed = state && wantedPolicy === 'average' && input.models && input.models.length > 0 ? state.cols.flatMap((j, k) => (requested.has(state.models[j]) ? [k] : [])) : null;
    const positions = narrowed && state && narrowed.length < state.cols.length ? narrowed : null;
    const correction = classifier && wantedPolicy === 'average' ? (deps.targetCorrection?.(classifier.version) ?? null) : null;
    const corrected = correction ? Math.min(1, Math.max(0, target + correction)) : target;
    const priced = state && wantedPolicy === 'average' && (positions === null || positions.length > 0) ? lambdaFor(state, corrected, positions) : null;
    const lambda = priced?.lambda ?? null;
    // This prompt joins the traffic the average policy is set on (whatever policy routed it: it is traffic).
    if (state?.traffic && p) {
      state.traffic.add(
        state.cols.map((j) => p![j]),
        state.configured.map((i) => reports[i].estimatedCost),
      );
    }
    // The bar compares this request's own p with the target: where the ratings say the classifier over- or
    // under-predicts a model, that model's p is corrected first. The average policy sets λ on the
    // classifier's own predictions (reference and traffic) and has its own correction, so it is left alone.
    const shifts = classifier && lambda === null ? deps.recalibration?.(classifier.version) : undefined;
    if (shifts && shifts.size > 0) {
      for (const r of reports) {
        const shift = shifts.get(r.model);
        if (r.pSuccess === null || shift === undefined) continue;
        r.pClassifier = r.pSuccess;
        r.logitShift = shift;
        r.pSuccess = applyShift(r.pSuccess, shift);
      }
    }
    const base = {
      target,
      policy: wantedPolicy === 'near-best' ? ('near-best' as const) : lambda === null ? ('per-request' as const) : ('average' as const),
      lambda: lambda !== null && Number.isFinite(lambda) ? lambda : null,
      lambdaBasis: priced?.basis ?? null,
      targetCorrection: priced && correction ? corrected - target : null,
      candidates: reports,
      classifierVersion: classifier?.version ?? null,
      embedderId: classifier ? deps.embedder.id : null,
    };
    // The tokens the chosen model was costed at: models may differ in answer length.
    const finish = (choice: { chosen: string; fallbacks: string[]; reason: Decision['reason'] }): Decision => ({
      ...choice,
      ...base,
      estimatedTokens: { input: inputTokens, output: reports.find((r) => r.model === choice.chosen)?.outputTokens ?? outputTokens },
      timings: { embedMs, classifyMs, totalMs: now() - t0 },
    });
    // Without predictions no policy decides: the cold-start order does.
    const unjudged = (reason: Decision['reason']): Decision => {
      const start = eligible.some((r) => r.model === coldStart) ? coldStart : dearest(eligible);
      return { ...finish({ ...coldStartOrder(start, eligible), reason }), policy: null, lambda: null, lambdaBasis: null, targetCorrection: null };
    };

    if (!classifier) return unjudged('cold-start');
    const known = eligible.filter((r) => r.pSuccess !== null);
    if (known.length === 0) return unjudged('no-known-candidates');
    const candidates = known.map((r) => ({ model: r.model, pSuccess: r.pSuccess as number, estimatedCost: r.estimatedCost }));
    if (wantedPolicy === 'near-best') return finish(chooseNearBest(candidates, target));
    return finish(lambda === null ? choose(candidates, target) : chooseByValue(candidates, lambda));
  }

  function warm(): void {
    const classifier = deps.classifier();
    if (classifier) referenceOf(stateOf(classifier));
  }

  return { route, warm, modelIds };
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

function dearest(reports: readonly CandidateReport[]): string {
  return [...reports].sort((a, b) => b.estimatedCost - a.estimatedCost)[0].model;
}
