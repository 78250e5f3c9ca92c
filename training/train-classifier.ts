// Fits the success classifier: candidate components (logistic regression, forward-selected sparse
// logistic regression over the prompt statistics, a one-hidden-layer MLP, nearest neighbours, logistic
// regression over hashed words) each get K-fold out-of-fold logits; each family keeps its variant with
// the lowest calibrated out-of-fold log loss; each candidate learner (a component alone or a stack of
// components) is calibrated on those out-of-fold logits and judged by the routing score of its
// out-of-fold probabilities under the policy in use (log loss when no costs are given), and so is the
// logit average of the best few; a more complex learner must win by a margin and fold by fold. A joint
// layer over the winner's logits is kept when its cross-fitted score is higher by the same test; the
// winner is refitted on all rows. Deterministic given the seed.
import { type JointParams, applyJoint, applyStack, fitJoint, fitStack, stackLogits, type StackParams } from './calibrate';
import { type KnnOptions, type KnnParams, fitKnn, knnLogitsFromNeighbours, nearestNeighbours } from './knn';
import { type TrainMatrix, hashString, mean, pickRows, putRows, selectRows, sigmoid } from './matrix';
import { type LabelledPrediction, type PolicyKind, summarize } from './metrics';
import { type FitOptions, type NetworkParams, fitNetwork, forwardLogits, maskedLogLoss } from './network';
import { type SparseFitOptions, fitSparseLogistic } from './sparse-logistic';
import { type WordFitOptions, type WordParams, fitWords, wordLogits } from './words';
import { InvalidInputError } from '../src/errors';
import { concatFloats } from '../src/util/concat-floats';

/** How a network component prepares its columns: clipped into the training range, then standardised. */
export interface Scaling {
  /**
   * The training rows' range of each column: a row is clipped into it before standardising, so a prompt
   * far outside what training saw (a 40,000-word prompt, a 30-digit number) gets the prediction at the
   * edge of the data, not a linear extrapolation to p = 0 or 1.
   */
  lo: Float32Array;
  hi: Float32Array;
  mean: Float32Array;
  invStd: Float32Array;
}

export type Component =
  | (Scaling & {
      type: 'network';
      name: string;
      /** The feature columns [start, end) this component reads (all, the embedding, or the extra features). */
      columns: { start: number; end: number };
      params: NetworkParams;
    })
  | { type: 'knn'; name: string; params: KnnParams }
  | { type: 'words'; name: string; params: WordParams };

export interface ClassifierSpec {
  models: string[];
  /** Length of a feature row. */
  inputDim: number;
  /** The leading part of a feature row that is the embedding (what kNN compares). */
  embeddingDim: number;
  components: Component[];
  stack: StackParams;
  /** Optional joint layer over the stack's logits (calibrate.ts), when it routed better out of fold. */
  joint?: JointParams;
}

/**
 * Several classifiers, one per kind of prompt, and a gate that tells the kinds apart from the prompt's
 * features (training/experts.ts): a row is served by its kind's classifier. All read the same feature row.
 */
export interface GatedSpec {
  models: string[];
  inputDim: number;
  embeddingDim: number;
  /** The kinds, in the gate's output order (the first segment of the training rows' sources). */
  kinds: string[];
  /** Logistic regression over the dense features with one output per kind; a row goes to its largest. */
  gate: Extract<Component, { type: 'network' }>;
  /**
   * One classifier per kind, in `kinds` order, each over the models its kind records (`models`, or some of
   * them). A model is served by the expert of the kind the gate scores highest among those whose expert
   * predicts it: with every expert over every model, simply the row's kind's.
   */
  experts: ClassifierSpec[];
}

/** Per model of a gated spec: the experts predicting it, each with the model's column among its outputs. */
export function modelExperts(spec: Pick<GatedSpec, 'models' | 'experts'>): { expert: number; column: number }[][] {
  return spec.models.map((model) =>
    spec.experts.flatMap((x, e) => (x.models.includes(model) ? [{ expert: e, column: x.models.indexOf(model) }] : [])),
  );
}

/** Every expert predicts every model, in the spec's order: a row takes its kind's expert whole. */
export const expertsCoverAll = (spec: Pick<GatedSpec, 'models' | 'experts'>): boolean =>
  spec.experts.every((x) => x.models.length === spec.models.length && x.models.every((model, j) => model === spec.models[j]));

/** What a classifier version serves. */
export type ServedSpec = ClassifierSpec | GatedSpec;

export const isGated = (spec: ServedSpec): spec is GatedSpec => 'experts' in spec;

interface ComponentRecipe {
  /** The family a learner names ('sparse', 'logistic', 'stats', 'mlp', 'knn', 'words'); variants differ in hyperparameters. */
  family: string;
  name: string;
  /** Whether the component has anything to read in rows of this width. */
  usable(d: number): boolean;
  fit(data: TrainMatrix): Component;
}

