// Request cost estimates from configured prices. Token counts are estimated from characters (about four
// per token for English); the estimate ranks models, so a shared bias cancels out.
import type { ModelPrice } from '../config/schema';

export const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

/**
 * The answer length a model is costed at: its own typical length when configured
 * (`models[].expectedOutputTokens`: a reasoning model writes many times what a chat model does), capped
 * by the request's max_tokens; else max_tokens; else the default (`routing.expectedOutputTokens`).
 */
export function costedOutputTokens(modelExpected: number | undefined, maxTokens: number | undefined, fallback: number): number {
  if (modelExpected !== undefined) return maxTokens !== undefined ? Math.min(modelExpected, maxTokens) : modelExpected;
  return maxTokens ?? fallback;
}

export function estimateCost(price: ModelPrice, inputTokens: number, outputTokens: number): number {
  return (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6;
}
