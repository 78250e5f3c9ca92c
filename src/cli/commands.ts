// The offline commands: import, retrain, score, eval. Each takes its flags and a context of parts built
// by src/main.ts, prints progress to the given log, and returns an exit code.
import path from 'node:path';
import { FeedbackIdTakenError, type OutcomeStore } from '../store/types';
import { promptHash } from '../store/prompt-hash';
import type { Embedder } from '../embedding/embedder';
import { readCurrentVersion } from '../routing/classifier-registry';
import { loadOnnxClassifier } from '../routing/onnx-classifier';
import { InvalidInputError } from '../errors';
import { type UnknownKeys, lastRowPerId, outcomeRowSchema, readJsonlFileWithLines, readOutcomeFile, readPromptFile } from '../../training/outcome-file';
import { retrain } from '../../training/retrain';
import { FEATURE_KINDS } from '../routing/features';
import { type LabelledRow, featureMatrix } from '../../training/dataset';
import {
  OTHER_POLICIES_HEADER, type PriceTable, RECORDED_COSTS_NOTE, evaluate, formatRandomReading, groupBySource, headlineIntervals, intervalMetrics, otherPolicyLines, perModelLines, randomRouterReading, sourceLine,
} from '../../training/evaluate';
import { DEFAULT_RESAMPLES, defaultResamples, intervalLine, isResampleCount, resampleCountError, skippedIntervalLine } from '../../training/bootstrap';
import { formatMetricsTable, mixesModelSets, renderQualityCostSvg } from '../../training/metrics';
import { overlayPrices, withLearnedLengths } from '../../training/prices';
import { UsageError, parseFlags, requireFlag } from './args';
import { checkOutputPath, refuseOverwritingInput, writeAtomic } from './output-file';
import { type PolicyKind, parsePolicyKind } from '../routing/policy';
import type { FoldRunner } from '../../training/component-recipes';
import { learnerNames } from '../../training/learner-selection';

/** The configured prices, with `--prices file` laid over them when given. */
/** The config's prices, a price file's laid over them, and the answer lengths the router has learned from the log where neither gives one. */
function pricesWith(file: string | undefined, ctx: CommandContext): PriceTable {
  const given = file ? overlayPrices(ctx.prices, ctx.readPrices(file)) : ctx.prices;
  const { prices, filled } = withLearnedLengths(given, ctx.answerLengths());
  if (filled.length > 0) ctx.log(`Answer lengths learned from the decision log (as the router costs them): ${filled.map((m) => `${m} ${prices[m].expectedOutputTokens}`).join(', ')} tokens.`);
  return prices;
}

const policyFlag = (value: string | undefined, ctx: CommandContext): PolicyKind => (value === undefined ? ctx.policy : parsePolicyKind(value, '--policy'));

export interface CommandContext {
  store: () => OutcomeStore;
  /** The store when one has been created, else null: for commands that only read it and must not create it. */
  existingStore: () => OutcomeStore | null;
  embedder: () => Promise<Embedder>;
  classifierDir: string;
  prices: PriceTable;
  /** The config's model ids. */
  configuredModels: readonly string[];
  expectedOutputTokens: number;
  /** Each model's answer length learned from the decision log (routing.answerLengths); empty when off or no store. */
  answerLengths: () => ReadonlyMap<string, number>;
  /** routing.policy: the policy retrain chooses learners for and eval reports (--policy overrides). */
  policy: PolicyKind;
  readPrices: (file: string) => PriceTable;
  /**
   * Where retrain's inner folds run: `workers` threads (default: the cores, at most 4), or in process
   * when that is 1 or no worker script is built. The caller's clean-up stops the threads.
   */
  foldRunner: (workers?: number) => FoldRunner;
  log: (message: string) => void;
  /** A command's report, the output a user keeps (`eval … > report.txt`): stdout; progress and warnings go to `log`. */
  report: (line: string) => void;
}