export interface TrainOptions {
  models: string[];
  embeddingDim: number;
  /** Hashed word slots at the end of each row (0 or absent: none) and their bucket count. */
  wordSlots?: number;
  wordBuckets?: number;
  seed?: number;
  folds?: number;
  /** Keys that decide fold membership (e.g. row ids), so folds do not depend on row order. */
  foldKeys?: readonly string[];
  /** Restrict the learners tried, by name (see `learnerNames`). */
  learners?: readonly string[];
  /**
   * Cost of sending each row to each model [n×m]. When given, learners are chosen by the routing quality
   * of their out-of-fold predictions (APGR for two models, gain over the Zero router for more) — the
   * numbers users judge a router by — with log loss breaking ties; otherwise by log loss alone.
   */
  costs?: Float64Array;
  /**
   * What the policy sees of `costs` when it chooses [n×m], when that differs: the router's estimate
   * (price × estimated tokens) where `costs` are the rows' recorded per-prompt costs. Default `costs`.
   */
  estimates?: Float64Array;
  /** The policy whose routing quality chooses the learner (default per-request). */
  policy?: PolicyKind;
  onProgress?: (message: string) => void;
  /**
   * Also try the logit average of this many best learners by out-of-fold routing score (default 3; 0 or 1:
   * off), chosen when it scores higher than the best single learner. Needs `costs`.
   */
  ensembleTop?: number;
  /** Where the inner folds' fits run (default IN_PROCESS_FOLDS; fold-pool.ts puts them on worker threads). */
  foldRunner?: FoldRunner;
  /** Try the joint layer over the chosen stack's logits (default true; needs `costs`). */
  joint?: boolean;
  /**
   * Standard errors of the per-fold paired routing-score differences by which a more complex learner, the
   * ensemble or the joint layer must beat the incumbent, besides the margin (default 1 on sets under
   * LARGE_SET_ROWS rows, else 0; 0: the margin only).
   */
  significance?: number;
  /** Routing score a more complex learner or the joint layer must add to be chosen (default ROUTING_MARGIN). */
  margin?: number;
  /**
   * Times the inner cross-validation is drawn, each with its own fold assignment (default: 3 when rows ×
   * models is under 10,000, else 1). Learners are chosen on the scores averaged over the draws and the
   * stack and joint layer are fitted on every draw's out-of-fold logits.
   */
  repeats?: number;
}

export interface TrainResult<S extends ServedSpec = ClassifierSpec> {
  spec: S;
  learner: string;
  /** Out-of-fold log loss of every component variant and every learner tried (lower is better). */
  selection: Record<string, number>;
  /** The chosen learner's out-of-fold probabilities [n×m]: honest predictions for the training rows. */
  outOfFold: Float32Array;
  seconds: number;
  /**
   * The classifier fitted on other rows (the same columns). `retrain` uses it to ship a classifier fitted
   * on every row once the held-out comparison has been made with `spec`. Asked to (`rechoose`), a small set
   * (rows × models under SMALL_SET_CELLS) given what a choice needs has its learner chosen afresh on the
   * new rows; otherwise the chosen learner's components are refitted and its stack and joint layer kept.
   */
  refit(input: RefitRows): Promise<Refitted<S>>;
}

/** Rows to refit on, with what choosing a learner over them takes (each as in `TrainOptions`, for these rows). */
export interface RefitRows {
  rows: TrainMatrix;
  /** The rows' sources: a gated classifier refits its gate on them; a single classifier has no use for them. */
  sources?: readonly (string | null)[];
  /**
   * Choose a small set's learner afresh (each small kind's, behind a gate). A second choice costs what the
   * first did again; `retrain` asks for it when the whole store is small (`isSmallSet`), so a large store's
   * small kind does not add its price to a retrain that is long already.
   */
  rechoose?: boolean;
  foldKeys?: readonly string[];
  costs?: Float64Array;
  estimates?: Float64Array;
}

export interface Refitted<S extends ServedSpec = ClassifierSpec> {
  spec: S;
  /** The learner served: the one chosen in training, or the one chosen afresh on the refit's rows. */
  learner: string;
  /** Whether the learner was chosen afresh (behind a gate: any kind's). */
  rechosen: boolean;
}

type ColumnSet = 'all' | 'embedding' | 'extra';

/** One inner fold: the rows it holds out and the rows fitted without them. */
interface Split {
  fit: number[];
  held: number[];
}

/** One draw of the inner folds: its splits and every needed component variant's out-of-fold logits [n×m]. */
interface Draw {
  splits: Split[];
  oof: Map<string, Float32Array>;
}

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

