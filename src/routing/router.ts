// A routing decision: embed the prompt, predict each model's success, apply the policy. Knows nothing of
// HTTP; the gateway and /v1/route both call `route()`.
import { performance } from 'node:perf_hooks';
import type { ModelConfig } from '../config/schema';
import { InvalidInputError } from '../errors';
import type { SuccessClassifier } from './classifier';
import { type OutputTokensBasis, estimateCost, estimateTokens, outputTokensFor, windowTokens } from './cost';
import { featureKind, viewText } from './features';
import { createMicroBatcher } from './micro-batcher';
import { type DecisionReason, type PolicyKind, choose, chooseByValue, chooseNearBest, coldStartOrder } from './policy';
import { applyShift } from './recalibration';
import { type AverageOptions, DEFAULT_AVERAGE_OPTIONS, type LambdaBasis, createLambdaSource } from './average-lambda';

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
  /** The request field that carried the prompt, named when the prompt is why no model can take it (default messages). */
  promptField?: 'prompt' | 'messages';
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
  /**
   * The classifier serving now, held until `release`: a hot reload must not dispose of it while a
   * request still routes on it (default: `classifier`, never released).
   */
  acquireClassifier?: () => { classifier: SuccessClassifier | null; release: () => void };
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
  const noLengths: ReadonlyMap<string, number> = new Map();
  const learned = deps.answerLengths ?? (() => noLengths);
  // The average policy's λ per classifier, from its reference prompts and then the traffic.
  const lambdas = createLambdaSource({
    models: deps.models,
    average: deps.average ?? DEFAULT_AVERAGE_OPTIONS,
    now,
    answerLengths: learned,
    expectedOutputTokens: deps.expectedOutputTokens,
  });

  async function route(input: RouteInput): Promise<Decision> {
    const lease = deps.acquireClassifier?.() ?? { classifier: deps.classifier(), release: () => {} };
    try {
      return await routeOn(input, lease.classifier);
    } finally {
      lease.release();
    }
  }

  async function routeOn(input: RouteInput, classifier: SuccessClassifier | null): Promise<Decision> {
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
    // Models the classifier has never seen cannot be judged: beside ones it knows they are left out of the
    // choice (and tried only as the last fallbacks); when it knows none that could take the request (a
    // model added since the last retrain, asked for by name; renamed ids), the cold-start order routes
    // among them all (reason no-known-candidates, below).
    if (classifier && reports.some((r) => r.eligible && column.has(r.model))) {
      for (const r of reports) {
        if (r.eligible && !column.has(r.model)) Object.assign(r, { eligible: false, excludedBecause: 'unknown-to-classifier' });
      }
    }
    const eligible = reports.filter((r) => r.eligible);
    if (eligible.length === 0) {
      // The field to change: the models asked for, max_tokens when the prompt alone fits some requested
      // model's window, else the prompt.
      const windowed = reports.filter((r) => r.excludedBecause === 'context-window');
      const promptFits = windowed.some((r) => promptWindowTokens() < (deps.models.find((m) => m.id === r.model)?.contextWindow ?? 0));
      const param = windowed.length === 0 ? 'router.models' : input.maxTokens !== undefined && promptFits ? 'max_tokens' : (input.promptField ?? 'messages');
      throw new InvalidInputError(
        `no configured model can take this request (${reports.map((r) => `${r.model}: ${r.excludedBecause}`).join('; ')})`,
        param,
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

    const state = classifier ? lambdas.stateOf(classifier) : null;
    // λ is the price that meets the target over traffic routed among the same models: a client that may
    // use only some of them gets the λ those models need, not the one the full set needs (a prompt's
    // context-window limits do not change it: they constrain that prompt, not the traffic's price).
    const narrowed = state && wantedPolicy === 'average' && input.models && input.models.length > 0 ? state.cols.flatMap((j, k) => (requested.has(state.models[j]) ? [k] : [])) : null;
    const positions = narrowed && state && narrowed.length < state.cols.length ? narrowed : null;
    const correction = classifier && wantedPolicy === 'average' ? (deps.targetCorrection?.(classifier.version) ?? null) : null;
    const corrected = correction ? Math.min(1, Math.max(0, target + correction)) : target;
    const priced = classifier && wantedPolicy === 'average' && (positions === null || positions.length > 0) ? lambdas.lambdaFor(classifier, corrected, positions) : null;
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
    // Models left out as unknown to the classifier are not judged, but a configured model that answers
    // beats a failed request: they are tried last, cheapest first.
    const lastResort = reports
      .filter((r) => r.excludedBecause === 'unknown-to-classifier')
      .sort((a, b) => a.estimatedCost - b.estimatedCost || a.model.localeCompare(b.model))
      .map((r) => r.model);
    // The tokens the chosen model was costed at: models may differ in answer length.
    const finish = (choice: { chosen: string; fallbacks: string[]; reason: Decision['reason'] }): Decision => ({
      ...choice,
      fallbacks: [...choice.fallbacks, ...lastResort],
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
    if (classifier) lambdas.warm(classifier);
  }

  return { route, warm, modelIds };
}

function dearest(reports: readonly CandidateReport[]): string {
  return [...reports].sort((a, b) => b.estimatedCost - a.estimatedCost)[0].model;
}