const IMPORT_USAGE = 'switchyard import <file.jsonl> [--config file]';
export async function importCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { positionals } = parseFlags('import', argv, { config: { type: 'string' } }, IMPORT_USAGE, true);
  const file = requireFlag(positionals[0], '<file.jsonl>', IMPORT_USAGE);
  if (positionals.length > 1) {
    // `import data/*.jsonl` must not import one file and exit 0.
    throw new UsageError(`import takes one file at a time, got ${positionals.length}: ${positionals.join(' ')} (import each, or concatenate them)\nusage: ${IMPORT_USAGE}`);
  }
  // Every line is validated before anything is written, and the write is one transaction.
  const found: UnknownKeys = new Map();
  const read = readJsonlFileWithLines(file, outcomeRowSchema, { known: Object.keys(outcomeRowSchema.shape), found });
  const { rows, repeated } = lastRowPerId(read);
  if (found.size > 0) {
    const where = [...found].map(([key, line]) => `"${key}" (first on line ${line})`).join(', ');
    ctx.log(`warning: ${file}: ignored field${found.size === 1 ? '' : 's'} ${where}; a row has ${Object.keys(outcomeRowSchema.shape).join(', ')}`);
  }
  if (rows.length === 0) ctx.log(`warning: ${file}: no rows (the file is empty or holds only blank lines)`);
  // A cost with no outcome beside it can never be charged: most likely a model name spelt two ways.
  const costOnly = rows.filter((r) => Object.keys(r.costs).some((m) => !Object.hasOwn(r.outcomes, m)));
  if (costOnly.length > 0) {
    ctx.log(`warning: ${file}: ${costOnly.length} row${costOnly.length === 1 ? '' : 's'} (first: id "${costOnly[0].id}") give costs for models without an outcome; those costs are not stored`);
  }
  // Stored all the same (a model may be configured later), but a name the config does not know is most
  // often a typo, and one model without a price makes retrain compare learners with stand-in costs.
  const unconfigured = [...new Set(rows.flatMap((r) => Object.keys(r.outcomes)))].filter((m) => !Object.hasOwn(ctx.prices, m)).sort();
  if (unconfigured.length > 0) {
    ctx.log(
      `warning: ${file}: outcomes of model${unconfigured.length === 1 ? '' : 's'} not in the config: ${unconfigured.join(', ')} (configured: ${Object.keys(ctx.prices).join(', ')}); ` +
        'stored, and trained on by retrain, which prices learners with stand-in costs while a model has no price (configure it, or give retrain --prices)',
    );
  }
  for (const r of repeated.slice(0, 10)) ctx.log(`warning: ${file}: id "${r.id}" appears on lines ${r.lines.join(', ')}; the last one is kept`);
  if (repeated.length > 10) ctx.log(`warning: ${repeated.length - 10} more ids repeat`);
  const store = ctx.store();
  let result: ReturnType<typeof store.importSamples>;
  try {
    result = store.importSamples(rows.map((r) => ({ ...r, origin: 'import' as const })));
  } catch (err) {
    if (!(err instanceof FeedbackIdTakenError)) throw err;
    const line = read.filter((r) => r.row.id === err.id).at(-1)?.line;
    throw new InvalidInputError(`${file}: line ${line}: ${err.message}; nothing was imported`, null, 'id_taken');
  }
  const totals = store.countSamples();
  ctx.log(`Imported ${rows.length} rows from ${file}${repeated.length ? ` (${repeated.length} repeated ids)` : ''}: ${result.inserted} new, ${result.updated} updated, ${result.unchanged} unchanged. Store: ${totals.samples} prompts, ${totals.outcomes} outcomes.`);
  return 0;
}

/** --interval N: bootstrap resamples behind the 95% intervals (0: none); undefined when not given. */
function intervalFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!isResampleCount(n)) throw new InvalidInputError(resampleCountError(value));
  return n;
}

const RETRAIN_USAGE =
  'switchyard retrain [--force] [--seed N] [--prices models.json] [--learner NAME] [--features KIND] [--policy per-request|near-best|average] [--workers N] [--interval N] [--config file]';
