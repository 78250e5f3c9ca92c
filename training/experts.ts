// One classifier per kind of prompt, behind a gate learned from the prompts' features. Trained on a mix (MMLU
// and GSM8K in one store), a single classifier's learner, stack and weights are chosen for the larger kind
// and the smaller kind's own signals are drowned: GSM8K's APGR fell from 0.654 to 0.58–0.60 in 5-fold CV
// (docs/routing-quality.md). Here each kind with enough rows gets the trainer's full choice on its own
// rows, and a row is served by the classifier of the kind the gate reads in its features (logistic
// regression over the embedding and the prompt statistics: on MMLU and GSM8K it reads every held-out
// prompt right, where one over the hashed words missed 3% of GSM8K's at best).
//
// Sources do not always name kinds of prompt: split by MMLU subject, or by customer, the kinds are one
// population cut up, and one classifier each routed worse (MMLU by subject, 5-fold CV: APGR 0.675 against
// 0.679 per-request, 0.683 against 0.700 near-best) in two and a half times the training time. So the
// kinds must hold half the rows with a source, and a probe (one cheap learner, 5 folds, per kind and over
// every kind) must find the split routes better out of fold; otherwise one classifier is trained over
// every kind.
//
// A kind is the first '/'-separated segment of a row's `source` ('mmlu/anatomy' → 'mmlu'). The source is
// only the gate's training label: at decision time the gate sees the prompt's features and nothing else,
// so a request (or a file of only id and prompt) is served the same way. Rows of a kind too small for its
// own classifier, and rows without a source (feedback from live traffic), go where the gate sends them
// (keeping only the outcomes of the models that classifier predicts). A kind needs outcomes of two models at
// least. Kinds that record different models (MMLU's rows GPT-4 and Mixtral, RouterBench's eleven others, in
// one store) each get a classifier of the models they record, and a model is served by the classifier of
// the kind the gate finds likeliest among those that record it: one classifier over every kind chose its
// learner on a pooled score and lost 0.05 of near-best APGR on MMLU's held-out fifth (README "Kinds of
// prompt"). A model that no kind records enough of keeps one classifier over every kind.
import { FEEDBACK_SOURCE } from '../src/inspection/feedback';
import { type TrainMatrix, mean, pickColumns, pickRows, selectModels, selectRows, sigmoid } from './matrix';
import { routingScore } from './learner-selection';
import { maskedLogLoss } from './network';
import { type ClassifierSpec, type GatedSpec, type ServedSpec, argmaxAmong, componentLogits, predictSpec } from './classifier-spec';
import { componentRecipes } from './component-recipes';
import { type RefitRows, type Refitted, type TrainOptions, type TrainResult, foldSplits, trainClassifier } from './train-classifier';

/** Training rows a kind needs for a classifier of its own: below this, its inner folds are a few dozen rows. */
export const MIN_EXPERT_ROWS = 300;

/** Known outcomes of every model a kind needs for a classifier of its own. */
export const MIN_EXPERT_OUTCOMES = 50;

/** Share of the rows with a source that kinds with a classifier of their own must hold (see trainRouterClassifier). */
export const MIN_KIND_COVERAGE = 0.5;

/** Rows the gate must send an expert for `refit` to refit it; with fewer it keeps its fit. */
const MIN_REFIT_ROWS = 20;

/** The gate: the trainer's logistic regression over every dense column, at its middle regularisation. */
const GATE_RECIPE = 'logistic(l2=0.001)';

/**
 * The gate, fitted on the rows whose kind has an expert (one output per kind), its logits on every row, and
 * each row's kind (-1: none with an expert). `agree`: labelled rows the gate reads right.
 */
