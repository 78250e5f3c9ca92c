// Request cost estimates from configured prices. Token counts are estimated from characters (about four
// per token for English); the estimate ranks models, so a shared bias cancels out.
import type { ModelPrice } from '../config/schema';

export const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

/** Where a candidate's costed answer length came from. */
export type OutputTokensBasis = 'model' | 'learned' | 'max_tokens' | 'default';

/**
 * The answer length a model is costed at: its own typical length — configured
 * (`models[].expectedOutputTokens`: a reasoning model writes many times what a chat model does), else
 * learned from its recent answers (answer-lengths.ts) — capped by the request's max_tokens; else
 * max_tokens; else the default (`routing.expectedOutputTokens`).
 */
export function outputTokensFor(
  configured: number | undefined,
  learned: number | undefined,
  maxTokens: number | undefined,
  fallback: number,
): { tokens: number; basis: OutputTokensBasis } {
  const own = configured ?? learned;
  if (own !== undefined) {
    if (maxTokens !== undefined && maxTokens < own) return { tokens: maxTokens, basis: 'max_tokens' };
    return { tokens: own, basis: configured !== undefined ? 'model' : 'learned' };
  }
  return maxTokens !== undefined ? { tokens: maxTokens, basis: 'max_tokens' } : { tokens: fallback, basis: 'default' };
}

/** `outputTokensFor` without a learned length, when only the tokens matter. */
export function costedOutputTokens(modelExpected: number | undefined, maxTokens: number | undefined, fallback: number): number {
  return outputTokensFor(modelExpected, undefined, maxTokens, fallback).tokens;
}

export function estimateCost(price: ModelPrice, inputTokens: number, outputTokens: number): number {
  return (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6;
}