export async function retrainCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values } = parseFlags('retrain', argv, {
    config: { type: 'string' }, force: { type: 'boolean' }, seed: { type: 'string' }, prices: { type: 'string' }, learner: { type: 'string', multiple: true },
    features: { type: 'string' }, policy: { type: 'string' }, workers: { type: 'string' }, interval: { type: 'string' },
  }, RETRAIN_USAGE);
  const intervalResamples = intervalFlag(values.interval);
  const policy = policyFlag(values.policy, ctx);
  if (values.features !== undefined && !Object.hasOwn(FEATURE_KINDS, values.features)) {
    throw new InvalidInputError(`--features: unknown feature kind "${values.features}" (known: ${Object.keys(FEATURE_KINDS).join(', ')})`);
  }
  // A pattern, not Number(): Number('') is 0, and `--seed ""` would train with a seed nobody asked for.
  if (values.seed !== undefined && !/^-?\d+$/.test(values.seed.trim())) throw new InvalidInputError(`--seed must be an integer, got "${values.seed}"`);
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  // Checked before the store is embedded, not after.
  const unknownLearners = (values.learner ?? []).filter((l) => !learnerNames().includes(l));
  if (unknownLearners.length > 0) {
    throw new InvalidInputError(`--learner: unknown learner ${unknownLearners.map((l) => `"${l}"`).join(', ')} (known: ${learnerNames().join(', ')})`);
  }
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1 && workers <= 64)) {
    throw new InvalidInputError(`--workers must be a whole number from 1 to 64, got "${values.workers}"`);
  }
  // Opening a store creates its file: a retrain given the wrong config must not leave an empty one behind.
  const store = ctx.existingStore();
  if (!store) {
    throw new InvalidInputError('the store (storage.path) does not exist yet: nothing to train on (import outcomes with `switchyard import`, or serve traffic and rate the answers)', null, 'not_enough_data');
  }
  const prices = pricesWith(values.prices, ctx);
  const report = await retrain(
    { store, embedder: await ctx.embedder(), classifierDir: ctx.classifierDir, prices, log: ctx.log, foldRunner: ctx.foldRunner(workers), configuredModels: ctx.configuredModels },
    { seed, force: values.force ?? false, learners: values.learner, featureKind: values.features, expectedOutputTokens: ctx.expectedOutputTokens, policy, intervalResamples },
  );
  ctx.log(`Retrain took ${report.seconds.toFixed(1)} s.`);
  return 0;
}

async function currentClassifier(ctx: CommandContext, embedder: Embedder) {
  const version = readCurrentVersion(ctx.classifierDir);
  if (version === null) {
    throw new InvalidInputError(`no current classifier in ${ctx.classifierDir}: run \`switchyard retrain\` first`, null, 'no_classifier');
  }
  return loadOnnxClassifier(path.join(ctx.classifierDir, version), { expectEmbedderId: embedder.id, expectEmbedderDimension: embedder.dimension });
}

/** Prompts are featurised and scored this many at a time: a file's feature rows never all sit in memory. */
const PREDICT_CHUNK = 4096;

/**
 * Probabilities [n×m] for the prompts: each distinct prompt once (a file may repeat prompts under several
 * ids), `chunk` distinct prompts at a time. `predict` gets each slice and returns its [slice×m] rows.
 * Progress counts distinct prompts.
 */
export async function predictInChunks(
  prompts: readonly string[],
  m: number,
  chunk: number,
  predict: (slice: readonly string[], onProgress: (done: number) => void) => Promise<Float32Array>,
  onProgress: (done: number, total: number) => void,
): Promise<Float32Array> {
  const position = new Map<string, number>();
  const distinct: string[] = [];
  const rowOf = prompts.map((p) => {
    let k = position.get(p);
    if (k === undefined) {
      k = distinct.length;
      position.set(p, k);
      distinct.push(p);
    }
    return k;
  });
  const Q = new Float32Array(distinct.length * m);
  for (let start = 0; start < distinct.length; start += chunk) {
    const slice = distinct.slice(start, start + chunk);
    const rows = await predict(slice, (done) => onProgress(start + done, distinct.length));
    if (rows.length !== slice.length * m) throw new Error(`expected ${slice.length}×${m} probabilities, got ${rows.length}`);
    Q.set(rows, start * m);
  }
  const P = new Float32Array(prompts.length * m);
  rowOf.forEach((k, i) => P.set(Q.subarray(k * m, (k + 1) * m), i * m));
  return P;
}

