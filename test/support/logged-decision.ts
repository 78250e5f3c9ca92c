// A decision log record for tests that write the log directly, with only what they vary given.
import type { DecisionRecord } from '../../src/store/decision-types';

/** A logged decision answered by `answered` (null: nothing answered), with these predictions per model. */
export function loggedDecision(id: string, answered: string | null, p: Record<string, number | null>, over: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id, createdAt: 1_000, apiKey: null, prompt: 'q', promptHash: 'h', requestedModel: 'auto', stream: false,
    routedModel: answered ?? Object.keys(p)[0], answeredModel: answered, reason: 'cheapest-above-target', target: 0.7, policy: 'per-request',
    lambda: null, lambdaBasis: null, targetCorrection: null, classifierVersion: 'v0001', embedderId: 'e',
    candidates: Object.entries(p).map(([model, pSuccess]) => ({ model, pSuccess, estimatedCost: 1, eligible: true })),
    fallbacks: [], attempts: [], estimatedTokens: { input: 1, output: 1 }, usage: { promptTokens: 10, completionTokens: 1 }, cost: 0.001,
    timings: { embedMs: 0, classifyMs: 0, upstreamMs: 1, totalMs: 1 }, status: answered ? 'ok' : 'error', httpStatus: answered ? 200 : 502,
    error: null,
    ...over,
  };
}
