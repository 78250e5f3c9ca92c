// The routing policies. Per-request (the default): the cheapest candidate whose predicted success reaches
// the target; if none does, the one most likely to succeed. Near-best: within 1 − target of the best
// candidate's predicted success, the best trade-off of success against log price. Average
// (value-policy.ts): the candidate with the best p − λ·cost, λ set from the target. Pure: they see
// numbers, not requests.
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

export const DECISION_REASONS = [
  'cheapest-above-target',
  'best-below-target',
  'near-best',
  'best-value',
  'cold-start',
  'no-known-candidates',
  'explicit',
] as const;
export type DecisionReason = (typeof DECISION_REASONS)[number];
/** Reasons earlier versions logged: the decision log keeps them, so filters still accept them. */
export const RETIRED_DECISION_REASONS = ['cheapest-near-best'] as const;

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
 * Costs below this share of the dearest candidate's count as this share: a free model would otherwise
 * stretch the log price range without end and leave no room to trade success for price.
 */
export const NEAR_BEST_PRICE_FLOOR = 1e-4;

/**
 * Each candidate's place in this request's price range, 0 (cheapest) to 1 (dearest), on a log scale:
 * ln(cost / cheapest) / ln(dearest / cheapest). All zeros when every candidate costs the same.
 */
export function logPriceShares(costs: ArrayLike<number>): number[] {
  let hi = 0;
  for (let m = 0; m < costs.length; m++) if (costs[m] > hi) hi = costs[m];
  const floor = hi * NEAR_BEST_PRICE_FLOOR;
  let lo = Infinity;
  for (let m = 0; m < costs.length; m++) lo = Math.min(lo, Math.max(costs[m], floor));
  const range = hi > 0 ? Math.log(hi / lo) : 0;
  return Array.from(costs, (c) => (range > 0 ? Math.log(Math.max(c, floor) / lo) / range : 0));
}

/**
 * Near-best: the candidate with the best p − (1 − target)·s, where s is its log price share (0 for the
 * cheapest, 1 for the dearest: `logPriceShares`). The request may give up at most 1 − target of
 * predicted success, spread over its price range: going from the cheapest candidate to the dearest must
 * buy at least 1 − target, and a step up over half the range (in log price) at least half that. So the
 * chosen model is always within 1 − target of the best candidate's p (target 0.95 gives up at most 0.05
 * on any request; target 1 takes the most likely model), and among the models that close, a slightly
 * dearer one is taken only when it is enough likelier: a mid-priced model just short of the best is not
 * skipped for the far dearer best one. Unlike `choose`, it asks what a cheaper model loses on this
 * prompt, not how likely it is to succeed: on a prompt every model will probably fail, the cheapest
 * loses nothing, and on an easy one the dear model gains nothing. On two models it is "the cheap one
 * unless the dear one is more than 1 − target likelier". Ties go to the cheaper. Fallbacks: the other
 * candidates within 1 − target of the best, by the same value, then the rest by p.
 */
export function chooseNearBest(candidates: readonly Candidate[], target: number): PolicyChoice {
  if (candidates.length === 0) throw new Error('policy needs at least one candidate');
  const slack = 1 - target;
  const shares = logPriceShares(candidates.map((c) => c.estimatedCost));
  const scored = candidates.map((c, i) => ({ ...c, value: c.pSuccess - slack * shares[i] }));
  const bar = Math.max(...candidates.map((c) => c.pSuccess)) - slack;
  const near = scored.filter((c) => c.pSuccess >= bar).sort((a, b) => b.value - a.value || byCost(a, b));
  const rest = scored.filter((c) => c.pSuccess < bar).sort(byP);
  const order = [...near, ...rest].map((c) => c.model);
  return { chosen: order[0], fallbacks: order.slice(1), reason: 'near-best' };
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