async function fitGate(
  data: TrainMatrix,
  kindOf: readonly (string | null)[],
  kinds: readonly string[],
  recipe: ReturnType<typeof componentRecipes>[number],
  options: Pick<TrainOptions, 'models' | 'embeddingDim'>,
): Promise<{ shell: Omit<GatedSpec, 'experts'>; own: number[]; z: Float32Array; agree: number; labelled: number }> {
  const own = kindOf.map((k) => (k === null ? -1 : kinds.indexOf(k)));
  const labelled = own.flatMap((e, i) => (e >= 0 ? [i] : []));
  const Y = new Float32Array(labelled.length * kinds.length);
  labelled.forEach((r, i) => (Y[i * kinds.length + own[r]] = 1));
  const gate = recipe.fit({ ...selectRows(data, labelled), m: kinds.length, Y, mask: new Float32Array(Y.length).fill(1) });
  if (gate.type !== 'network') throw new Error(`the gate recipe ${GATE_RECIPE} must fit a network component`);
  const shell = { models: options.models, inputDim: data.d, embeddingDim: options.embeddingDim, kinds: [...kinds], gate };
  const z = await componentLogits(gate, data.X, data.n, data.d);
  const every = kinds.map((_, e) => e);
  return { shell, own, z, agree: labelled.filter((r) => argmaxAmong(z, r, kinds.length, every) === own[r]).length, labelled: labelled.length };
}

/** One expert's training rows (ascending) and, per row, which of its models' outcomes are its to learn. */
interface ExpertShare {
  rows: number[];
  /** rows × the expert's models: 1 where the row's outcome of that model is this expert's. */
  keep: Float32Array;
}

/**
 * Who learns what. A row of a kind with an expert: that expert, every model it predicts. A row without one
 * (live feedback, a small kind): per model, the expert that serves that model for it, as the graph serves
 * it (the likeliest kind, by the gate, among those predicting the model). With every expert over every
 * model that is simply the gate's kind for the whole row.
 */
function shareRows(own: readonly number[], z: Float32Array, covered: readonly (readonly number[])[], mask: Float32Array, m: number): ExpertShare[] {
  const k = covered.length;
  const coverers = Array.from({ length: m }, (_, j) => covered.flatMap((models, e) => (models.includes(j) ? [e] : [])));
  const every = covered.map((_, e) => e);
  const marks = covered.map(() => new Map<number, Set<number>>());
  own.forEach((e, r) => {
    if (e >= 0) {
      marks[e].set(r, new Set(covered[e]));
      return;
    }
    let any = false;
    for (let j = 0; j < m; j++) {
      if (!(mask[r * m + j] > 0)) continue; // nothing to learn of this model here
      any = true;
      const x = argmaxAmong(z, r, k, coverers[j]);
      const set = marks[x].get(r) ?? new Set<number>();
      set.add(j);
      marks[x].set(r, set);
    }
    // A row with no outcome at all stays with the gate's kind, as before there were shares, so its
    // out-of-fold prediction is that classifier's.
    if (!any) marks[argmaxAmong(z, r, k, every)].set(r, new Set());
  });
  return marks.map((byRow, e) => {
    const rows = [...byRow.keys()].sort((a, b) => a - b);
    const keep = new Float32Array(rows.length * covered[e].length);
    rows.forEach((r, i) => covered[e].forEach((j, c) => (keep[i * covered[e].length + c] = byRow.get(r)!.has(j) ? 1 : 0)));
    return { rows, keep };
  });
}

/**
 * A row's kind: the first segment of its source; null without one, and for live feedback, whose source
 * says where the outcome came from, not what the prompt is: 300 rated requests must not found a classifier
 * of their own, chosen by log loss on one outcome a row, and a gate that tells live traffic from imports.
 */
export function sourceKind(source: string | null | undefined): string | null {
  if (!source || source === FEEDBACK_SOURCE) return null;
  return source.split('/')[0] || null;
}

/**
 * Kinds with at least `minRows` rows, largest first (ties by name, so the order is deterministic). With
 * `known` (per row, whether each of m models' outcome is known) a kind also needs `minOutcomes` known
 * outcomes of two models or more (of every model, when m < 2): with fewer its classifier has nothing to
 * route between (`kindOutcomes` counts them).
 */
