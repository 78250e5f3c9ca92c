// Hashed bag of words: the prompt's words and word pairs, hashed into a fixed number of buckets and laid
// out as a fixed number of (bucket, weight) slots, so a sparse text feature travels in the same dense
// float row as the embedding. An averaged word embedding blurs exactly what predicts an answer's
// difficulty on multiple-choice and chat data (a "NOT"/"EXCEPT", a subject's jargon, a unit); the words
// keep it, and a logistic model over them adds to the embedding in 5-fold CV (docs/routing-quality.md).
// The classifier learns the per-bucket IDF and weights; this file only counts. Pure and deterministic.

export const WORD_FEATURES_VERSION = 'hashed-words-v1';
/** Number of hash buckets. 2^16 keeps collisions rare for 10k-prompt sets and the weight table small. */
export const WORD_BUCKETS = 65536;
/** At most this many distinct buckets per prompt: the rest of a very long prompt is dropped from its start. */
export const WORD_SLOTS = 512;

const TOKEN = /\p{L}+|\p{N}+|[^\s\p{L}\p{N}]/gu;

export function wordTokens(text: string): string[] {
  return text.toLowerCase().match(TOKEN) ?? [];
}

/** FNV-1a over UTF-16 code units; bucket 0 is kept for padding, so real features land in 1..BUCKETS-1. */
export function wordBucket(feature: string, buckets = WORD_BUCKETS): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < feature.length; i++) {
    h ^= feature.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return 1 + (h % (buckets - 1));
}

/**
 * 2·slots values: `slots` bucket ids (as floats; exact below 2^24), then their weights 1 + ln(count).
 * Unigrams and adjacent pairs count. When a prompt has more distinct buckets than slots, the ones seen
 * nearest the end are kept: after few-shot examples or a long conversation, the question is at the end.
 * Unused slots are bucket 0 with weight 0, which contributes nothing to any sum.
 */
export function wordSlots(prompt: string, slots = WORD_SLOTS, buckets = WORD_BUCKETS): Float32Array {
  const tokens = wordTokens(prompt);
  const counts = new Map<number, number>();
  const add = (feature: string): void => {
    const b = wordBucket(feature, buckets);
    const c = counts.get(b);
    if (c !== undefined) counts.set(b, c + 1);
    else if (counts.size < slots) counts.set(b, 1);
  };
  // Walk backwards so the kept buckets are the last ones when the slots run out.
  for (let i = tokens.length - 1; i >= 0; i--) {
    add(tokens[i]);
    if (i + 1 < tokens.length) add(`${tokens[i]} ${tokens[i + 1]}`);
  }
  const out = new Float32Array(2 * slots);
  let k = 0;
  for (const [b, c] of [...counts].sort((x, y) => x[0] - y[0])) {
    out[k] = b;
    out[slots + k] = 1 + Math.log(c);
    k++;
  }
  return out;
}
