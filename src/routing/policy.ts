// The routing policy: the cheapest candidate whose predicted success reaches the target; if none does,
// the one most likely to succeed. Pure: it sees numbers, not requests.

export interface Candidate {
  model: string;
  pSuccess: number;
  estimatedCost: number;
}

export type DecisionReason = 'cheapest-above-target' | 'best-below-target' | 'cold-start' | 'explicit';

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

/** Cold start: the configured model first, then the others cheapest first. */
export function coldStartOrder(coldStart: string, costs: readonly { model: string; estimatedCost: number }[]): PolicyChoice {
  const rest = costs.filter((c) => c.model !== coldStart).sort((a, b) => a.estimatedCost - b.estimatedCost || a.model.localeCompare(b.model));
  return { chosen: coldStart, fallbacks: rest.map((c) => c.model), reason: 'cold-start' };
}