export function expertKinds(
  kinds: readonly (string | null)[],
  minRows: number,
  known?: { mask: Float32Array; m: number; minOutcomes: number },
): string[] {
  const count = new Map<string, { rows: number; outcomes: number[] }>();
  kinds.forEach((k, i) => {
    if (k === null) return;
    const c = count.get(k) ?? { rows: 0, outcomes: new Array<number>(known?.m ?? 0).fill(0) };
    c.rows++;
    if (known) for (let j = 0; j < known.m; j++) c.outcomes[j] += known.mask[i * known.m + j] > 0 ? 1 : 0;
    count.set(k, c);
  });
  return [...count]
    .filter(([, c]) => c.rows >= minRows && (!known || c.outcomes.filter((o) => o >= known.minOutcomes).length >= Math.min(2, known.m)))
    .sort((a, b) => b[1].rows - a[1].rows || (a[0] < b[0] ? -1 : 1))
    .map(([k]) => k);
}

/** Per kind, per model: known outcomes on the kind's rows. */
export function kindOutcomes(kindOf: readonly (string | null)[], kinds: readonly string[], mask: Float32Array, m: number): number[][] {
  const counts = kinds.map(() => new Array<number>(m).fill(0));
  kindOf.forEach((k, r) => {
    const e = k === null ? -1 : kinds.indexOf(k);
    if (e >= 0) for (let j = 0; j < m; j++) counts[e][j] += mask[r * m + j] > 0 ? 1 : 0;
  });
  return counts;
}

/** The probe's learner: logistic regression over every dense column (the gate's learner, regularised more: cheap, and one every set may choose). */
const PROBE_RECIPE = 'logistic(l2=0.01)';
const PROBE_FOLDS = 5;

/**
 * One classifier per kind against one over every kind, with one fixed learner on the same folds (the full
 * trainer per kind costs several times one classifier, so it is not run twice): the mean over kinds of
 * each kind's out-of-fold routing score on its own rows under the per-request policy (higher is better).
 * Kinds whose rows no curve can be drawn on (no row records two models) are judged by minus their log loss,
 * and so is every kind when no costs are given. Per kind, each outcome is predicted by the kind that learns
 * it (shareRows); outcomes no kind learns keep the pooled prediction.
 */
