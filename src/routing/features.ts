// Feature rows the classifier sees. A classifier's sidecar names its feature kind; this table maps each
// kind to how a row is built from the prompt's embedding and the prompt text. Only the request is used:
// nothing here may depend on labels a live request does not carry (such as a dataset's `source`).
import { ConfigError } from '../errors';
import { concatFloats } from '../util/concat-floats';
import { PROMPT_STATS_V2_VERSION, PROMPT_STATS_VERSION, PROMPT_STAT_NAMES, PROMPT_STAT_V2_NAMES, promptStats, promptStatsV2 } from './prompt-stats';
import { WORD_BUCKETS, WORD_FEATURES_VERSION, WORD_SLOTS, wordSlots } from './word-features';

/**
 * The texts a feature row embeds: the whole prompt, or its tail (the last TAIL_CHARS characters, where
 * the question usually is after few-shot examples or a long conversation).
 */
export type TextView = 'full' | 'tail';
export const TAIL_CHARS = 400;

export function viewText(view: TextView, prompt: string): string {
  return view === 'full' || prompt.length <= TAIL_CHARS ? prompt : prompt.slice(prompt.length - TAIL_CHARS);
}

export interface FeatureKind {
  /** Embedded views, in row order; the first is what nearest-neighbour components compare. */
  views: readonly TextView[];
  /** Extra values appended after the embeddings (word slots included). */
  extraDimension: number;
  /**
   * Hashed word features at the end of the row (src/routing/word-features.ts): `slots` bucket ids, then
   * `slots` weights, over `buckets` buckets. Absent: the row has none.
   */
  words?: { slots: number; buckets: number };
  notes: string;
  /** One embedding per view (same order), and the prompt. */
  build(embeddings: readonly Float32Array[], prompt: string): Float32Array;
}

/** Feature row length for an embedder of `dimension`. */
export const rowLength = (kind: FeatureKind, dimension: number): number => kind.views.length * dimension + kind.extraDimension;

/** The embedding, one version of the prompt statistics, then the hashed word slots. */
function embeddingStatsWords(version: string, names: readonly string[], stats: (prompt: string) => Float32Array): FeatureKind {
  return {
    views: ['full'],
    extraDimension: names.length + 2 * WORD_SLOTS,
    words: { slots: WORD_SLOTS, buckets: WORD_BUCKETS },
    notes:
      `the embedder output, then ${version}: ${names.join(', ')}; then ${WORD_FEATURES_VERSION}: ` +
      `${WORD_SLOTS} bucket ids and ${WORD_SLOTS} weights (1 + ln count) of the prompt's words and word pairs hashed into ${WORD_BUCKETS} buckets`,
    build: ([full], prompt) => concatFloats([full, stats(prompt), wordSlots(prompt)]),
  };
}

export const FEATURE_KINDS: Record<string, FeatureKind> = {
  embedding: {
    views: ['full'],
    extraDimension: 0,
    notes: 'the embedder output alone (L2-normalised mean of token vectors)',
    build: ([full]) => full,
  },
  'embedding+prompt-stats': {
    views: ['full'],
    extraDimension: PROMPT_STAT_NAMES.length,
    notes: `the embedder output, then ${PROMPT_STATS_VERSION}: ${PROMPT_STAT_NAMES.join(', ')}`,
    build: ([full], prompt) => concatFloats([full, promptStats(prompt)]),
  },
  'tail+embedding+prompt-stats': {
    views: ['tail', 'full'],
    extraDimension: PROMPT_STAT_NAMES.length,
    notes: `the embedding of the prompt's last ${TAIL_CHARS} characters, of the whole prompt, then ${PROMPT_STATS_VERSION}: ${PROMPT_STAT_NAMES.join(', ')}`,
    build: (embeddings, prompt) => concatFloats([...embeddings, promptStats(prompt)]),
  },
  'embedding+prompt-stats+words': embeddingStatsWords(PROMPT_STATS_VERSION, PROMPT_STAT_NAMES, promptStats),
  'embedding+prompt-stats-v2+words': embeddingStatsWords(PROMPT_STATS_V2_VERSION, PROMPT_STAT_V2_NAMES, promptStatsV2),
};

/**
 * What `retrain` trains on unless told otherwise. In 5-fold CV on the public sets the prompt statistics
 * beat the embedding alone on MMLU, GSM8K and RouterBench's gain, the hashed words then added to MMLU and
 * LLMRouter, and v2's five statistics to MMLU's CPT(50%) and GSM8K on three fold seeds
 * (docs/routing-quality.md); the trainer still picks, per dataset, which components use them. The older kinds stay for
 * the classifiers trained on them.
 */
export const DEFAULT_FEATURE_KIND = 'embedding+prompt-stats-v2+words';

export function featureKind(name: string): FeatureKind {
  const kind = FEATURE_KINDS[name];
  if (!kind) {
    throw new ConfigError(`unknown feature kind "${name}" (known: ${Object.keys(FEATURE_KINDS).join(', ')})`, 'classifier_invalid');
  }
  return kind;
}
