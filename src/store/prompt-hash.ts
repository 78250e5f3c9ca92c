// One hash of prompt text, shared by the embedding cache and the decision log.
import { createHash } from 'node:crypto';

export function promptHash(prompt: string): string {
  return createHash('sha256').update(prompt, 'utf8').digest('hex');
}
