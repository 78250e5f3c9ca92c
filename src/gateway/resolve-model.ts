// Turns the client's `model` into a routing decision: 'auto' asks the router, a configured id is honoured
// as asked (reason 'explicit', no fallbacks: the client named the model it wants), anything else is a 404
// listing what is served.
import { AUTO_MODEL_IDS, type ModelConfig } from '../config/schema';
import { InvalidInputError, SwitchyardError } from '../errors';
import { estimateCost, estimateTokens, outputTokensFor } from '../routing/cost';
import type { PolicyKind } from '../routing/policy';
import type { Decision, Router } from '../routing/router';
import type { LoggedCandidate, LoggedLambdaBasis } from '../store/decision-types';

/**
 * The gateway's own view of a decision. The router's Decision is copied into it field by field, so the
 * gateway and the log do not change shape when the router's type grows.
 */
export interface RouteDecision {
  chosen: string;
  fallbacks: string[];
  reason: string;
  target: number;
  /** Null for a model the client named: no policy chose it. */
  policy: PolicyKind | null;
  lambda: number | null;
  lambdaBasis: LoggedLambdaBasis | null;
  targetCorrection: number | null;
  candidates: LoggedCandidate[];
  classifierVersion: string | null;
  embedderId: string | null;
  estimatedTokens: { input: number; output: number };
  timings: { embedMs: number; classifyMs: number; totalMs: number };
}

export interface RouterOptions {
  min_success?: number;
  policy?: PolicyKind;
  models?: string[];
}

export interface ResolveDeps {
  router: Router;
  models: readonly ModelConfig[];
  minSuccess: number;
  expectedOutputTokens: number;
  /** Learned answer lengths, as the router's `answerLengths`. */
  answerLengths?: () => ReadonlyMap<string, number>;
}

export class ModelNotFoundError extends SwitchyardError {
  constructor(model: string, valid: readonly string[]) {
    super(`The model "${model}" does not exist or is not served here. Valid models: ${valid.join(', ')}`, {
      code: 'model_not_found',
      httpStatus: 404,
      type: 'invalid_request_error',
      param: 'model',
    });
  }
}

export async function resolveModel(
  deps: ResolveDeps,
  input: { model: string; prompt: string; maxTokens: number | undefined; router: RouterOptions | undefined },
): Promise<RouteDecision> {
  if (AUTO_MODEL_IDS.includes(input.model)) {
    const d = await deps.router.route({
      prompt: input.prompt,
      maxTokens: input.maxTokens,
      minSuccess: input.router?.min_success,
      policy: input.router?.policy,
      models: input.router?.models,
    });
    return fromRouterDecision(d);
  }
  const model = deps.models.find((m) => m.id === input.model);
  if (!model) throw new ModelNotFoundError(input.model, [...AUTO_MODEL_IDS, ...deps.models.map((m) => m.id)]);
  if (input.router !== undefined) {
    throw new InvalidInputError(`"router" options apply only to model "auto"; "${input.model}" was asked for by name`, 'router', 'router_needs_auto');
  }
  const output = outputTokensFor(model.expectedOutputTokens, deps.answerLengths?.().get(model.id), input.maxTokens, deps.expectedOutputTokens);
  const tokens = { input: estimateTokens(input.prompt), output: output.tokens };
  return {
    chosen: model.id,
    fallbacks: [],
    reason: 'explicit',
    target: deps.minSuccess,
    policy: null,
    lambda: null,
    lambdaBasis: null,
    targetCorrection: null,
    candidates: [
      {
        model: model.id,
        pSuccess: null,
        estimatedCost: estimateCost(model.price, tokens.input, tokens.output),
        outputTokens: output.tokens,
        outputTokensBasis: output.basis,
        eligible: true,
      },
    ],
    classifierVersion: null,
    embedderId: null,
    estimatedTokens: tokens,
    timings: { embedMs: 0, classifyMs: 0, totalMs: 0 },
  };
}

export function fromRouterDecision(d: Decision): RouteDecision {
  return {
    chosen: d.chosen,
    fallbacks: [...d.fallbacks],
    reason: d.reason,
    target: d.target,
    policy: d.policy,
    lambda: d.lambda,
    lambdaBasis: d.lambdaBasis ? { ...d.lambdaBasis } : null,
    targetCorrection: d.targetCorrection,
    candidates: d.candidates.map((c) => ({
      model: c.model,
      pSuccess: c.pSuccess,
      estimatedCost: c.estimatedCost,
      outputTokens: c.outputTokens,
      outputTokensBasis: c.outputTokensBasis,
      eligible: c.eligible,
      ...(c.excludedBecause ? { excludedBecause: c.excludedBecause } : {}),
      ...(c.pClassifier !== undefined ? { pClassifier: c.pClassifier, logitShift: c.logitShift } : {}),
    })),
    classifierVersion: d.classifierVersion,
    embedderId: d.embedderId,
    estimatedTokens: { ...d.estimatedTokens },
    timings: { ...d.timings },
  };
}