async function predictRows(ctx: CommandContext, prompts: string[]) {
  const embedder = await ctx.embedder();
  const classifier = await currentClassifier(ctx, embedder);
  try {
    let shown = 0;
    const P = await predictInChunks(
      prompts,
      classifier.models.length,
      PREDICT_CHUNK,
      async (slice, onProgress) => {
        const { X } = await featureMatrix(classifier.featureKind, embedder, slice, null, onProgress);
        return classifier.predict(X, slice.length);
      },
      (done, total) => {
        if (done === total || done - shown >= 1000) {
          shown = done;
          ctx.log(`  embedded ${done}/${total}`);
        }
      },
    );
    return { P, models: [...classifier.models], version: classifier.version };
  } finally {
    await classifier.dispose();
  }
}

const SCORE_USAGE = 'switchyard score --data <in.jsonl> --out <out.jsonl> [--config file]';
export async function scoreCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values } = parseFlags('score', argv, { config: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' } }, SCORE_USAGE);
  const data = requireFlag(values.data, '--data', SCORE_USAGE);
  const out = requireFlag(values.out, '--out', SCORE_USAGE);
  refuseOverwritingInput(data, out, '--out');
  checkOutputPath(out, '--out');
  const rows = readPromptFile(data);
  const { P, models, version } = await predictRows(ctx, rows.map((r) => r.prompt));
  const m = models.length;
  const lines = rows.map((r, i) => {
    const p: Record<string, number> = {};
    models.forEach((model, j) => (p[model] = P[i * m + j]));
    return JSON.stringify({ id: r.id, p_success: p });
  });
  writeAtomic(out, lines.length ? `${lines.join('\n')}\n` : '', '--out');
  ctx.log(`Scored ${rows.length} rows with classifier ${version} → ${out}`);
  return 0;
}

const FEATURES_USAGE = 'switchyard features --data <in.jsonl> --out <out.jsonl> [--features KIND] [--config file]';

/**
 * The input rows a classifier of feature kind KIND reads (default `embedding`: the embedder's vector
 * alone), one line per row: `{"id": …, "features": [...]}`. For training a classifier outside Switchyard
 * (scikit-learn, exported to ONNX) on exactly the rows the server will feed it.
 */
export async function featuresCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values } = parseFlags('features', argv, { config: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, features: { type: 'string' } }, FEATURES_USAGE);
  const data = requireFlag(values.data, '--data', FEATURES_USAGE);
  const out = requireFlag(values.out, '--out', FEATURES_USAGE);
  const kind = values.features ?? 'embedding';
  if (!(kind in FEATURE_KINDS)) throw new InvalidInputError(`--features: unknown feature kind "${kind}" (known: ${Object.keys(FEATURE_KINDS).join(', ')})`);
  refuseOverwritingInput(data, out, '--out');
  checkOutputPath(out, '--out');
  const rows = readPromptFile(data);
  const embedder = await ctx.embedder();
  const lines: string[] = [];
  let d = 0;
  for (let from = 0; from < rows.length; from += PREDICT_CHUNK) {
    const slice = rows.slice(from, from + PREDICT_CHUNK);
    const built = await featureMatrix(kind, embedder, slice.map((r) => r.prompt), null);
    d = built.d;
    // Float32 values printed as doubles: read back as float32 they are the same bits the server computes.
    slice.forEach((r, i) => lines.push(JSON.stringify({ id: r.id, features: Array.from(built.X.subarray(i * d, (i + 1) * d)) })));
    ctx.log(`  built ${Math.min(from + PREDICT_CHUNK, rows.length)}/${rows.length}`);
  }
  writeAtomic(out, lines.length ? `${lines.join('\n')}\n` : '', '--out');
  ctx.log(`Wrote ${rows.length} rows of ${d} "${kind}" features (embedder ${embedder.id}) → ${out}`);
  return 0;
}

