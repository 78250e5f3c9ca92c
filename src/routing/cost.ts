// Request cost estimates from configured prices. Token counts are estimated from characters (about four
// per token for English); the estimate ranks models, so a shared bias cancels out.
import type { ModelPrice } from '../config/schema';

export const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

/**
 * Tokens a prompt may take of a context window, for the hard yes/no of fitting one: ASCII at four
 * characters a token, every other character (CJK, emoji, accented letters) a token of its own, as BPE
 * tokenizers spend at least that on CJK. `estimateTokens` counts all text at four characters a token: fine
 * for ranking prices, where a shared bias cancels, but it let 12,000 CJK characters (about 12,000 tokens)
 * into a 4,096-token window. Never less than `estimateTokens`.
 */
export function windowTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (const ch of text) {
    if (ch.charCodeAt(0) < 128) ascii++;
    else other++;
  }
  return Math.max(estimateTokens(text), Math.ceil(ascii / 4) + other);
}

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
