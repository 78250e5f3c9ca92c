// A routing decision: embed the prompt, predict each model's success, apply the policy. Knows nothing of
// HTTP; the gateway and /v1/route both call `route()`.
import { performance } from 'node:perf_hooks';
import type { ModelConfig } from '../config/schema';
import { InvalidInputError } from '../errors';
import type { SuccessClassifier } from './classifier';
import { estimateCost, estimateTokens } from './cost';
import { featureKind, viewText } from './features';
import { createMicroBatcher } from './micro-batcher';
import { type DecisionReason, type PolicyKind, choose, chooseByValue, coldStartOrder } from './policy';
import { type ValueCurve, lambdaForTarget, valueCurve } from './value-policy';

export interface RouteInput {
  prompt: string;
  /** The request's max_tokens, if any: the completion length used for cost estimates. */
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
  eligible: boolean;
  excludedBecause?: 'not-requested' | 'unknown-to-classifier' | 'context-window';
}

export interface Decision {
  chosen: string;
  fallbacks: string[];
  reason: DecisionReason | 'no-known-candidates';
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
  candidates: CandidateReport[];
  classifierVersion: string | null;
  embedderId: string | null;
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
  now?: () => number;
}

export interface Router {
  route(input: RouteInput): Promise<Decision>;
  /**
   * Builds the average policy's λ curve for the classifier serving now (≈ 20 ms for 2,000 reference
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

  // The average policy's λ per classifier and target: the curve over the classifier's reference prompts at
  // the configured prices, built on first use; targets are few in practice, but bounded all the same.
  const curves = new WeakMap<SuccessClassifier, { curve: ValueCurve | null; lambdas: Map<number, number> }>();
  function curveEntry(classifier: SuccessClassifier): { curve: ValueCurve | null; lambdas: Map<number, number> } {
    let entry = curves.get(classifier);
    if (!entry) {
      entry = { curve: referenceCurve(classifier, byId, deps.expectedOutputTokens), lambdas: new Map() };
      curves.set(classifier, entry);
    }
    return entry;
  }
  function lambdaFor(classifier: SuccessClassifier, target: number): number | null {
    const entry = curveEntry(classifier);
    if (!entry.curve) return null;
    let lambda = entry.lambdas.get(target);
    if (lambda === undefined) {
      if (entry.lambdas.size >= 1024) entry.lambdas.clear();
      lambda = lambdaForTarget(entry.curve, target);
      entry.lambdas.set(target, lambda);
    }
    return lambda;
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
    const outputTokens = input.maxTokens ?? deps.expectedOutputTokens;
    const classifier = deps.classifier();
    const column = new Map(classifier ? classifier.models.map((m, i) => [m, i] as const) : []);

    const reports: CandidateReport[] = deps.models.map((m) => {
      const report: CandidateReport = { model: m.id, pSuccess: null, estimatedCost: estimateCost(m.price, inputTokens, outputTokens), eligible: true };
      if (!requested.has(m.id)) report.excludedBecause = 'not-requested';
      else if (m.contextWindow !== undefined && inputTokens + outputTokens > m.contextWindow) report.excludedBecause = 'context-window';
      else if (classifier && !column.has(m.id)) report.excludedBecause = 'unknown-to-classifier';
      report.eligible = report.excludedBecause === undefined;
      return report;
    });
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
    if (classifier) {
      const scored = await score({ prompt: input.prompt, classifier });
      embedMs = scored.embedMs;
      classifyMs = scored.classifyMs;
      const p = scored.p;
      for (const r of reports) {
        const j = column.get(r.model);
        if (j !== undefined) r.pSuccess = p[j];
      }
    }

    const lambda = classifier && wantedPolicy === 'average' ? lambdaFor(classifier, target) : null;
    const base = {
      target,
      policy: lambda === null ? ('per-request' as const) : ('average' as const),
      lambda: lambda !== null && Number.isFinite(lambda) ? lambda : null,
      candidates: reports,
      classifierVersion: classifier?.version ?? null,
      embedderId: classifier ? deps.embedder.id : null,
      estimatedTokens: { input: inputTokens, output: outputTokens },
    };
    const finish = (choice: { chosen: string; fallbacks: string[]; reason: Decision['reason'] }): Decision => ({
      ...choice,
      ...base,
      timings: { embedMs, classifyMs, totalMs: now() - t0 },
    });
    // Without predictions no policy decides: the cold-start order does.
    const unjudged = (reason: Decision['reason']): Decision => {
      const start = eligible.some((r) => r.model === coldStart) ? coldStart : dearest(eligible);
      return { ...finish({ ...coldStartOrder(start, eligible), reason }), policy: null, lambda: null };
    };

    if (!classifier) return unjudged('cold-start');
    // Configured models the classifier has never seen cannot be judged; route among the ones it knows.
    const known = eligible.filter((r) => r.pSuccess !== null);
    if (known.length === 0) return unjudged('no-known-candidates');
    const candidates = known.map((r) => ({ model: r.model, pSuccess: r.pSuccess as number, estimatedCost: r.estimatedCost }));
    return finish(lambda === null ? choose(candidates, target) : chooseByValue(candidates, lambda));
  }

  function warm(): void {
    const classifier = deps.classifier();
    if (classifier) curveEntry(classifier);
  }

  return { route, warm, modelIds };
}

/** The reference prompts' predictions and costs over the configured models the classifier knows. */
function referenceCurve(classifier: SuccessClassifier, byId: ReadonlyMap<string, ModelConfig>, outputTokens: number): ValueCurve | null {
  const ref = classifier.reference;
  if (!ref || ref.p.length === 0) return null;
  const cols = classifier.models.flatMap((m, j) => (byId.has(m) ? [j] : []));
  if (cols.length === 0) return null;
  const n = ref.p.length;
  const P = new Float64Array(n * cols.length);
  const C = new Float64Array(n * cols.length);
  for (let i = 0; i < n; i++) {
    cols.forEach((j, k) => {
      P[i * cols.length + k] = ref.p[i][j];
      C[i * cols.length + k] = estimateCost(byId.get(classifier.models[j])!.price, ref.inputTokens[i], outputTokens);
    });
  }
  return valueCurve(P, C, n, cols.length);
}

function dearest(reports: readonly CandidateReport[]): string {
  return [...reports].sort((a, b) => b.estimatedCost - a.estimatedCost)[0].model;
}