const EVAL_USAGE =
  'switchyard eval --data <file.jsonl> [--svg chart.svg] [--prices models.json] [--policy per-request|near-best|average] [--by-source DEPTH] [--min-source-rows N] [--interval N] [--config file]';
/** Sources with fewer rows than this are pooled in `eval --by-source`: a curve over fewer is mostly noise. */
const DEFAULT_MIN_SOURCE_ROWS = 50;

/**
 * Each group of sources scored on its own rows, with its own curve: a classifier trained on a mix can serve
 * one kind of prompt far worse than the pooled figures say (docs/routing-quality.md).
 */
function logBySource(
  ctx: CommandContext,
  o: { models: string[]; P: Float32Array; rows: LabelledRow[]; prices: PriceTable; policy: PolicyKind; depth: number; minRows: number; resamples: number },
): void {
  const { groups, smaller } = groupBySource(o.rows, o.depth, o.minRows);
  const segments = o.depth === 1 ? 'the first segment' : `the first ${o.depth} segments`;
  ctx.report(`By source (${segments} of each row's source; each group on its own rows and its own curve):`);
  const options = { outputTokens: ctx.expectedOutputTokens, policy: o.policy, resamples: o.resamples, seed: 1 };
  for (const g of groups) ctx.report(sourceLine(g.source, o.models, o.P, o.rows, g.rows, o.prices, options));
  if (smaller) {
    const label = `${smaller.sources} source${smaller.sources === 1 ? '' : 's'} under ${o.minRows} rows, pooled`;
    ctx.report(sourceLine(label, o.models, o.P, o.rows, smaller.rows, o.prices, options));
  }
}

