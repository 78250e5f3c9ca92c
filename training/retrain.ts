// `switchyard retrain`: learns a new classifier from every outcome in the store, measures it on a stable
// stratified holdout, and promotes it only when it is not worse than the current one on those same rows.
import fs from 'node:fs';
import path from 'node:path';
import type { OutcomeStore } from '../src/store/types';
import type { SuccessClassifier } from '../src/routing/classifier';
import { CLASSIFIER_FILE, SIDECAR_FILE, type ClassifierSidecar } from '../src/routing/classifier-sidecar';
import { nextVersion, readCurrentVersion, writeCurrentVersion } from '../src/routing/classifier-registry';
import { loadOnnxClassifier, readSidecar } from '../src/routing/onnx-classifier';
import { InvalidInputError, errorMessage } from '../src/errors';
import { DEFAULT_FEATURE_KIND, FEATURE_KINDS } from '../src/routing/features';
import { HOLDOUT_DIR, type StagedVersion, buildReference, stageClassifierVersion } from './classifier-writer';
import { estimateTokens } from '../src/routing/cost';
import type { PolicyKind } from '../src/routing/policy';
import { type EmbedderLike, type LabelledRow, SPLIT_SCHEME, buildMatrix, featureMatrix, splitKey, stratifiedSplit } from './dataset';
import {
  type Evaluation, OTHER_POLICIES_HEADER, type PriceTable, RECORDED_COSTS_NOTE, evaluate, evaluateRows, formatRandomReading, groupBySource, headline, headlineIntervals, intervalMetrics, otherPolicyLines, perModelLines, randomRouterReading,
  routingCosts, sourceLine,
} from './evaluate';
import { type Interval, defaultResamples, intervalLine, skippedIntervalLine } from './bootstrap';
import { exportClassifierOnnx } from './export-onnx';
import { baseRates, mixedHash, selectRows } from './matrix';
import { maskedLogLoss } from './network';
import type { FoldRunner } from './component-recipes';
import { isSmallSet } from './learner-selection';
import { trainRouterClassifier } from './experts';
import { MIN_TRAINING_ROWS, trainableRows } from './trainable-rows';
import { FolderLockedError, lockFolder } from '../src/util/folder-lock';
import { formatMetricsTable } from './metrics';

export interface RetrainDeps {
  store: OutcomeStore;
  embedder: EmbedderLike;
  classifierDir: string;
  prices: PriceTable;
  log: (message: string) => void;
  now?: () => Date;
  /** Where the inner folds' fits run (default: in process). */
  foldRunner?: FoldRunner;
  /** The models the router is configured with: those with no outcome in the store are named in a warning. */
  configuredModels?: readonly string[];
}

export interface RetrainOptions {
  seed?: number;
  force?: boolean;
  validationFraction?: number;
  featureKind?: string;
  learners?: readonly string[];
  expectedOutputTokens?: number;
  /** The policy whose routing quality chooses the learner and is reported (default per-request). */
  policy?: PolicyKind;
  /**
   * Validation rows a kind of source (the first segment of `source`) needs for its own line in the report,
   * printed when two kinds or more have them (default 50).
   */
  sourceReportRows?: number;
  /** Bootstrap resamples behind the validation metrics' 95% intervals (default `defaultResamples`: 200 up to 50,000 rows × models, else none; 0: none). */
  intervalResamples?: number;
}

export interface RetrainReport {
  version: string;
  promoted: boolean;
  why: string;
  learner: string;
  trainRows: number;
  validationRows: number;
  seconds: number;
  newLogLoss: number;
  currentLogLoss: number | null;
  currentVersion: string | null;
  evaluation: Evaluation;
  /** 95% bootstrap intervals of the validation's headline metrics (null: no routing metrics, or none asked for). */
  intervals: Record<string, Interval | null> | null;
}

export async function retrain(deps: RetrainDeps, options: RetrainOptions = {}): Promise<RetrainReport> {
  const { rows, models } = trainableRows(deps);
  // Two runs would choose the same next version name, and the second fail after all its work.
  let release: () => void;
  try {
    release = lockFolder(deps.classifierDir, RETRAIN_LOCK);
  } catch (err) {
    if (err instanceof FolderLockedError) {
      throw new InvalidInputError(`another retrain (pid ${err.pid}) is writing to ${deps.classifierDir}: wait for it to finish`, null, 'retrain_running');
    }
    throw err;
  }
  try {
    return await retrainLocked(deps, options, rows, models);
  } finally {
    release();
  }
}