function sliceColumns(X: Float32Array, n: number, d: number, { start, end }: { start: number; end: number }): Float32Array {
  if (start === 0 && end === d) return X;
  const w = end - start;
  const out = new Float32Array(n * w);
  for (let r = 0; r < n; r++) out.set(X.subarray(r * d + start, r * d + end), r * w);
  return out;
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

/**
 * Members of the small ensemble tried after the single learners. In 5-fold CV on the public sets, over two
 * fold seeds, it nudged most figures up (MMLU APGR +0.005 / +0.001, LLMRouter gain +0.002 / +0.008) and
 * moved none by more than fold noise (docs/routing-quality.md).
 */
const DEFAULT_ENSEMBLE = 3;

/**
 * Draws of the inner folds on small sets (rows × models under SMALL_SET_CELLS). One draw's out-of-fold
 * scores move with the fold assignment by about as much as learners differ there, so the learner chosen
 * depends on the luck of the draw. Three draws cost three times the folds, a few seconds on such a set;
 * on large sets one draw is steadier and more would cost what `retrain`'s time budget cannot spare.
 */
const DEFAULT_SMALL_REPEATS = 3;
const SMALL_SET_CELLS = 10_000;
export const isSmallSet = (n: number, m: number): boolean => n * m < SMALL_SET_CELLS;

/** Seed offset between draws (any odd constant: each draw hashes the fold keys with its own seed). */
const DRAW_SEED_STEP = 7919;

/** How much routing score (APGR or gain over Zero) a later, more complex learner must add to be chosen. */
const ROUTING_MARGIN = 0.005;

/**
 * How many standard errors of the per-fold paired differences a challenger's mean gain must also clear.
 * One standard error, as in the one-standard-error rule of model selection. In 5-fold CV under the
 * average policy, with stacks scored cross-fitted, GSM8K APGR went from 0.626 / 0.647 (two fold seeds)
 * to 0.655 / 0.656: complex learners no longer beat the sparse one by noise. MMLU, RouterBench and
 * LLMRouter moved inside their seed noise (docs/routing-quality.md).
 */
const DEFAULT_SIGNIFICANCE = 1;

/**
 * Rows from which a set counts as large for the inner cross-validation: it gets 4 inner folds rather than
 * 5, and the paired test is off by default (the margin stays). There the test's standard error comes from
 * one draw's 4 fold differences and is itself a guess: gating on it kept MMLU on simpler learners than its
 * best (the largest stack, fixed with `--learner`, read 0.718 / 0.718 / 0.716). With the test off, MMLU's
 * APGR went from 0.706 / 0.704 / 0.708 to 0.715 / 0.716 / 0.714 (near-best, fold seeds 1–3; README
 * "Routing quality"). Off on RouterBench (2,225 rows) it cost 4 points of saving at the same gain (fold
 * seeds 1–3), so smaller sets keep the test.
 */
const LARGE_SET_ROWS = 3000;

/**
 * Mean of the paired differences a − b over its standard error (∞ when all differences are equal and
 * positive). `heldOverFit` (held-out rows over fitted rows of a fold) applies Nadeau and Bengio's
 * correction for cross-validated differences, whose folds share most of their training rows: the variance
 * of the mean is s²·(1/J + heldOverFit) rather than s²/J (0: uncorrected).
 */
export function pairedMeanOverSe(a: readonly number[], b: readonly number[], heldOverFit = 0): number {
  const d = a.map((v, k) => v - b[k]);
  if (d.length === 0) return Infinity;
  const avg = mean(d);
  if (d.length === 1) return avg > 0 ? Infinity : -Infinity;
  const sd = Math.sqrt(d.reduce((x, y) => x + (y - avg) ** 2, 0) / (d.length - 1));
  if (sd === 0) return avg > 0 ? Infinity : avg < 0 ? -Infinity : 0;
  return avg / (sd * Math.sqrt(1 / d.length + heldOverFit));
}

/** Learners: single components and stacks of them, by name ('logistic', 'logistic+knn', ...). */
export const LEARNERS: readonly string[][] = [
  ['sparse'], ['logistic'], ['mlp'], ['knn'], ['stats'],
  ['logistic', 'knn'], ['mlp', 'knn'], ['stats', 'knn'], ['stats', 'logistic'], ['stats', 'logistic', 'knn'],
  ['words'], ['logistic', 'words'], ['mlp', 'words'], ['stats', 'words'], ['words', 'knn'], ['logistic', 'words', 'knn'],
  ['mlp', 'words', 'knn'], ['stats', 'words', 'knn'], ['stats', 'logistic', 'words', 'knn'],
];
export const learnerNames = (): string[] => LEARNERS.map((l) => l.join('+'));

export async function componentLogits(c: Component, X: Float32Array, n: number, d: number): Promise<Float32Array> {
  if (c.type === 'network') {
    const w = c.columns.end - c.columns.start;
    return forwardLogits(c.params, standardize(sliceColumns(X, n, d, c.columns), n, w, c), n);
  }
  if (c.type === 'words') return wordLogits(c.params, X, n, d);
  if (n === 0) return new Float32Array(0);
  return knnLogitsFromNeighbours(c.params, await nearestNeighbours(c.params, X, n, d), n);
}

/** Of the candidate columns, the one with the largest logit in row r of z [n×k] (ties: the first, as ONNX ArgMax). */
export function argmaxAmong(z: Float32Array, r: number, k: number, candidates: readonly number[]): number {
  let best = candidates[0];
  for (const c of candidates) if (z[r * k + c] > z[r * k + best]) best = c;
  return best;
}

/** The gate's kind (an index into `spec.kinds`) for each of n rows: the largest of its logits. */
export async function gateKinds(spec: Pick<GatedSpec, 'kinds' | 'gate' | 'inputDim'>, X: Float32Array, n: number): Promise<Int32Array> {
  const k = spec.kinds.length;
  const z = await componentLogits(spec.gate, X, n, spec.inputDim);
  const every = Array.from({ length: k }, (_, c) => c);
  return Int32Array.from({ length: n }, (_, r) => argmaxAmong(z, r, k, every));
}

/** Probabilities [n×m] computed in JavaScript (and onnxruntime for the neighbour search). */
export async function predictSpec(spec: ServedSpec, X: Float32Array, n: number): Promise<Float32Array> {
  if (isGated(spec)) {
    const m = spec.models.length;
    const d = spec.inputDim;
    const out = new Float32Array(n * m);
    if (expertsCoverAll(spec)) {
      const kind = await gateKinds(spec, X, n);
      for (let e = 0; e < spec.experts.length; e++) {
        const rows = Array.from(kind.keys()).filter((r) => kind[r] === e);
        if (rows.length === 0) continue;
        putRows(out, await predictSpec(spec.experts[e], pickRows(X, rows, d), rows.length), rows, m);
      }
      return out;
    }
    // Per model, the expert of the gate's likeliest kind among those predicting it. Every expert runs on
    // every row, as in the graph.
    const k = spec.kinds.length;
    const z = await componentLogits(spec.gate, X, n, spec.inputDim);
    const P: Float32Array[] = [];
    for (const x of spec.experts) P.push(await predictSpec(x, X, n));
    modelExperts(spec).forEach((serving, j) => {
      if (serving.length === 0) throw new Error(`gated classifier: no expert predicts ${spec.models[j]}`);
      const experts = serving.map((c) => c.expert);
      for (let r = 0; r < n; r++) {
        const best = serving[experts.indexOf(argmaxAmong(z, r, k, experts))];
        out[r * m + j] = P[best.expert][r * spec.experts[best.expert].models.length + best.column];
      }
    });
    return out;
  }
  const logits: Float32Array[] = [];
  for (const c of spec.components) logits.push(await componentLogits(c, X, n, spec.inputDim));
  if (!spec.joint) return applyStack(logits, spec.stack, spec.models.length);
  return applyJoint(stackLogits(logits, spec.stack, spec.models.length), spec.joint, spec.models.length).map(sigmoid);
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

/** `work` on every item, at most `slots` at a time, results in item order. */
async function inLanes<T, R>(items: readonly T[], slots: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const k = next++;
      out[k] = await work(items[k], k);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(slots, items.length)) }, lane));
  return out;
}

