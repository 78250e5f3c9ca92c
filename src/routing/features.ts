// Feature rows the classifier sees. A classifier's sidecar names its feature kind; this table maps each
// kind to how a row is built from the prompt's embedding and the prompt text. Only the request is used:
// nothing here may depend on labels a live request does not carry (such as a dataset's `source`).
import { ConfigError } from '../errors';
import { PROMPT_STATS_VERSION, PROMPT_STAT_NAMES, promptStats } from './prompt-stats';

export interface FeatureKind {
  /** Extra values appended after the embedding. */
  extraDimension: number;
  notes: string;
  build(embedding: Float32Array, prompt: string): Float32Array;
}

export const FEATURE_KINDS: Record<string, FeatureKind> = {
  embedding: {
    extraDimension: 0,
    notes: 'the embedder output alone (L2-normalised mean of token vectors)',
    build: (embedding) => embedding,
  },
  'embedding+prompt-stats': {
    extraDimension: PROMPT_STAT_NAMES.length,
    notes: `the embedder output, then ${PROMPT_STATS_VERSION}: ${PROMPT_STAT_NAMES.join(', ')}`,
    build: (embedding, prompt) => {
      const stats = promptStats(prompt);
      const row = new Float32Array(embedding.length + stats.length);
      row.set(embedding);
      row.set(stats, embedding.length);
      return row;
    },
  },
};

/** What `retrain` trains on unless told otherwise: measured better than the embedding alone on every public set. */
export const DEFAULT_FEATURE_KIND = 'embedding+prompt-stats';

export function featureKind(name: string): FeatureKind {
  const kind = FEATURE_KINDS[name];
  if (!kind) {
    throw new ConfigError(`unknown feature kind "${name}" (known: ${Object.keys(FEATURE_KINDS).join(', ')})`, 'classifier_invalid');
  }
  return kind;
}
