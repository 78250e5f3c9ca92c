// Feature rows the classifier sees. A classifier's sidecar names its feature kind; this table maps each
// kind to how a row is built from the prompt's embedding and the prompt text. Only the request is used:
// nothing here may depend on labels a live request does not carry (such as a dataset's `source`).
import { ConfigError } from '../errors';

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
};

export function featureKind(name: string): FeatureKind {
  const kind = FEATURE_KINDS[name];
  if (!kind) {
    throw new ConfigError(`unknown feature kind "${name}" (known: ${Object.keys(FEATURE_KINDS).join(', ')})`, 'classifier_invalid');
  }
  return kind;
}
