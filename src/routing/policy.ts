// The routing policies. Per-request (the default): the cheapest candidate whose predicted success reaches
// the target; if none does, the one most likely to succeed. Near-best: the cheapest candidate whose
// predicted success is within 1 − target of the best candidate's. Average (value-policy.ts): the candidate
// with the best p − λ·cost, λ set from the target. Pure: they see numbers, not requests.
import { InvalidInputError } from '../errors';

/**
 * Per-request: every request's own bar. Near-best: every request's own bar, set below its best model's
 * predicted success. Average: the target is the mean success over the traffic.
 */
export type PolicyKind = 'per-request' | 'near-best' | 'average';
export const POLICY_KINDS = ['per-request', 'near-best', 'average'] as const satisfies readonly PolicyKind[];

/** A policy named on a command line; `flag` names where it came from in the error. */
export function parsePolicyKind(value: string, flag: string): PolicyKind {
  if (!(POLICY_KINDS as readonly string[]).includes(value)) {
    throw new InvalidInputError(`${flag}: unknown policy "${value}" (known: ${POLICY_KINDS.join(', ')})`);
  }
  return value as PolicyKind;
}

export interface Candidate {
  model: string;
  pSuccess: number;
  estimatedCost: number;
}

export type DecisionReason = 'cheapest-above-target' | 'best-below-target' | 'cheapest-near-best' | 'best-value' | 'cold-start' | 'explicit';

export interface PolicyChoice {
  chosen: string;
  /** Where to go if the chosen model fails, in order. */
  fallbacks: string[];
  reason: DecisionReason;
}

const byCost = (a: Candidate, b: Candidate): number => a.estimatedCost - b.estimatedCost || b.pSuccess - a.pSuccess || a.model.localeCompare(b.model);
const byP = (a: Candidate, b: Candidate): number => b.pSuccess - a.pSuccess || a.estimatedCost - b.estimatedCost || a.model.localeCompare(b.model);

export function choose(candidates: readonly Candidate[], target: number): PolicyChoice {
  if (candidates.length === 0) throw new Error('policy needs at least one candidate');
  const above = candidates.filter((c) => c.pSuccess >= target).sort(byCost);
  const below = candidates.filter((c) => c.pSuccess < target).sort(byP);
  // Fallbacks keep the same logic: other models that reach the target (cheapest first), then the
  // rest by how likely they are to succeed.
  const order = [...above, ...below].map((c) => c.model);
  return {
    chosen: order[0],
    fallbacks: order.slice(1),
    reason: above.length > 0 ? 'cheapest-above-target' : 'best-below-target',
  };
}

/**
 * Near-best: the cheapest candidate whose predicted success is at least the best candidate's minus
 * (1 − target), so target 0.95 gives up at most 0.05 of predicted success on any request, and target 1
 * takes the most likely model. Unlike `choose`, it asks how much a cheaper model loses on this prompt,
 * not how likely it is to succeed: on a prompt every model will probably fail, the cheapest loses
 * nothing, and on an easy one the dear model gains nothing. Fallbacks: the others that qualify, cheapest
 * first, then the rest by p.
 */
export function chooseNearBest(candidates: readonly Candidate[], target: number): PolicyChoice {
  if (candidates.length === 0) throw new Error('policy needs at least one candidate');
  const bar = Math.max(...candidates.map((c) => c.pSuccess)) - (1 - target);
  const near = candidates.filter((c) => c.pSuccess >= bar).sort(byCost);
  const rest = candidates.filter((c) => c.pSuccess < bar).sort(byP);
  const order = [...near, ...rest].map((c) => c.model);
  return { chosen: order[0], fallbacks: order.slice(1), reason: 'cheapest-near-best' };
}

/**
 * The average policy's choice at price of success λ: the best p − λ·cost (λ = +∞: the cheapest, ties
 * by higher p); fallbacks in the same order of value.
 */
export function chooseByValue(candidates: readonly Candidate[], lambda: number): PolicyChoice {
  if (candidates.length === 0) throw new Error('policy needs at least one candidate');
  const value = (c: Candidate): number => c.pSuccess - lambda * c.estimatedCost;
  const order = [...candidates].sort(
    Number.isFinite(lambda) ? (a, b) => value(b) - value(a) || a.estimatedCost - b.estimatedCost || a.model.localeCompare(b.model) : byCost,
  );
  return { chosen: order[0].model, fallbacks: order.slice(1).map((c) => c.model), reason: 'best-value' };
}

/** Cold start: the configured model first, then the others cheapest first. */
export function coldStartOrder(coldStart: string, costs: readonly { model: string; estimatedCost: number }[]): PolicyChoice {
  const rest = costs.filter((c) => c.model !== coldStart).sort((a, b) => a.estimatedCost - b.estimatedCost || a.model.localeCompare(b.model));
  return { chosen: coldStart, fallbacks: rest.map((c) => c.model), reason: 'cold-start' };
}