export async function trainClassifier(data: TrainMatrix, options: TrainOptions): Promise<TrainResult<ClassifierSpec>> {
  const started = Date.now();
  const seed = options.seed ?? 1;
  const log = options.onProgress ?? (() => {});
  if (options.costs && routingGroups(data.mask, data.m, Array.from({ length: data.n }, (_, i) => i)).length === 0) {
    // Live feedback alone records one model per row: no row can say which of two models to send it to.
    log('  no row records outcomes of two models or more: learners are chosen by out-of-fold log loss');
    options = { ...options, costs: undefined };
  }
  // Inner folds: the more there are, the closer each out-of-fold model is to the one served, and the better
  // the stack and the learner choice fitted on their logits. Small sets get 5. Large ones get 4: on MMLU
  // (5-fold CV, average policy, fold seeds 1–3) 3 gave APGR 0.695 / 0.696 / 0.698, 4 gave 0.704 / 0.710 /
  // 0.704 and 5 gave 0.712 / 0.699 / 0.703 for a fifth more training time again (docs/routing-quality.md).
  const K = Math.max(2, Math.min(options.folds ?? (data.n < LARGE_SET_ROWS ? 5 : 4), data.n));
  const layout: RowLayout = { embeddingDim: options.embeddingDim, wordSlots: options.wordSlots ?? 0, wordBuckets: options.wordBuckets ?? 0 };
  if (layout.wordSlots > 0 && !(layout.wordBuckets > 0)) throw new Error('wordSlots needs wordBuckets');
  const recipes = componentRecipes(layout, seed);
  const usable = new Set(recipes.filter((r) => r.usable(data.d)).map((r) => r.family));
  const wanted = (options.learners ? LEARNERS.filter((l) => options.learners!.includes(l.join('+'))) : LEARNERS).filter((l) =>
    l.every((name) => usable.has(name)),
  );
  if (wanted.length === 0) throw new Error(`no such learner; known: ${learnerNames().join(', ')}`);
  const needed = new Set(wanted.flat());

  // Out-of-fold logits of every needed component, for each draw of the inner folds. The first draw is the
  // one a single draw has always used, so large sets (one draw) train as before.
  const R = Math.max(1, Math.floor(options.repeats ?? (isSmallSet(data.n, data.m) ? DEFAULT_SMALL_REPEATS : 1)));
  const oofRecipes = recipes.filter((r) => needed.has(r.family));
  const draws: Draw[] = Array.from({ length: R }, (_, r) => {
    const fold = Array.from({ length: data.n }, (_, i) => hashString(options.foldKeys?.[i] ?? String(i), seed + r * DRAW_SEED_STEP) % K);
    // Each fold's held-out rows and the rows fitted without them; a fold a tiny set leaves empty is skipped.
    const splits: Split[] = [];
    for (let f = 0; f < K; f++) {
      const split: Split = { fit: [], held: [] };
      fold.forEach((g, i) => (g === f ? split.held : split.fit).push(i));
      if (split.held.length > 0 && split.fit.length > 0) splits.push(split);
    }
    return { splits, oof: new Map<string, Float32Array>(oofRecipes.map((rec) => [rec.name, new Float32Array(data.n * data.m)])) };
  });
  // Fold by fold, so each fold's rows are copied out once for every recipe rather than once per recipe;
  // as many folds at once as the runner has slots (worker threads), each fold's copies handed to it.
  const runner = options.foldRunner ?? IN_PROCESS_FOLDS;
  const jobs = draws.flatMap((draw) => draw.splits.map((split) => ({ draw, split })));
  let foldsDone = 0;
  await inLanes(jobs, runner.slots, async ({ draw, split: { fit, held } }) => {
    const test = selectRows(data, held);
    const logits = await runner.run({ layout, seed, recipes: oofRecipes.map((r) => r.name), train: selectRows(data, fit), test: { n: test.n, d: test.d, X: test.X } });
    for (const recipe of oofRecipes) putRows(draw.oof.get(recipe.name)!, logits[recipe.name], held, data.m);
    foldsDone++;
    log(`  fold ${foldsDone}/${jobs.length}${R > 1 ? ` (${R} draws of ${K})` : ''}: out-of-fold predictions of ${oofRecipes.length} component variants done (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  });
  // Every draw's rows one after another, for fits that pool the draws (the stack, the joint layer).
  const pooled = (parts: (draw: Draw) => Float32Array): Float32Array => (R === 1 ? parts(draws[0]) : concatFloats(draws.map(parts)));
  const pooledY = pooled(() => data.Y);
  const pooledMask = pooled(() => data.mask);

  // Each family's best variant, by the calibrated out-of-fold log loss of that component alone (mean over draws).
  const selection: Record<string, number> = {};
  const variant = new Map<string, ComponentRecipe>();
  for (const family of needed) {
    let bestLoss = Infinity;
    for (const recipe of recipes.filter((r) => r.family === family)) {
      const loss = mean(draws.map((draw) => {
        const z = draw.oof.get(recipe.name)!;
        return maskedLogLoss(applyStack([z], fitStack([z], data.Y, data.mask, data.m), data.m), data.Y, data.mask);
      }));
      selection[recipe.name] = loss;
      if (loss < bestLoss - 1e-9) {
        bestLoss = loss;
        variant.set(family, recipe);
      }
    }
  }

  const unfitted = [...needed].filter((family) => !variant.has(family));
  if (unfitted.length > 0) {
    throw new InvalidInputError(
      `no ${unfitted.join(', ')} variant could be scored on ${data.n} rows (every out-of-fold loss is undefined): too few rows with outcomes to train on`,
      null,
      'not_enough_data',
    );
  }

  // Zs: per draw, the learner's stacked logits with the stack itself cross-fitted over that draw's folds, so
  // its score carries no in-sample optimism from the stack's own fit (with a dozen weights on 900 rows,
  // enough to rank learners wrongly). Scores are the mean over draws; P is the first draw's.
  type Tried = { names: string[]; stack: StackParams; loss: number; quality: number; P: Float32Array; folds: number[]; Zs: Float32Array[] };
  let best: Tried | null = null;
  const tried: Tried[] = [];
  const policy = options.policy ?? 'per-request';
  const costs = options.costs;
  // Log loss and routing score, each the mean over draws, and every fold's routing score (all draws' folds,
  // in order): the paired test below compares two learners fold by fold on the same folds.
  const assess = (Ps: readonly Float32Array[]): { quality: number; loss: number; folds: number[] } => {
    const loss = mean(Ps.map((P) => maskedLogLoss(P, data.Y, data.mask)));
    if (!costs) return { quality: 0, loss, folds: [] };
    const quality = mean(Ps.map((P) => routingScore(P, data, costs, options.estimates, policy)));
    const byDraw = draws.map((draw, r) => draw.splits.map(({ held }) => routingScore(Ps[r], data, costs, options.estimates, policy, held)));
    return { quality, loss, folds: byDraw.flat() };
  };
  const significance = options.significance ?? (data.n < LARGE_SET_ROWS ? DEFAULT_SIGNIFICANCE : 0);
  const margin = options.margin ?? ROUTING_MARGIN;
  // With several draws every fold of every draw is one paired difference. Three draws of the same rows
  // triple their number, not the evidence, so their standard error takes Nadeau and Bengio's correction
  // (`pairedMeanOverSe`). On large sets (LARGE_SET_ROWS) the test is off by default; asked for with one
  // draw, it is the plain one: corrected there, it cost MMLU 0.005 / 0.001 of APGR and RouterBench 0.003 /
  // 0 of gain (near-best, fold seeds 1; 2) for no gain anywhere (docs/routing-quality.md).
  const heldOverFit = R > 1 ? 1 / (K - 1) : 0;
  // A challenger replaces the incumbent when its routing score is higher by the margin and, fold by fold,
  // higher by more than `significance` standard errors of the paired differences: on a 900-row set the
  // overall score alone lets a complex learner win by noise (docs/routing-quality.md).
  const beats = (quality: number, folds: number[], incumbent: { quality: number; folds: number[] }, margin: number): boolean =>
    quality > incumbent.quality + margin && (significance <= 0 || pairedMeanOverSe(folds, incumbent.folds, heldOverFit) > significance);
  for (const names of wanted) {
    const partsOf = (draw: Draw): Float32Array[] => names.map((n) => draw.oof.get(variant.get(n)!.name)!);
    const stack = fitStack(names.map((_, k) => pooled((draw) => partsOf(draw)[k])), pooledY, pooledMask, data.m, undefined, R);
    const Zs = draws.map((draw) => crossFittedStackLogits(partsOf(draw), data, draw.splits));
    const Ps = Zs.map((Z) => Z.map(sigmoid));
    const { quality, loss, folds } = assess(Ps);
    selection[names.join('+')] = loss;
    if (costs) selection[`${names.join('+')} routing`] = quality;
    // Learners are listed simplest first; a more complex one must win by a margin, not by selection noise.
    const better = !best || (costs ? beats(quality, folds, best, margin) : loss < best.loss - 1e-9);
    if (costs) {
      const evidence = best ? ` (${pairedMeanOverSe(folds, best.folds, heldOverFit).toFixed(2)} se over ${best.names.join('+')})` : '';
      log(`  ${names.join('+')}: routing score ${quality.toFixed(4)}${evidence}${better ? ', the best so far' : ''}`);
    }
    const entry = { names, stack, loss, quality, P: Ps[0], folds, Zs };
    if (better) best = entry;
    tried.push(entry);
  }
  const top = options.ensembleTop ?? DEFAULT_ENSEMBLE;
  if (top > 1 && costs && tried.length > 1) {
    // A small ensemble: the logit average of the best learners' stacks, which is itself one stack over the
    // union of their components (a component a member lacks counts with weight 0 for that member).
    const members = [...tried].sort((a, b) => b.quality - a.quality).slice(0, top);
    const order = [...new Set(members.flatMap((x) => x.names))].sort(
      (a, b) => recipes.findIndex((r) => r.family === a) - recipes.findIndex((r) => r.family === b),
    );
    const weights = order.map(() => new Float32Array(data.m));
    const bias = new Float32Array(data.m);
    for (const mem of members) {
      mem.names.forEach((name, k) => {
        const w = weights[order.indexOf(name)];
        for (let j = 0; j < data.m; j++) w[j] += mem.stack.weights[k][j] / members.length;
      });
      for (let j = 0; j < data.m; j++) bias[j] += mem.stack.bias[j] / members.length;
    }
    const stack = { weights, bias };
    // Scored, like its members, on cross-fitted logits: the average of theirs, draw by draw.
    const Zs = draws.map((_, r) => {
      const Z = new Float32Array(data.n * data.m);
      for (const mem of members) for (let i = 0; i < Z.length; i++) Z[i] += mem.Zs[r][i] / members.length;
      return Z;
    });
    const Ps = Zs.map((Z) => Z.map(sigmoid));
    const { quality, loss, folds } = assess(Ps);
    selection[`ensemble(${members.map((x) => x.names.join('+')).join(', ')}) routing`] = quality;
    log(`  ensemble of ${members.map((x) => x.names.join('+')).join(', ')}: routing score ${quality.toFixed(4)} (best single ${best!.quality.toFixed(4)})`);
    if (beats(quality, folds, best!, 0)) best = { names: order, stack, loss, quality, P: Ps[0], folds, Zs };
  }
  const chosen = best!;
  const chosenRecipes = chosen.names.map((n) => variant.get(n)!);
  let joint: JointParams | undefined;
  if (costs && (options.joint ?? true) && data.m >= 2) {
    // Scored on the cross-fitted stack logits, as the learners were; the kept layer is fitted on the stack's.
    const Pjs = draws.map((draw, r) => crossFittedJoint(chosen.Zs[r], data, draw.splits));
    const { quality, loss, folds } = assess(Pjs);
    selection[`${chosen.names.join('+')}+joint routing`] = quality;
    log(`  joint layer over the models' logits: routing score ${quality.toFixed(4)} (without ${chosen.quality.toFixed(4)})`);
    if (beats(quality, folds, chosen, margin)) {
      const Z = pooled((draw) => stackLogits(chosen.names.map((n) => draw.oof.get(variant.get(n)!.name)!), chosen.stack, data.m));
      joint = fitJoint(Z, pooledY, pooledMask, data.m, undefined, R);
      Object.assign(chosen, { quality, P: Pjs[0], loss });
    }
  }
  log(
    `  chose ${chosenRecipes.map((r) => r.name).join(' + ')}${joint ? ' + joint layer' : ''} (out-of-fold log loss ${chosen.loss.toFixed(4)}` +
      `${options.costs ? `, routing score ${chosen.quality.toFixed(4)}` : ''})`,
  );
  // The components of the chosen learner are fitted side by side when the runner has slots to spare (each
  // job gets its own copy of the rows, made when it starts, as the fold jobs do).
  const everyRow = (rows: TrainMatrix): number[] => Array.from({ length: rows.n }, (_, i) => i);
  const specFor = async (rows: TrainMatrix): Promise<ClassifierSpec> => {
    if (rows.d !== data.d || rows.m !== data.m) throw new Error(`refit needs rows of ${data.d} features × ${data.m} models, got ${rows.d} × ${rows.m}`);
    const components =
      runner.slots > 1
        ? await inLanes(chosenRecipes, runner.slots, (r) => runner.fit({ layout, seed, recipe: r.name, train: selectRows(rows, everyRow(rows)) }))
        : chosenRecipes.map((r) => r.fit(rows));
    return { models: options.models, inputDim: data.d, embeddingDim: options.embeddingDim, components, stack: chosen.stack, ...(joint ? { joint } : {}) };
  };
  const learner = chosenRecipes.map((r) => r.name).join('+') + (joint ? '+joint' : '');
  // Refitting a small set can choose afresh: as served (`retrain`'s 80% split, then its components refitted
  // on every row) GSM8K read 0.650 / 0.309 over fold seeds 1–10 (near-best), against 0.654 / 0.303 for the
  // same trainer run on every row, and CPT(50%) lost on 8 of the 10 seeds (docs/routing-quality.md). A
  // choice made on a fifth fewer of 900 rows is a noisier one, and the stack and calibration kept from it
  // saw those fewer rows too. Large sets keep their choice: a second one would double `retrain`'s time.
  // Keeping the learner instead, its variants, stack and calibration fitted again through fresh folds on
  // every row, read 0.651 / 0.304 (per-request 0.618 / 0.340 against 0.625 / 0.335 chosen afresh).
  const refit = async (input: RefitRows): Promise<Refitted> => {
    const { rows } = input;
    const costsKnown = !options.costs || input.costs !== undefined;
    const keysKnown = !options.foldKeys || input.foldKeys !== undefined;
    if (input.rechoose && isSmallSet(rows.n, rows.m) && costsKnown && keysKnown) {
      if (rows.d !== data.d || rows.m !== data.m) throw new Error(`refit needs rows of ${data.d} features × ${data.m} models, got ${rows.d} × ${rows.m}`);
      log(`  choosing the learner afresh on the ${rows.n} rows refitted on (a small set)`);
      const again = await trainClassifier(rows, {
        ...options,
        foldKeys: input.foldKeys,
        costs: options.costs && input.costs,
        estimates: options.costs && input.estimates,
      });
      return { spec: again.spec, learner: again.learner, rechosen: true };
    }
    return { spec: await specFor(rows), learner, rechosen: false };
  };
  return {
    spec: await specFor(data),
    refit,
    learner,
    selection,
    outOfFold: chosen.P,
    seconds: (Date.now() - started) / 1000,
  };
}

function standardizer(X: Float32Array, n: number, d: number): Scaling {
  const lo = new Float32Array(d);
  const hi = new Float32Array(d);
  const mean = new Float32Array(d);
  const invStd = new Float32Array(d);
  for (let c = 0; c < d; c++) {
    let s = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let r = 0; r < n; r++) {
      const x = X[r * d + c];
      s += x;
      if (x < min) min = x;
      if (x > max) max = x;
    }
    // No rows: nothing to clip to.
    lo[c] = n > 0 ? min : -Infinity;
    hi[c] = n > 0 ? max : Infinity;
    const mu = n > 0 ? s / n : 0;
    let v = 0;
    for (let r = 0; r < n; r++) v += (X[r * d + c] - mu) ** 2;
    const sd = n > 1 ? Math.sqrt(v / (n - 1)) : 1;
    mean[c] = mu;
    invStd[c] = sd > 1e-8 ? 1 / sd : 1;
  }
  return { lo, hi, mean, invStd };
}

/** Clipped into the training range, then centred and scaled (what the ONNX graph does: Max, Min, Sub, Mul). */
function standardize(X: Float32Array, n: number, d: number, { lo, hi, mean, invStd }: Scaling): Float32Array {
  const out = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < d; c++) out[r * d + c] = (Math.min(Math.max(X[r * d + c], lo[c]), hi[c]) - mean[c]) * invStd[c];
  }
  return out;
}