/** The lock file `retrain` holds in the classifier folder while it runs. */
export const RETRAIN_LOCK = '.retrain.lock';

async function retrainLocked(deps: RetrainDeps, options: RetrainOptions, rows: LabelledRow[], models: string[]): Promise<RetrainReport> {
  const started = Date.now();
  const seed = options.seed ?? 1;
  const kind = options.featureKind ?? DEFAULT_FEATURE_KIND;
  const log = deps.log;
  log(`Embedding ${rows.length} prompts with ${deps.embedder.id} (cached embeddings are reused)`);
  let lastShown = 0;
  const { X, d, embeddingDim, wordSlots, wordBuckets } = await featureMatrix(kind, deps.embedder, rows.map((r) => r.prompt), deps.store, (done, total) => {
    if (done === total || done - lastShown >= 1000) {
      lastShown = done;
      log(`  embedded ${done}/${total}`);
    }
  });
  const all = buildMatrix(X, d, rows, models);
  const { train, validation } = stratifiedSplit(rows, options.validationFraction ?? 0.2, seed, mixedHash, splitKey);
  log(`Training on ${train.length} rows, validating on ${validation.length} (stratified by source); models: ${models.join(', ')}`);
  if (train.length < MIN_TRAINING_ROWS) {
    throw new InvalidInputError(
      `the store holds ${rows.length} prompts with outcomes, ${train.length} of them outside the validation split: at least ${MIN_TRAINING_ROWS} are needed to train on (import more outcomes)`,
      null,
      'not_enough_data',
    );
  }
  const trainData = selectRows(all, train);
  const trainRows = train.map((i) => rows[i]);
  // Recorded per-prompt costs are charged; the policy chooses by what it could estimate beforehand.
  const { costs: known, estimates } = routingCosts(trainRows, models, deps.prices, options.expectedOutputTokens);
  if (!known) {
    log(`  no price for ${models.filter((m) => deps.prices[m] === undefined).join(', ') || 'some of the models'}: learners are compared with stand-in costs that rank models by success rate (pass --prices or configure the models for real ones)`);
  }
  const costs = known ?? rankCosts(trainData);
  const result = await trainRouterClassifier(trainData, {
    sources: trainRows.map((r) => r.source),
    models,
    embeddingDim,
    wordSlots,
    wordBuckets,
    seed,
    // Copies of one prompt stay in one inner fold too, or the learner that memorises them wins.
    foldKeys: train.map((i) => splitKey(rows[i])),
    learners: options.learners,
    costs,
    estimates,
    policy: options.policy,
    onProgress: log,
    foldRunner: deps.foldRunner,
  });
  // The version serves the chosen learner refitted on every row; its held-out twin (the same learner
  // fitted on the training rows alone, in holdout/) is what the validation rows measure and what the next
  // retrain compares with, since the served model has seen those rows.
  const refit = validation.length > 0;
  const sidecarFor = (version: string, fitted: readonly number[], extra: Record<string, unknown> = {}): ClassifierSidecar => ({
    format: 'switchyard-classifier/1',
    version,
    createdAt: (deps.now ?? (() => new Date()))().toISOString(),
    models,
    embedder: { id: deps.embedder.id, dimension: embeddingDim },
    features: { kind, dimension: d, notes: FEATURE_KINDS[kind].notes },
    training: {
      rows: fitted.length,
      outcomes: Object.fromEntries(models.map((m, j) => [m, countKnownRows(all.mask, all.m, j, fitted)])),
      sources: countSources(fitted.map((i) => rows[i])),
      learner: result.learner,
      selection: result.selection,
      seed,
      split: SPLIT_SCHEME,
      seconds: result.seconds,
      ...extra,
    },
    validation: { rows: validation.length },
  });
  const valData = selectRows(all, validation);
  const valRows = validation.map((i) => rows[i]);
  const version = nextVersion(deps.classifierDir);
  // The average policy sets λ on the served model's out-of-fold predictions: the twin's, unless the refit
  // chose its learner afresh (then its own, over every row).
  const referenceOf = (served?: { outOfFold?: Float32Array }) =>
    served?.outOfFold ? buildReference(models, rows, served.outOfFold, estimateTokens, seed) : buildReference(models, trainRows, result.outOfFold, estimateTokens, seed);
  const everyRow = rows.map((_, i) => i);
  let staged: StagedVersion;
  if (refit) {
    // A small store's (small kinds') learner is chosen afresh on every row; in a large store the second
    // choice of its small kinds would add a quarter to a retrain of some 45 s (docs/routing-quality.md, "Serving the refit").
    const rechoose = isSmallSet(all.n, all.m);
    // What a fresh choice over every row takes (TrainResult.refit), costed only when one is made.
    const everyCost = rechoose ? routingCosts(rows, models, deps.prices, options.expectedOutputTokens) : null;
    const served = await result.refit({
      rows: all,
      rechoose,
      sources: rows.map((r) => r.source),
      ...(everyCost ? { foldKeys: rows.map(splitKey), costs: everyCost.costs ?? rankCosts(all), estimates: everyCost.estimates } : {}),
    });
    staged = stageClassifierVersion(
      deps.classifierDir,
      sidecarFor(version, everyRow, {
        learner: served.learner,
        // The selection scores are the twin's; a learner chosen again was chosen by scores over every row.
        refit: { heldOutTwin: HOLDOUT_DIR, trainRows: train.length, validationRows: validation.length, learnerChosenAgain: served.rechosen },
      }),
      exportClassifierOnnx(served.spec),
      referenceOf(served),
      { sidecar: sidecarFor(version, train), onnx: exportClassifierOnnx(result.spec) },
    );
    log(
      `Refitted on all ${rows.length} rows to serve (${served.learner === result.learner ? 'the same learner' : `learner ${served.learner}`}); ` +
        `validation measures its twin fitted without the validation rows (${HOLDOUT_DIR}/)`,
    );
  } else {
    staged = stageClassifierVersion(deps.classifierDir, sidecarFor(version, train), exportClassifierOnnx(result.spec), referenceOf());
  }
  // Measured and patched in the staged folder, then renamed into place: a version in place always carries
  // its validation figures (a run killed before the rename leaves a temporary folder the next run clears).
  let folder = staged.folder;
  // Measure the artefact itself (through onnxruntime), exactly as the server and the comparison will run it.
  const written = await loadOnnxClassifier(refit ? path.join(folder, HOLDOUT_DIR) : folder, { expectEmbedderId: deps.embedder.id });
  let P: Float32Array;
  try {
    P = valData.n > 0 ? await written.predict(valData.X, valData.n) : new Float32Array(0);
  } finally {
    await written.dispose();
  }
  const evaluation = evaluate(models, P, valRows, deps.prices, options.expectedOutputTokens, options.policy);
  const newLogLoss = maskedLogLoss(P, valData.Y, valData.mask);
  // A validation set is a fifth of the rows: say how far its figures could move on another fifth.
  const resamples = options.intervalResamples ?? defaultResamples(valRows.length, evaluation.routing?.models.length ?? models.length);
  const intervals = evaluation.routing && resamples > 0
    ? headlineIntervals(models, P, valRows, deps.prices, { resamples, seed, policy: options.policy, outputTokens: options.expectedOutputTokens })
    : null;
  // Stored rows from more than one kind of source: each kind on its own, since the pooled figures can hide
  // one served far worse than the rest (docs/routing-quality.md: MMLU and GSM8K in one classifier), and
  // mean nothing at all when the kinds record different models.
  const sourceRows = options.sourceReportRows ?? VALIDATION_SOURCE_ROWS;
  const { groups } = groupBySource(valRows, 1, sourceRows);
  // Each kind evaluated once, for the sidecar here and the log lines below.
  const sourceEvaluations =
    evaluation.routing && groups.length >= 2
      ? groups.map((g) => evaluateRows(models, P, valRows, g.rows, deps.prices, options.expectedOutputTokens, options.policy))
      : null;
  const bySource = sourceEvaluations ? Object.fromEntries(groups.map((g, k) => [g.source, headline(sourceEvaluations[k])])) : null;
  patchSidecarValidation(folder, newLogLoss, evaluation, intervals, bySource);
  if (refit) patchSidecarValidation(path.join(folder, HOLDOUT_DIR), newLogLoss, evaluation, intervals, bySource);
  folder = staged.commit();

  // What knowing nothing of the prompt scores: each model's success rate on the training rows. A
  // classifier far worse than that (a handful of rows, confidently wrong: log loss 9 against 2) must not
  // route anything. A quarter's slack: on a few dozen rows a useful classifier can land a little above it.
  // Laplace's rule, as the classifier's calibration smooths its targets (plattTargets): 12 successes in
  // 12 predict 13/14, not a certainty that one failure would make infinitely wrong.
  const rates = baseRates(trainData.Y, trainData.mask, trainData.m, 0.5, 1);
  const baseLogLoss = maskedLogLoss(Float32Array.from({ length: valData.n * valData.m }, (_, k) => rates[k % valData.m]), valData.Y, valData.mask);
  const currentVersion = readCurrentVersion(deps.classifierDir);
  let currentLogLoss: number | null = null;
  let why: string;
  let promoted: boolean;
  if (Number.isFinite(baseLogLoss) && newLogLoss > BASE_RATE_SLACK * baseLogLoss + BASE_RATE_FLOOR) {
    promoted = false;
    why = `validation log loss ${newLogLoss.toFixed(4)} is far worse than predicting each model's training success rate, smoothed (${baseLogLoss.toFixed(4)}): too few or too noisy rows to learn from`;
  } else if (currentVersion === null) {
    promoted = true;
    why = 'no current classifier';
  } else if (validation.length === 0) {
    promoted = false;
    why = 'no validation rows to compare on';
  } else {
    const current = await compareWithCurrent(deps, currentVersion, valRows, models, P, rates);
    currentLogLoss = current.currentLoss;
    if (current.error) {
      promoted = true;
      why = `current classifier ${currentVersion} cannot be evaluated (${current.error})`;
    } else if (current.newLoss <= current.currentLoss! + 1e-9) {
      promoted = true;
      why = `validation log loss ${current.newLoss.toFixed(4)} ≤ current ${currentVersion}'s ${current.currentLoss!.toFixed(4)}${addedNote(current.added, currentVersion)}`;
    } else if (current.added.length > 0 && current.shared && current.shared.diff <= ADDED_MODELS_SE * current.shared.se) {
      // The current version cannot route to the added models at all: a difference on the others that the
      // validation rows cannot tell from noise must not keep the operator's new models unused.
      promoted = true;
      why =
        `it predicts ${current.added.join(', ')}, which current ${currentVersion} cannot route to, and on the models both know its validation ` +
        `log loss is within ${ADDED_MODELS_SE} standard errors of ${currentVersion}'s (+${current.shared.diff.toFixed(4)}, standard error ${current.shared.se.toFixed(4)})`;
    } else {
      promoted = false;
      why = `validation log loss ${current.newLoss.toFixed(4)} is worse than current ${currentVersion}'s ${current.currentLoss!.toFixed(4)}${addedNote(current.added, currentVersion)}`;
      // A version from before the split was keyed by prompt trained on some of today's validation rows.
      const trained = trainingOf(deps.classifierDir, currentVersion);
      if (trained?.split !== SPLIT_SCHEME) {
        why += ` (${currentVersion} was split by id, not by prompt, and has trained on some of these validation rows: compare with care, --force promotes)`;
      } else if (trained.seed !== undefined && trained.seed !== seed) {
        // The seed draws the split: another seed's twin trained on most of these validation rows.
        why += ` (${currentVersion} was split with --seed ${trained.seed}, not ${seed}, and has trained on most of these validation rows: compare with care, --force promotes)`;
      }
    }
  }
  if (!promoted && options.force) {
    promoted = true;
    why += ' (promoted anyway: --force)';
  }

  if (promoted) writeCurrentVersion(deps.classifierDir, version);
  // The choice made on the training rows, which the validation figures measure; the served refit's is above.
  log(`${refit ? 'Learner of the validated twin' : 'Learner'}: ${result.learner}`);
  const tried = Object.keys(result.selection).filter((k) => !k.endsWith(' routing') && !k.includes('('));
  log(
    `  tried (out-of-fold log loss${tried.some((k) => `${k} routing` in result.selection) ? ' / routing score' : ''}): ` +
      tried
        .map((k) => {
          const routing = result.selection[`${k} routing`];
          return `${k} ${result.selection[k].toFixed(4)}${routing === undefined ? '' : ` / ${routing.toFixed(4)}`}`;
        })
        .join(', '),
  );
  log('Validation:');
  for (const line of perModelLines(evaluation.perModel)) log(line);
  if (evaluation.chargedRecordedCosts) log(`  Costs: ${RECORDED_COSTS_NOTE}.`);
  if (evaluation.routing) log(formatMetricsTable(evaluation.routing));
  if (intervals) log(intervalLine(intervals, resamples, valRows.length, intervalMetrics(evaluation)));
  else if (evaluation.routing && options.intervalResamples === undefined) {
    log(skippedIntervalLine(valRows.length, evaluation.routing.models.length, 'retrain --interval 200 draws it'));
  }
  if (evaluation.routing) {
    const random = randomRouterReading(models, valRows, deps.prices, options.expectedOutputTokens, evaluation, seed);
    if (random) log(formatRandomReading(random, valRows.length));
    const policy = options.policy ?? 'per-request';
    log(`${OTHER_POLICIES_HEADER}; the learner was chosen for ${policy}:`);
    for (const line of otherPolicyLines(models, P, valRows, deps.prices, options.expectedOutputTokens, policy)) log(line);
  }
  if (sourceEvaluations) {
    log(`Validation by source (the first segment of each row's source, groups of ${sourceRows} rows or more):`);
    const lineOptions = { outputTokens: options.expectedOutputTokens, policy: options.policy, resamples, seed };
    groups.forEach((g, k) => log(sourceLine(g.source, models, P, valRows, g.rows, deps.prices, { ...lineOptions, evaluation: sourceEvaluations[k] })));
  }
  if (evaluation.uncosted.length > 0) log(`  (no price known for ${evaluation.uncosted.join(', ')}: left out of routing metrics; add them to the config's models)`);
  log(`Wrote ${path.relative(process.cwd(), folder) || folder}; ${promoted ? `promoted to current: ${why}` : `NOT promoted: ${why}${why.includes('--force') ? '' : ' (use --force to promote anyway)'}`}`);
  return {
    version, promoted, why, learner: result.learner, trainRows: train.length, validationRows: validation.length,
    seconds: (Date.now() - started) / 1000, newLogLoss, currentLogLoss, currentVersion, evaluation, intervals,
  };
}

