// The component variants a learner is built from (networks, sparse logistic, kNN, hashed words), where
// each reads its columns in a feature row, and the fold jobs that fit them here or on worker threads.
import { type Component, componentLogits, sliceColumns, standardize, standardizer } from './classifier-spec';
import { type KnnOptions, fitKnn } from './knn';
import type { TrainMatrix } from './matrix';
import { type FitOptions, fitNetwork } from './network';
import { type SparseFitOptions, fitSparseLogistic } from './sparse-logistic';
import { type WordFitOptions, fitWords } from './words';

export interface ComponentRecipe {
  /** The family a learner names ('sparse', 'logistic', 'stats', 'mlp', 'knn', 'words'); variants differ in hyperparameters. */
  family: string;
  name: string;
  /** Whether the component has anything to read in rows of this width. */
  usable(d: number): boolean;
  fit(data: TrainMatrix): Component;
}

type ColumnSet = 'all' | 'embedding' | 'extra';

/** First column of the word slots (ids, then weights), which end the row; `d` when there are none. */
const wordStart = (d: number, layout: RowLayout): number => d - 2 * layout.wordSlots;

/** Dense columns a network reads; the word slots (ids and weights, not magnitudes) are never among them. */
function columnRange(set: ColumnSet, d: number, layout: RowLayout): { start: number; end: number } {
  const denseEnd = wordStart(d, layout);
  if (set === 'embedding') return { start: 0, end: layout.embeddingDim };
  if (set === 'extra') return { start: layout.embeddingDim, end: denseEnd };
  return { start: 0, end: denseEnd };
}

/** Where things are in a feature row: the embedding first, dense extras next, word slots last. */
export interface RowLayout {
  embeddingDim: number;
  wordSlots: number;
  wordBuckets: number;
}

/** The rows' columns [start, end), standardised, with the mean and scale a network component stores. */
function standardizedColumns(data: TrainMatrix, columns: { start: number; end: number }) {
  const w = columns.end - columns.start;
  const X = sliceColumns(data.X, data.n, data.d, columns);
  const { lo, hi, mean, invStd } = standardizer(X, data.n, w);
  return { columns, lo, hi, mean, invStd, standardized: { ...data, d: w, X: standardize(X, data.n, w, { lo, hi, mean, invStd }) } };
}

function networkRecipe(family: string, set: ColumnSet, layout: RowLayout, fit: Partial<FitOptions>): ComponentRecipe {
  const name = `${family}(l2=${fit.l2})`;
  return {
    family,
    name,
    usable: (d) => columnRange(set, d, layout).end > columnRange(set, d, layout).start,
    fit(data) {
      const { standardized, ...scaling } = standardizedColumns(data, columnRange(set, data.d, layout));
      return { type: 'network', name, ...scaling, params: fitNetwork(standardized, fit) };
    },
  };
}

/** Forward-selected logistic regression over the extra (prompt statistic) columns: a network component. */
function sparseRecipe(family: string, layout: RowLayout, fit: Partial<SparseFitOptions>): ComponentRecipe {
  const name = `${family}(gain=${fit.minGain})`;
  return {
    family,
    name,
    usable: (d) => columnRange('extra', d, layout).end > columnRange('extra', d, layout).start,
    fit(data) {
      const { standardized, ...scaling } = standardizedColumns(data, columnRange('extra', data.d, layout));
      return { type: 'network', name, ...scaling, params: fitSparseLogistic(standardized, fit).params };
    },
  };
}

function knnRecipe(family: string, embeddingDim: number, options: KnnOptions): ComponentRecipe {
  const name = `${family}(k=${options.k},t=${options.temperature})`;
  return {
    family,
    name,
    usable: () => true,
    fit(data) {
      const keys = new Float32Array(data.n * embeddingDim);
      for (let r = 0; r < data.n; r++) keys.set(data.X.subarray(r * data.d, r * data.d + embeddingDim), r * embeddingDim);
      return { type: 'knn', name, params: fitKnn(keys, data.n, embeddingDim, data.Y, data.mask, data.m, options) };
    },
  };
}