export async function probeExperts(
  data: TrainMatrix,
  kinds: readonly string[],
  /** Each row's kind (an index into `kinds`; -1: none), as labelled by its source. */
  own: readonly number[],
  shares: readonly ExpertShare[],
  covered: readonly (readonly number[])[],
  options: Pick<TrainOptions, 'embeddingDim' | 'wordSlots' | 'wordBuckets' | 'seed' | 'foldKeys' | 'costs' | 'estimates'>,
): Promise<{ experts: number; pooled: number }> {
  const { n, m } = data;
  const seed = options.seed ?? 1;
  const layout = { embeddingDim: options.embeddingDim, wordSlots: options.wordSlots ?? 0, wordBuckets: options.wordBuckets ?? 0 };
  const recipe = componentRecipes(layout, seed).find((r) => r.name === PROBE_RECIPE)!;
  /** Out-of-fold probabilities of `rows` (a TrainMatrix of them, keyed by `keys`), written at `put(i, c)`. */
  const outOfFold = async (rows: TrainMatrix, keys: readonly string[], put: (i: number, c: number, p: number) => void): Promise<void> => {
    for (const { fit, held } of foldSplits(rows.n, keys, seed, PROBE_FOLDS)) {
      const test = selectRows(rows, held);
      const z = await componentLogits(recipe.fit(selectRows(rows, fit)), test.X, test.n, test.d);
      held.forEach((i, h) => {
        for (let c = 0; c < rows.m; c++) put(i, c, sigmoid(z[h * rows.m + c]));
      });
    }
  };
  // A row keeps its fold whichever rows it is fitted beside: the same key hashes to the same fold.
  const keys = Array.from({ length: n }, (_, i) => options.foldKeys?.[i] ?? String(i));
  const pooled = new Float32Array(n * m);
  await outOfFold(data, keys, (i, c, p) => (pooled[i * m + c] = p));
  const experts = Float32Array.from(pooled);
  for (let e = 0; e < shares.length; e++) {
    const { rows, keep } = shares[e];
    const w = covered[e].length;
    const picked = selectModels(selectRows(data, rows), covered[e]);
    const learned = { ...picked, mask: picked.mask.map((v, i) => v * keep[i]) };
    await outOfFold(learned, rows.map((r) => keys[r]), (i, c, p) => {
      if (keep[i * w + c]) experts[rows[i] * m + covered[e][c]] = p;
    });
  }
  // Each kind is judged on its own rows, and the kinds count alike: protecting a small kind's own signals is
  // what one classifier per kind is for, and scored over the pool its gain is diluted by the large kind's
  // rows (MMLU + GSM8K under the average policy: 0.6584 against 0.6537, a margin that three of five
  // cross-validation folds read the other way). Judged by the per-request bar whatever policy serves: it
  // reads each model's probability against a target, so it sees what a kind's own classifier adds to them.
  // On MMLU + GSM8K's five folds it read +0.010 to +0.051 for the split, where the average and near-best
  // policies read −0.004 to +0.026; on MMLU's subjects cut into five groups it read −0.029 (average −0.004).
  const kindRows = kinds.map((_, e) => own.flatMap((k, r) => (k === e ? [r] : [])));
  const logLoss = (P: Float32Array, rows: readonly number[]): number =>
    -maskedLogLoss(pickRows(P, rows, m), pickRows(data.Y, rows, m), pickRows(data.mask, rows, m));
  const each = kindRows.map((rows) => {
    const routed = options.costs && [experts, pooled].map((P) => routingScore(P, data, options.costs!, options.estimates, 'per-request', rows));
    return routed && routed.every(Number.isFinite) ? routed : [logLoss(experts, rows), logLoss(pooled, rows)];
  });
  return { experts: mean(each.map((k) => k[0])), pooled: mean(each.map((k) => k[1])) };
}

export interface RouterTrainOptions extends TrainOptions {
  /** Each training row's source (as stored or read from the file); null when unknown. */
  sources: readonly (string | null)[];
  /** Training rows a kind needs for its own classifier (default MIN_EXPERT_ROWS; it also needs MIN_EXPERT_OUTCOMES of every model). */
  minExpertRows?: number;
  /** One classifier per kind whenever there are two kinds, whatever the probe reads (tests; experiments). */
  forceExperts?: boolean;
}

/**
 * The classifier `retrain` serves: one classifier when the rows hold fewer than two kinds with
 * `minExpertRows` rows each, when those kinds hold under MIN_KIND_COVERAGE of the rows with a source, or
 * when the probe finds one classifier per kind routes no better than one over every kind; else a gated set.
 */