/** The stack's logits for each fold's rows, fitted on the other folds' out-of-fold logits. */
function crossFittedStackLogits(parts: readonly Float32Array[], data: TrainMatrix, splits: readonly Split[]): Float32Array {
  const m = data.m;
  // Rows of an [n×m] array (logits, labels or mask).
  const pick = (rows: readonly number[], a: Float32Array): Float32Array => pickRows(a, rows, m);
  const Z = new Float32Array(data.n * m);
  for (const { fit, held } of splits) {
    const stack = fitStack(parts.map((z) => pick(fit, z)), pick(fit, data.Y), pick(fit, data.mask), m);
    putRows(Z, stackLogits(parts.map((p) => pick(held, p)), stack, m), held, m);
  }
  return Z;
}

/**
 * Out-of-fold probabilities of the joint layer: it is fitted on out-of-fold logits, so its own honest
 * score needs one more cross-fit, over the same folds.
 */
function crossFittedJoint(Z: Float32Array, data: TrainMatrix, splits: readonly Split[]): Float32Array {
  const m = data.m;
  const logits = { ...data, X: Z, d: m };
  const P = new Float32Array(Z.length);
  for (const { fit, held } of splits) {
    const part = selectRows(logits, fit);
    const z = applyJoint(selectRows(logits, held).X, fitJoint(part.X, part.Y, part.mask, m), m);
    held.forEach((r, i) => {
      for (let j = 0; j < m; j++) P[r * m + j] = sigmoid(z[i * m + j]);
    });
  }
  return P;
}