/**
 * The new classifier's validation log loss against the current one's, over the same rows and outcomes, on
 * every model the new one predicts. A model the current classifier does not know (one the operator has
 * since configured and rated) is scored for it at that model's training success rate: the current version
 * cannot route to it at all, so comparing on the shared models alone would let a few thousandths of a nat
 * there keep the new model unused, however many ratings it has.
 */
async function compareWithCurrent(
  deps: RetrainDeps,
  version: string,
  valRows: LabelledRow[],
  newModels: string[],
  newP: Float32Array,
  trainRates: ArrayLike<number>,
): Promise<{ newLoss: number; currentLoss: number | null; added: string[]; shared?: { diff: number; se: number }; error?: string }> {
  let current: SuccessClassifier | null = null;
  try {
    // A version refitted on every row has seen these validation rows; its held-out twin has not.
    const base = path.join(deps.classifierDir, version);
    const twin = path.join(base, HOLDOUT_DIR);
    current = await loadOnnxClassifier(fs.existsSync(path.join(twin, CLASSIFIER_FILE)) ? twin : base, { expectEmbedderId: deps.embedder.id });
    const { X } = await featureMatrix(current.featureKind, deps.embedder, valRows.map((r) => r.prompt), deps.store);
    const curP = await current.predict(X, valRows.length);
    const known = current.models;
    const common = newModels.filter((m) => known.includes(m));
    if (common.length === 0) return { newLoss: NaN, currentLoss: null, added: [], error: 'it knows none of the same models' };
    const added = newModels.filter((m) => !known.includes(m) && valRows.some((r) => r.outcomes[m] !== undefined));
    const scored = [...common, ...added];
    const n = valRows.length;
    const newCols = scored.map((m) => newModels.indexOf(m));
    const mine = new Float32Array(n * scored.length);
    const theirs = new Float32Array(n * scored.length);
    for (let i = 0; i < n; i++) {
      scored.forEach((m, j) => {
        mine[i * scored.length + j] = newP[i * newModels.length + newCols[j]];
        const c = known.indexOf(m);
        theirs[i * scored.length + j] = c >= 0 ? curP[i * known.length + c] : trainRates[newCols[j]];
      });
    }
    const { Y, mask } = buildMatrix(new Float32Array(0), 0, valRows, scored);
    // On the shared models alone, the paired difference and its standard error over rows: what a
    // classifier that adds models must not be clearly worse by.
    const shared = pairedLossDifference(mine, theirs, Y, mask, n, scored.length, common.length);
    return { newLoss: maskedLogLoss(mine, Y, mask), currentLoss: maskedLogLoss(theirs, Y, mask), added, shared };
  } catch (err) {
    return { newLoss: NaN, currentLoss: null, added: [], error: errorMessage(err) };
  } finally {
    await current?.dispose();
  }
}