function wordsRecipe(family: string, layout: RowLayout, options: WordFitOptions): ComponentRecipe {
  const name = `${family}(l2=${options.l2})`;
  return {
    family,
    name,
    usable: () => layout.wordSlots > 0,
    fit(data) {
      const start = wordStart(data.d, layout);
      return { type: 'words', name, params: fitWords(data, { start, slots: layout.wordSlots, buckets: layout.wordBuckets }, options) };
    },
  };
}

/**
 * The hyperparameter grid, per family. Small on purpose: each variant costs one out-of-fold pass. The
 * values come from 5-fold cross-validation on the public outcome data (docs/routing-quality.md):
 * weak regularisation suits 10k-row sets, strong suits 1k-row ones, so both are tried.
 */
export function componentRecipes(layout: RowLayout, seed: number): ComponentRecipe[] {
  const { embeddingDim } = layout;
  const logistic = (family: string, set: ColumnSet, l2: number): ComponentRecipe =>
    networkRecipe(family, set, layout, { hiddenUnits: 0, l2, epochs: 30, learningRate: 0.01, seed });
  return [
    logistic('logistic', 'all', 1e-4),
    logistic('logistic', 'all', 1e-3),
    logistic('logistic', 'all', 1e-2),
    logistic('stats', 'extra', 1e-3),
    logistic('stats', 'extra', 1e-2),
    sparseRecipe('sparse', layout, { minGain: 0.002, ridge: 1e-3, maxFeatures: 8, folds: 5, seed }),
    networkRecipe('mlp', 'all', layout, { hiddenUnits: 32, l2: 1e-2, epochs: 20, learningRate: 0.005, seed }),
    knnRecipe('knn', embeddingDim, { k: 40, temperature: 0.1, alpha: 3 }),
    wordsRecipe('words', layout, { l2: 1e-4, iterations: 40 }),
    wordsRecipe('words', layout, { l2: 1e-3, iterations: 40 }),
  ];
}

/** One inner fold's work: fit the named component variants on `train`, return their logits for `test`. */
export interface FoldJob {
  layout: RowLayout;
  seed: number;
  /** Recipe names from `componentRecipes(layout, seed)`. */
  recipes: readonly string[];
  train: TrainMatrix;
  test: { n: number; d: number; X: Float32Array };
}

/** Logits [test rows × models] per recipe name. */
export type FoldLogits = Record<string, Float32Array>;

/** One component of the chosen learner to fit on `train` (the served model and its held-out twin). */
export interface FitJob {
  layout: RowLayout;
  seed: number;
  /** A recipe name from `componentRecipes(layout, seed)`. */
  recipe: string;
  train: TrainMatrix;
}

/**
 * Runs inner folds and component fits: here (IN_PROCESS_FOLDS) or on worker threads (fold-pool.ts). Every
 * fit is deterministic given its rows and the seed, so where it runs does not change the classifier.
 */
export interface FoldRunner {
  /** Jobs it runs at once. */
  readonly slots: number;
  /** May take ownership of the job's arrays (a worker pool transfers them). */
  run(job: FoldJob): Promise<FoldLogits>;
  /** May take ownership of the job's arrays, as `run`. */
  fit(job: FitJob): Promise<Component>;
}

/** The named recipes of `componentRecipes(layout, seed)`, in the order asked for. */
function recipesNamed(layout: RowLayout, seed: number, names: readonly string[]): ComponentRecipe[] {
  const byName = new Map(componentRecipes(layout, seed).map((r) => [r.name, r]));
  return names.map((name) => {
    const recipe = byName.get(name);
    if (!recipe) throw new Error(`no component variant named ${name}`);
    return recipe;
  });
}

export async function runFold(job: FoldJob): Promise<FoldLogits> {
  const out: FoldLogits = {};
  for (const recipe of recipesNamed(job.layout, job.seed, job.recipes)) {
    out[recipe.name] = await componentLogits(recipe.fit(job.train), job.test.X, job.test.n, job.test.d);
  }
  return out;
}

export function fitComponent(job: FitJob): Component {
  return recipesNamed(job.layout, job.seed, [job.recipe])[0].fit(job.train);
}

export const IN_PROCESS_FOLDS: FoldRunner = { slots: 1, run: runFold, fit: async (job) => fitComponent(job) };