export async function evalCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values } = parseFlags('eval', argv, {
    config: { type: 'string' }, data: { type: 'string' }, svg: { type: 'string' }, prices: { type: 'string' }, policy: { type: 'string' },
    'by-source': { type: 'string' }, 'min-source-rows': { type: 'string' }, interval: { type: 'string' },
  }, EVAL_USAGE);
  const policy = policyFlag(values.policy, ctx);
  const data = requireFlag(values.data, '--data', EVAL_USAGE);
  if (values.svg !== undefined) {
    refuseOverwritingInput(data, values.svg, '--svg');
    checkOutputPath(values.svg, '--svg');
  }
  const depth = values['by-source'] === undefined ? null : Number(values['by-source']);
  if (depth !== null && !(Number.isInteger(depth) && depth >= 1 && depth <= 16)) {
    throw new InvalidInputError(`--by-source must be how many leading segments of a row's source to group by (1 to 16), got "${values['by-source']}"`);
  }
  const minSourceRows = values['min-source-rows'] === undefined ? DEFAULT_MIN_SOURCE_ROWS : Number(values['min-source-rows']);
  if (!(Number.isInteger(minSourceRows) && minSourceRows >= 1)) {
    throw new InvalidInputError(`--min-source-rows must be a whole number ≥ 1, got "${values['min-source-rows']}"`);
  }
  if (values['min-source-rows'] !== undefined && depth === null) throw new InvalidInputError('--min-source-rows needs --by-source');
  const asked = intervalFlag(values.interval) ?? null;
  const rows = readOutcomeFile(data);
  if (rows.length === 0) throw new InvalidInputError(`${data} holds no rows to evaluate`, null, 'empty_file');
  const prices = pricesWith(values.prices, ctx);
  const { P, models, version } = await predictRows(ctx, rows.map((r) => r.prompt));
  // A file whose model names the classifier does not know (a typo, another provider's ids) would print a
  // table of n/a and exit 0 as though it had been evaluated.
  const inFile = [...new Set(rows.flatMap((r) => Object.keys(r.outcomes)))].sort();
  const unknown = inFile.filter((m) => !models.includes(m));
  if (unknown.length === inFile.length) {
    throw new InvalidInputError(`${data}: none of its models (${inFile.join(', ')}) is one classifier ${version} predicts (${models.join(', ')})`, null, 'unknown_models');
  }
  const evaluation = evaluate(models, P, rows, prices, ctx.expectedOutputTokens, policy);
  ctx.report(`Classifier ${version} on ${data} (${rows.length} rows), ${policy} policy`);
  // Warnings about what the figures cover are part of the report (`eval … > report.txt` keeps them).
  if (unknown.length > 0) ctx.report(`warning: classifier ${version} does not predict ${unknown.join(', ')}; their outcomes are left out.`);
  if (evaluation.chargedRecordedCosts) ctx.report(`Costs: ${RECORDED_COSTS_NOTE}.`);
  // Figures on rows the classifier learned from flatter it; say so rather than let them pass as held out.
  const stored = ctx.existingStore()?.trainedPromptHashes() ?? new Set<string>();
  const seen = rows.filter((r) => stored.has(promptHash(r.prompt))).length;
  if (seen > 0) {
    ctx.report(
      `warning: ${seen} of ${rows.length} prompts are in the outcome store, which retrain trains on: if ${version} was trained ` +
        'after they were stored, these figures are optimistic (evaluate on rows kept out of the store).',
    );
  }
  for (const line of perModelLines(evaluation.perModel)) ctx.report(line);
  if (evaluation.unscored.length > 0) {
    ctx.report(
      `${data} records no outcome of ${evaluation.unscored.length} of the classifier's ${models.length} models ` +
        `(${evaluation.unscored.join(', ')}): the routing metrics route among the models it records.`,
    );
  }
  if (evaluation.uncosted.length > 0) {
    ctx.report(`No price for ${evaluation.uncosted.join(', ')}: left out of routing metrics (add them to the config or pass --prices).`);
  }
  if (!evaluation.routing) {
    ctx.report(
      evaluation.noChoice
        ? 'No routing metrics: no row records the outcomes of two models or more, so no row offers a choice to score (rated live traffic records only the model that answered).'
        : 'Routing metrics need at least two models with known costs.',
    );
    return 0;
  }
  ctx.report(formatMetricsTable(evaluation.routing));
  const costedModels = evaluation.routing.models.length;
  const resamples = asked ?? defaultResamples(rows.length, costedModels);
  if (resamples > 0) {
    const intervals = headlineIntervals(models, P, rows, prices, { resamples, seed: 1, policy, outputTokens: ctx.expectedOutputTokens });
    ctx.report(intervalLine(intervals, resamples, rows.length, intervalMetrics(evaluation)));
  } else if (asked === null) {
    ctx.report(skippedIntervalLine(rows.length, costedModels, `pass --interval ${DEFAULT_RESAMPLES} to draw it`));
  }
  const random = randomRouterReading(models, rows, prices, ctx.expectedOutputTokens, evaluation);
  if (random) ctx.report(formatRandomReading(random, rows.length));
  ctx.report(`${OTHER_POLICIES_HEADER}:`);
  for (const line of otherPolicyLines(models, P, rows, prices, ctx.expectedOutputTokens, policy)) ctx.report(line);
  // Pooled figures that mix kinds with their own models: the lines by kind are shown without being asked for.
  const by = depth ?? (mixesModelSets(evaluation.routing) ? 1 : null);
  if (by !== null) logBySource(ctx, { models, P, rows, prices, policy, depth: by, minRows: minSourceRows, resamples });
  const svg = values.svg ?? `${path.basename(data).replace(/\.jsonl?$/, '')}.quality.svg`;
  writeAtomic(svg, renderQualityCostSvg(evaluation.routing, `Switchyard ${version} on ${path.basename(data)}, ${policy} policy`), '--svg');
  ctx.report(`Chart: ${svg}`);
  return 0;
}