/**
 * Mean over rows of (new − current) log loss on the first `cols` columns (each row's mean over its known
 * outcomes there), with the standard error of that mean; rows with no outcome there are left out.
 */
function pairedLossDifference(
  mine: Float32Array,
  theirs: Float32Array,
  Y: Float32Array,
  mask: Float32Array,
  n: number,
  m: number,
  cols: number,
): { diff: number; se: number } {
  const loss = (p: number, y: number): number => {
    const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
    return -(y * Math.log(q) + (1 - y) * Math.log(1 - q));
  };
  const diffs: number[] = [];
  for (let i = 0; i < n; i++) {
    let d = 0;
    let w = 0;
    for (let j = 0; j < cols; j++) {
      const k = i * m + j;
      if (mask[k] === 0) continue;
      d += mask[k] * (loss(mine[k], Y[k]) - loss(theirs[k], Y[k]));
      w += mask[k];
    }
    if (w > 0) diffs.push(d / w);
  }
  if (diffs.length < 2) return { diff: NaN, se: NaN };
  const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
  const variance = diffs.reduce((a, b) => a + (b - mean) ** 2, 0) / (diffs.length - 1);
  return { diff: mean, se: Math.sqrt(variance / diffs.length) };
}

/** Standard errors by which a classifier that adds models may trail the current one on the shared ones. */
const ADDED_MODELS_SE = 2;

