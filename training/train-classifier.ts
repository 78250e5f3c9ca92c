// Fits the success classifier: candidate components (logistic regression, forward-selected sparse
// logistic regression over the prompt statistics, a one-hidden-layer MLP, nearest neighbours, logistic
// regression over hashed words) each get K-fold out-of-fold logits; each family keeps its variant with
// the lowest calibrated out-of-fold log loss; each candidate learner (a component alone or a stack of
// components) is calibrated on those out-of-fold logits and judged by the routing score of its
// out-of-fold probabilities under the policy in use (log loss when no costs are given), and so is the
// logit average of the best few; a more complex learner must win by a margin and fold by fold. A joint
// layer over the winner's logits is kept when its cross-fitted score is higher by the same test; the
// winner is refitted on all rows. Deterministic given the seed.
import { type JointParams, type StackParams, applyJoint, applyStack, fitJoint, fitStack, stackLogits } from './calibrate';
import type { ClassifierSpec, ServedSpec } from './classifier-spec';
import { type ComponentRecipe, type FoldRunner, type RowLayout, componentRecipes, IN_PROCESS_FOLDS } from './component-recipes';
import { DEFAULT_ENSEMBLE, DEFAULT_SIGNIFICANCE, DEFAULT_SMALL_REPEATS, DRAW_SEED_STEP, isSmallSet, LARGE_SET_ROWS, LEARNERS, learnerNames, pairedMeanOverSe, ROUTING_MARGIN, routingGroups, routingScore } from './learner-selection';
import { type TrainMatrix, hashString, mean, pickRows, putRows, selectRows, sigmoid } from './matrix';
import type { PolicyKind } from './metrics';
import { maskedLogLoss } from './network';
import { InvalidInputError } from '../src/errors';
import { concatFloats } from '../src/util/concat-floats';

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
  /**
   * The served learner's out-of-fold predictions over the refit's rows [n×m], when its choice was made
   * afresh (behind a gate: every kind's): the average policy's reference must be the served model's.
   */
  outOfFold?: Float32Array;
}

/** One inner fold: the rows it holds out and the rows fitted without them. */
export interface Split {
  fit: number[];
  held: number[];
}

/**
 * K folds of n rows, each row's fold decided by a seeded hash of its key (its index without keys), so folds
 * do not depend on row order: each fold's held-out rows and the rows fitted without them, ascending. A fold
 * a tiny set leaves empty is skipped.
 */
export function foldSplits(n: number, keys: readonly string[] | undefined, seed: number, k: number): Split[] {
  const fold = Array.from({ length: n }, (_, i) => hashString(keys?.[i] ?? String(i), seed) % k);
  const splits: Split[] = [];
  for (let f = 0; f < k; f++) {
    const split: Split = { fit: [], held: [] };
    fold.forEach((g, i) => (g === f ? split.held : split.fit).push(i));
    if (split.held.length > 0 && split.fit.length > 0) splits.push(split);
  }
  return splits;
}

/** One draw of the inner folds: its splits and every needed component variant's out-of-fold logits [n×m]. */
interface Draw {
  splits: Split[];
  oof: Map<string, Float32Array>;
}

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
    const splits = foldSplits(data.n, options.foldKeys, seed + r * DRAW_SEED_STEP, K);
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
      return { spec: again.spec, learner: again.learner, rechosen: true, outOfFold: again.outOfFold };
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
