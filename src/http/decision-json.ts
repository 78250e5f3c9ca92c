// The decision as the API shows it (snake_case, like the rest of an OpenAI-style API).
import type { Decision } from '../routing/router';
import type { LoggedCandidate } from '../store/decision-types';

export interface CandidateJson {
  model: string;
  p_success: number | null;
  estimated_cost: number;
  /** Absent for rows logged before per-model answer lengths. */
  output_tokens?: number;
  output_tokens_basis?: string;
  eligible: boolean;
  excluded_because?: string;
  /** Present when the clients' ratings recalibrated the model: the classifier's own p and the logit shift applied. */
  p_classifier?: number;
  logit_shift?: number;
}

/** One candidate, as both the decision and the decision log show it. */
export function candidateJson(c: LoggedCandidate): CandidateJson {
  return {
    model: c.model,
    p_success: c.pSuccess,
    estimated_cost: c.estimatedCost,
    ...(c.outputTokens !== undefined ? { output_tokens: c.outputTokens, output_tokens_basis: c.outputTokensBasis } : {}),
    eligible: c.eligible,
    ...(c.excludedBecause ? { excluded_because: c.excludedBecause } : {}),
    ...(c.pClassifier !== undefined ? { p_classifier: c.pClassifier, logit_shift: c.logitShift } : {}),
  };
}

export function decisionJson(d: Decision, id?: string): Record<string, unknown> {
  return {
    ...(id ? { id } : {}),
    object: 'switchyard.decision',
    model: d.chosen,
    fallbacks: d.fallbacks,
    reason: d.reason,
    target: d.target,
    policy: d.policy,
    lambda: d.lambda,
    lambda_basis: d.lambdaBasis,
    target_correction: d.targetCorrection,
    candidates: d.candidates.map(candidateJson),
    classifier_version: d.classifierVersion,
    embedder_id: d.embedderId,
    estimated_tokens: d.estimatedTokens,
    timings_ms: { embed: d.timings.embedMs, classify: d.timings.classifyMs, total: d.timings.totalMs },
  };
}