/** Said beside the comparison when the new classifier predicts models the current one cannot route to. */
const addedNote = (added: readonly string[], version: string): string =>
  added.length === 0
    ? ''
    : `; it also predicts ${added.join(', ')}, which ${version} cannot route to (scored for ${version} at ${added.length === 1 ? 'its' : 'their'} training success rate${added.length === 1 ? '' : 's'})`;

/** A new classifier is refused when its validation log loss exceeds the base rates' by this factor. */
const BASE_RATE_SLACK = 1.25;
/**
 * …plus this much (nats per outcome): where the base rates are nearly certain (every validation outcome a
 * success), their loss is near 0 and any classifier would be "far worse" than 1.25 times nothing.
 */
const BASE_RATE_FLOOR = 0.01;

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

function countKnownRows(mask: Float32Array, m: number, j: number, rows: readonly number[]): number {
  let c = 0;
  for (const r of rows) c += mask[r * m + j];
  return c;
}

function countSources(rows: readonly LabelledRow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.source ?? '(none)'] = (out[r.source ?? '(none)'] ?? 0) + 1;
  return out;
}

/** Adds the measured validation metrics to a written version's sidecar (rewritten atomically). */
function patchSidecarValidation(
  folder: string,
  logLoss: number,
  evaluation: Evaluation,
  intervals: Record<string, Interval | null> | null,
  bySource: Record<string, Record<string, number | null>> | null,
): void {
  const file = path.join(folder, SIDECAR_FILE);
  const sidecar = JSON.parse(fs.readFileSync(file, 'utf8')) as ClassifierSidecar;
  sidecar.validation = {
    rows: sidecar.validation?.rows ?? 0,
    logLoss: finite(logLoss),
    perModel: Object.fromEntries(Object.entries(evaluation.perModel).map(([m, v]) => [m, { auc: finite(v.auc), brier: finite(v.brier), rows: v.rows }])),
    routing: headline(evaluation),
    ...(intervals ? { routingIntervals: intervals } : {}),
    ...(bySource ? { routingBySource: bySource } : {}),
  };
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(sidecar, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

/**
 * Stand-in costs for choosing a learner when real prices are unknown: the more often a model succeeds,
 * the dearer it is assumed to be (2^rank), which is how model prices usually run. Used only to compare
 * learners by routing quality; reported metrics never use them.
 */
function rankCosts(data: { n: number; m: number; Y: Float32Array; mask: Float32Array }): Float64Array {
  const rate = baseRates(data.Y.subarray(0, data.n * data.m), data.mask.subarray(0, data.n * data.m), data.m, 0);
  const order = rate.map((_, j) => j).sort((a, b) => rate[a] - rate[b]);
  const cost = new Float64Array(data.m);
  order.forEach((j, rank) => (cost[j] = 2 ** rank));
  const out = new Float64Array(data.n * data.m);
  for (let r = 0; r < data.n; r++) out.set(cost, r * data.m);
  return out;
}

/** What a version's sidecar records of its split: `split` (absent before prompts keyed it) and the `seed` that drew it. */
function trainingOf(classifierDir: string, version: string): { split?: string; seed?: number } | null {
  try {
    return readSidecar(path.join(classifierDir, version)).training ?? null;
  } catch {
    return null;
  }
}

/** Validation rows a source group needs for a line of its own in retrain's report. */
const VALIDATION_SOURCE_ROWS = 50;