export async function trainRouterClassifier(data: TrainMatrix, options: RouterTrainOptions): Promise<TrainResult<ServedSpec>> {
  const { sources, minExpertRows = MIN_EXPERT_ROWS, forceExperts = false, ...trainOptions } = options;
  if (sources.length !== data.n) throw new Error(`trainRouterClassifier: ${sources.length} sources for ${data.n} rows`);
  const kindOf = sources.map(sourceKind);
  const minOutcomes = Math.min(MIN_EXPERT_OUTCOMES, minExpertRows);
  const kinds = expertKinds(kindOf, minExpertRows, { mask: data.mask, m: data.m, minOutcomes });
  if (kinds.length < 2) return trainClassifier(data, trainOptions);
  const log = options.onProgress ?? (() => {});
  // Kinds are meant to partition the prompts. When most rows with a source are in kinds too small for a
  // classifier of their own (MMLU with each subject as its source: 5 kinds hold 31% of the rows), the gate
  // would train each classifier mostly on rows of other kinds: the sources are finer than kinds of prompt.
  const sourced = kindOf.filter((k) => k !== null).length;
  const inKinds = kindOf.filter((k) => k !== null && kinds.includes(k)).length;
  if (!forceExperts && inKinds < MIN_KIND_COVERAGE * sourced) {
    log(
      `Kinds of prompt with ${minExpertRows} rows or more (${kinds.join(', ')}) hold ${inKinds} of the ${sourced} rows with a source ` +
        `(under ${100 * MIN_KIND_COVERAGE}%): the sources are finer than kinds of prompt; one classifier over every kind`,
    );
    return trainClassifier(data, trainOptions);
  }
  const m = data.m;
  // Kinds that record different models (MMLU's two, RouterBench's eleven in one store): each expert learns
  // the models its kind records; a model is served by the likeliest kind (by the gate) that records it.
  const covered = kindOutcomes(kindOf, kinds, data.mask, m).map((c) => c.flatMap((o, j) => (o >= minOutcomes ? [j] : [])));
  const cover = covered.some((models) => models.length < m);
  const orphans = options.models.filter((_, j) => !covered.some((models) => models.includes(j)));
  if (orphans.length > 0) {
    log(`No kind of prompt records ${minOutcomes} outcomes of ${orphans.join(', ')}: one classifier over every kind`);
    return trainClassifier(data, trainOptions);
  }

  const started = Date.now();
  const layout = { embeddingDim: options.embeddingDim, wordSlots: options.wordSlots ?? 0, wordBuckets: options.wordBuckets ?? 0 };
  const recipe = componentRecipes(layout, options.seed ?? 1).find((r) => r.name === GATE_RECIPE)!;
  const { shell, own, z, agree, labelled } = await fitGate(data, kindOf, kinds, recipe, options);
  log(`Kinds of prompt with ${minExpertRows} rows or more: ${kinds.join(', ')}; the gate reads the kind from the prompt (${agree} of ${labelled} training rows read right)`);

  /** An expert's rows, with the outcomes that are its to learn (of the models its kind records). */
  const expertRows = (rows: TrainMatrix, share: ExpertShare, e: number): TrainMatrix => {
    const picked = selectModels(selectRows(rows, share.rows), covered[e]);
    return { ...picked, mask: picked.mask.map((v, i) => v * share.keep[i]) };
  };
  const columnsOf = (M: Float64Array | undefined, share: ExpertShare, e: number): Float64Array | undefined =>
    M && pickColumns(pickRows(M, share.rows, m), share.rows.length, m, covered[e]);

  const expertsLearner = (learners: readonly string[]): string => `experts(${kinds.map((k, e) => `${k}: ${learners[e]}`).join('; ')})`;
  const shares = shareRows(own, z, covered, data.mask, m);
  // Sources name kinds of prompt only sometimes (MMLU beside GSM8K); sources finer than that (MMLU's
  // subjects as kinds) or across them (by customer) split the rows for nothing, and each kind's full choice
  // multiplies the training time. So the split must route better on a probe first.
  if (!forceExperts) {
    const probe = await probeExperts(data, kinds, own, shares, covered, options);
    const probed = `${PROBE_RECIPE} out of fold: ${probe.experts.toFixed(4)} per kind, ${probe.pooled.toFixed(4)} over every kind`;
    if (!(probe.experts > probe.pooled)) {
      log(`One classifier per kind does not route better than one over every kind (${probed}): one classifier over every kind`);
      return trainClassifier(data, trainOptions);
    }
    log(`One classifier per kind routes better than one over every kind (${probed}): one classifier each`);
  }
  const selection: Record<string, number> = {};
  const experts: ClassifierSpec[] = [];
  const results: TrainResult<ClassifierSpec>[] = [];
  for (let e = 0; e < kinds.length; e++) {
    const { rows } = shares[e];
    const models = covered[e].map((j) => options.models[j]);
    log(`Classifier for ${kinds[e]} (${rows.length} rows${models.length < m ? `; its models: ${models.join(', ')}` : ''}):`);
    const result = await trainClassifier(expertRows(data, shares[e], e), {
      ...trainOptions,
      models,
      foldKeys: options.foldKeys ? rows.map((r) => options.foldKeys![r]) : undefined,
      costs: columnsOf(options.costs, shares[e], e),
      estimates: columnsOf(options.estimates, shares[e], e),
      onProgress: options.onProgress ? (message) => options.onProgress!(`[${kinds[e]}] ${message}`) : undefined,
    });
    for (const [key, v] of Object.entries(result.selection)) selection[`${kinds[e]}: ${key}`] = v;
    experts.push(result.spec);
    results.push(result);
  }
  const spec: GatedSpec = { ...shell, experts };
  // With every classifier over every model, each row is one classifier's, which predicts it out of fold.
  // Otherwise each outcome is predicted out of fold by the classifier that learned it, and the rest as
  // served (a kind's models that other kinds record, by classifiers that never saw the row).
  const gatedOutOfFold = async (served: GatedSpec, rows: TrainMatrix, given: readonly ExpertShare[], parts: readonly Float32Array[]): Promise<Float32Array> => {
    const out = cover ? await predictSpec(served, rows.X, rows.n) : new Float32Array(rows.n * m);
    given.forEach(({ rows: own, keep }, e) => {
      const w = covered[e].length;
      own.forEach((r, i) => covered[e].forEach((j, c) => (!cover || keep[i * w + c]) && (out[r * m + j] = parts[e][i * w + c])));
    });
    return out;
  };
  const outOfFold = await gatedOutOfFold(spec, data, shares, results.map((r) => r.outOfFold));
  return {
    spec,
    learner: expertsLearner(results.map((r) => r.learner)),
    selection,
    outOfFold,
    seconds: (Date.now() - started) / 1000,
    async refit(input: RefitRows): Promise<Refitted<GatedSpec>> {
      // With the rows' sources, the gate is refitted too and each expert gets its kind's rows and what the
      // new gate gives it of the others, as in training. Without them, each expert is refitted on what the
      // kept gate gives it, which is how they will be served.
      const { rows, sources: rowSources } = input;
      let refitShell = shell;
      let given: ExpertShare[];
      if (rowSources) {
        if (rowSources.length !== rows.n) throw new Error(`refit: ${rowSources.length} sources for ${rows.n} rows`);
        const fitted = await fitGate(rows, rowSources.map(sourceKind), kinds, recipe, options);
        refitShell = fitted.shell;
        given = shareRows(fitted.own, fitted.z, covered, rows.mask, m);
      } else {
        given = shareRows(new Array<number>(rows.n).fill(-1), await componentLogits(shell.gate, rows.X, rows.n, rows.d), covered, rows.mask, m);
      }
      const refitted: Refitted[] = [];
      for (let e = 0; e < kinds.length; e++) {
        const share = given[e];
        refitted.push(
          share.rows.length >= MIN_REFIT_ROWS
            ? await results[e].refit({
                rows: expertRows(rows, share, e),
                rechoose: input.rechoose,
                foldKeys: input.foldKeys && share.rows.map((r) => input.foldKeys![r]),
                costs: columnsOf(input.costs, share, e),
                estimates: columnsOf(input.estimates, share, e),
              })
            : { spec: experts[e], learner: results[e].learner, rechosen: false },
        );
      }
      const served: GatedSpec = { ...refitShell, experts: refitted.map((r) => r.spec) };
      const parts = refitted.map((r) => r.outOfFold);
      return {
        spec: served,
        learner: expertsLearner(refitted.map((r) => r.learner)),
        rechosen: refitted.some((r) => r.rechosen),
        ...(parts.every((z) => z !== undefined) ? { outOfFold: await gatedOutOfFold(served, rows, given, parts as Float32Array[]) } : {}),
      };
    },
  };
}