/** Rows whose set of recorded models is rarer than this share of the scored rows are not scored (unless the most common). */
const MIN_GROUP_SHARE = 0.05;

/**
 * The rows a routing score can judge, grouped by which models they record: a choice is scored only
 * among recorded models (training/metrics.ts `routedAmongKnown`), and a curve pooled over rows that
 * record different models mixes populations (a Zero router built from GPT-4 on MMLU and Claude on
 * RouterBench). Rows recording fewer than two models (live feedback: one) cannot tell routers apart.
 * The most common set is kept, and any other with at least MIN_GROUP_SHARE of the rows.
 */
export function routingGroups(mask: Float32Array, m: number, rows: readonly number[]): { models: number[]; rows: number[] }[] {
  const bySet = new Map<string, { models: number[]; rows: number[] }>();
  for (const r of rows) {
    const models: number[] = [];
    for (let j = 0; j < m; j++) if (mask[r * m + j] > 0) models.push(j);
    if (models.length < 2) continue;
    const key = models.join(',');
    const group = bySet.get(key) ?? { models, rows: [] };
    group.rows.push(r);
    bySet.set(key, group);
  }
  const groups = [...bySet.values()].sort((a, b) => b.rows.length - a.rows.length || (a.models.join(',') < b.models.join(',') ? -1 : 1));
  return groups.filter((g, k) => k === 0 || g.rows.length >= MIN_GROUP_SHARE * rows.length);
}

