// Turns labelled rows into training matrices: embeddings (cached in the store by embedder and prompt
// hash, so a retrain never recomputes them), feature rows, soft labels and the known-outcome mask.
import { InvalidInputError } from '../src/errors';
import { promptHash } from '../src/store/prompt-hash';
import type { OutcomeStore } from '../src/store/types';
import { featureKind, rowLength, viewText } from '../src/routing/features';
import type { TrainMatrix } from './matrix';

export interface EmbedderLike {
  readonly id: string;
  embed(texts: readonly string[]): Promise<Float32Array[]>;
}

export interface LabelledRow {
  id: string;
  prompt: string;
  source: string | null;
  outcomes: Record<string, number>;
  costs: Record<string, number>;
}

const BATCH = 32;

/** Embeddings for every prompt, one row each; uses and fills the store's cache when given one. */
export async function embedPrompts(
  embedder: EmbedderLike,
  prompts: readonly string[],
  cache: Pick<OutcomeStore, 'getEmbeddings' | 'putEmbeddings'> | null,
  onProgress?: (done: number, total: number) => void,
): Promise<Float32Array[]> {
  const hashes = prompts.map(promptHash);
  const cached = cache ? cache.getEmbeddings(embedder.id, [...new Set(hashes)]) : new Map<string, Float32Array>();
  const out: (Float32Array | undefined)[] = hashes.map((h) => cached.get(h));
  const todo = [...new Set(out.flatMap((v, i) => (v ? [] : [i])).map((i) => hashes[i]))];
  const firstIndex = new Map<string, number>();
  hashes.forEach((h, i) => {
    if (!firstIndex.has(h)) firstIndex.set(h, i);
  });
  let done = prompts.length - todo.length;
  onProgress?.(done, prompts.length);
  for (let start = 0; start < todo.length; start += BATCH) {
    const batch = todo.slice(start, start + BATCH);
    const vectors = await embedder.embed(batch.map((h) => prompts[firstIndex.get(h)!]));
    const fresh = batch.map((h, i) => ({ promptHash: h, vector: vectors[i] }));
    cache?.putEmbeddings(embedder.id, fresh);
    for (const f of fresh) cached.set(f.promptHash, f.vector);
    done += batch.length;
    onProgress?.(Math.min(done, prompts.length), prompts.length);
  }
  return hashes.map((h, i) => out[i] ?? cached.get(h)!);
}

/**
 * Feature rows [n × row length] for a feature kind: embeds every view of every prompt (through the
 * cache when given) and appends the kind's extra values. Also returns the embedding dimension and the
 * layout of the hashed word slots at the end of the row (0 when the kind has none).
 */
export async function featureMatrix(
  kindName: string,
  embedder: EmbedderLike,
  prompts: readonly string[],
  cache: Pick<OutcomeStore, 'getEmbeddings' | 'putEmbeddings'> | null,
  onProgress?: (done: number, total: number) => void,
): Promise<{ X: Float32Array; d: number; embeddingDim: number; wordSlots: number; wordBuckets: number }> {
  const kind = featureKind(kindName);
  const perView: Float32Array[][] = [];
  for (const view of kind.views) {
    perView.push(await embedPrompts(embedder, prompts.map((p) => viewText(view, p)), cache, onProgress));
  }
  const embeddingDim = perView[0]?.[0]?.length ?? 0;
  const d = rowLength(kind, embeddingDim);
  const X = new Float32Array(prompts.length * d);
  prompts.forEach((p, i) => X.set(kind.build(perView.map((v) => v[i]), p), i * d));
  return { X, d, embeddingDim, wordSlots: kind.words?.slots ?? 0, wordBuckets: kind.words?.buckets ?? 0 };
}

export function labelMatrix(rows: readonly LabelledRow[], models: readonly string[]): { Y: Float32Array; mask: Float32Array } {
  const m = models.length;
  const Y = new Float32Array(rows.length * m);
  const mask = new Float32Array(rows.length * m);
  rows.forEach((r, i) =>
    models.forEach((model, j) => {
      const v = r.outcomes[model];
      if (v !== undefined) {
        Y[i * m + j] = v;
        mask[i * m + j] = 1;
      }
    }),
  );
  return { Y, mask };
}

export function buildMatrix(X: Float32Array, d: number, rows: readonly LabelledRow[], models: readonly string[]): TrainMatrix {
  // One non-finite value makes its column's scaling NaN for every row, and every learner then fails with
  // a message about too few rows: name the row instead.
  for (let k = 0; k < X.length; k++) {
    if (!Number.isFinite(X[k])) {
      const row = rows[Math.floor(k / d)];
      throw new InvalidInputError(`the features of stored prompt ${row.id} hold ${X[k]} at column ${k % d} (of ${d}): the embedder or the feature kind gave a non-finite value`, null, 'invalid_features');
    }
  }
  const { Y, mask } = labelMatrix(rows, models);
  return { n: rows.length, d, m: models.length, X, Y, mask };
}

export function modelsOf(rows: readonly LabelledRow[]): string[] {
  return [...new Set(rows.flatMap((r) => Object.keys(r.outcomes)))].sort();
}

/**
 * The split key: a row's prompt, so copies of one prompt under several ids (the same question from two
 * users, an import and its feedback) fall on one side instead of the validation rows being learnt by heart.
 * Recorded in the sidecar as `training.split`.
 */
export const SPLIT_SCHEME = 'prompt-mixed-hash';
export const splitKey = (row: LabelledRow): string => promptHash(row.prompt);

/**
 * Stratified, stable holdout: a row is in validation when a seeded hash of its key falls below the
 * fraction, so its membership never changes as rows are added (the current classifier, trained with the
 * same seed, never saw today's validation rows). Each source with enough rows (5) gets at least one: when
 * none falls below the fraction, its lowest-hash row is moved to validation. That one row can change
 * sides as its source grows (a source of 4 rows trains on it, of 5 validates on it), so the current
 * classifier may have trained on one validation row per such source; left so, because a source with no
 * validation row would never be measured.
 */
export function stratifiedSplit(
  rows: readonly LabelledRow[],
  fraction: number,
  seed: number,
  hash: (s: string, seed: number) => number,
  key: (row: LabelledRow) => string = (r) => r.id,
): { train: number[]; validation: number[] } {
  const keys = rows.map(key);
  const inValidation = keys.map((k) => hash(k, seed) / 4294967296 < fraction);
  const groups = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const key = r.source ?? '';
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  });
  for (const idx of groups.values()) {
    if (idx.length >= 5 && fraction > 0 && !idx.some((i) => inValidation[i])) {
      const lowest = idx.reduce((a, b) => (hash(keys[b], seed) < hash(keys[a], seed) ? b : a));
      for (const i of idx) if (keys[i] === keys[lowest]) inValidation[i] = true;
    }
  }
  const train: number[] = [];
  const validation: number[] = [];
  inValidation.forEach((v, i) => (v ? validation : train).push(i));
  return { train, validation };
}
