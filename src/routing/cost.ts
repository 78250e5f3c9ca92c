// Request cost estimates from configured prices. Token counts are estimated from characters (about four
// per token for English); the estimate ranks models, so a shared bias cancels out.
import type { ModelPrice } from '../config/schema';

export const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

export function estimateCost(price: ModelPrice, inputTokens: number, outputTokens: number): number {
  return (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6;
}