/**
 * APGR for two models, gain over the Zero router for more; rows × models probabilities, costs and the
 * policy's view of them. Each group of rows recording the same models is scored among those models
 * alone; several groups (a store holding MMLU's two models and RouterBench's eleven) score the row-
 * weighted mean of their gains over Zero, the one metric every group has.
 */
function routingScore(P: Float32Array, data: TrainMatrix, costs: Float64Array, estimates: Float64Array | undefined, policy: PolicyKind, only?: readonly number[]): number {
  const { n, m, Y, mask } = data;
  const groups = routingGroups(mask, m, only ?? Array.from({ length: n }, (_, i) => i));
  if (groups.length === 0) return -Infinity;
  let sum = 0;
  let weight = 0;
  for (const group of groups) {
    const pick = (v: ArrayLike<number>, r: number): number[] => group.models.map((j) => v[r * m + j]);
    const rows: LabelledPrediction[] = group.rows.map((r) => ({
      p: pick(P, r),
      cost: pick(costs, r),
      ...(estimates ? { estimate: pick(estimates, r) } : {}),
      outcome: pick(Y, r),
    }));
    const s = summarize(group.models.map(String), rows, { policy });
    const score = groups.length === 1 && group.models.length === 2 ? (s.twoModel?.apgr ?? NaN) : s.nModel.gainVsZero;
    if (groups.length === 1) return Number.isFinite(score) ? score : -Infinity;
    if (!Number.isFinite(score)) continue; // a group a fold leaves too small to draw a curve on
    sum += score * group.rows.length;
    weight += group.rows.length;
  }
  return weight > 0 ? sum / weight : -Infinity;
}
