// One evaluation path for `retrain`, `eval` and the benchmarks: predictions + labelled rows → the
// per-model and routing metrics of training/metrics/. A choice's cost is the row's real cost for that
// model when the data carries it (RouterBench does), else the configured price × estimated tokens. The
// policy chooses by what the router would know before asking — price × estimated tokens — and is then
// charged the real cost: a recorded cost reflects how long that model's answer turned out to be.
import type { ModelPrice } from '../src/config/schema';
import { costedOutputTokens, estimateCost, estimateTokens } from '../src/routing/cost';
import type { LabelledRow } from './dataset';
import { type BootstrapOptions, type Interval, bootstrapIntervals } from './bootstrap';
import { pickRows, seededRandom } from './matrix';
import { type LabelledPrediction, type MetricsSummary, POLICY_KINDS, type PolicyKind, SELECTION_TARGETS, type SweepOptions, auc, brier, summarize } from './metrics';

/** Per model: its price, and its typical answer length when it has its own (models[].expectedOutputTokens). */
export type PriceTable = Readonly<Record<string, ModelPrice & { expectedOutputTokens?: number }>>;

export interface Evaluation {
  /** Per-model AUC and Brier over rows where the outcome is known (every model the classifier knows). */
  perModel: Record<string, { auc: number; brier: number; rows: number }>;
  /** Routing metrics over the models whose cost is known for every row; null when fewer than two are. */
  routing: MetricsSummary | null;
  /** Models left out of the routing metrics for want of a cost, with why. */
  uncosted: string[];
  /** Models left out of the routing metrics because no row records their outcome: no choice of them could be scored. */
  unscored: string[];
  /** The routing metrics' policy chose by price × estimated tokens and was charged the rows' recorded costs. */
  chargedRecordedCosts: boolean;
  /**
   * No row records outcomes of two costed models (rated live traffic records one each): there is no choice
   * to score, and a curve would read a random router's 0.5 as though it were measured.
   */
  noChoice?: boolean;
}

export function costOf(row: LabelledRow, model: string, prices: PriceTable, outputTokens: number): number {
  const real = row.costs[model];
  if (real !== undefined) return real;
  const price = prices[model];
  return price ? priceEstimate(row, price, outputTokens) : NaN;
}

/** Price × the prompt's estimated tokens and the model's answer length (its own, else `outputTokens`). */
const priceEstimate = (row: LabelledRow, price: PriceTable[string], outputTokens: number): number =>
  estimateCost(price, estimateTokens(row.prompt), costedOutputTokens(price.expectedOutputTokens, undefined, outputTokens));

/**
 * What the router sees of each row's cost on each model before it asks [n×m]: the configured price ×
 * estimated tokens. A model with no price is seen at the mean of its recorded costs over these rows (one
 * figure per model, as a price would be: nothing of a row's own answer). Null when some model has
 * neither a price nor a recorded cost.
 */
export function estimateMatrix(rows: readonly LabelledRow[], models: readonly string[], prices: PriceTable, outputTokens = 256): Float64Array | null {
  const out = new Float64Array(rows.length * models.length);
  for (let j = 0; j < models.length; j++) {
    const price = prices[models[j]];
    let flat = NaN;
    if (!price) {
      let sum = 0;
      let count = 0;
      for (const r of rows) {
        const c = r.costs[models[j]];
        if (c !== undefined) {
          sum += c;
          count++;
        }
      }
      if (count === 0) return null;
      flat = sum / count;
    }
    for (let i = 0; i < rows.length; i++) {
      out[i * models.length + j] = price ? priceEstimate(rows[i], price, outputTokens) : flat;
    }
  }
  return out;
}

/** Said by `eval` and `retrain` when rows record costs, so a reader knows which cost did what. */
export const RECORDED_COSTS_NOTE =
  'rows record per-prompt costs: the policy chooses by price × estimated tokens (what a router knows before it asks) and is charged the recorded cost';

/** Whether any row records a cost for one of the models (only then do estimates differ from costs). */
export const recordsCosts = (rows: readonly LabelledRow[], models: readonly string[]): boolean =>
  rows.some((r) => models.some((m) => r.costs[m] !== undefined));

/**
 * For choosing a learner or replaying the policy: what each choice costs [n×m] (undefined when some model
 * has neither a recorded cost nor a price) and, when rows record costs, what the policy sees beforehand.
 */
export function routingCosts(
  rows: readonly LabelledRow[],
  models: readonly string[],
  prices: PriceTable,
  outputTokens = 256,
): { costs?: Float64Array; estimates?: Float64Array } {
  const costs = costMatrix(rows, models, prices, outputTokens) ?? undefined;
  const estimates = costs && recordsCosts(rows, models) ? (estimateMatrix(rows, models, prices, outputTokens) ?? undefined) : undefined;
  return { costs, estimates };
}

/** Cost of each row on each model [n×m], or null when some model has neither a row cost nor a price. */
export function costMatrix(rows: readonly LabelledRow[], models: readonly string[], prices: PriceTable, outputTokens = 256): Float64Array | null {
  const out = new Float64Array(rows.length * models.length);
  for (let i = 0; i < rows.length; i++) {
    for (let j = 0; j < models.length; j++) {
      const c = costOf(rows[i], models[j], prices, outputTokens);
      if (!Number.isFinite(c)) return null;
      out[i * models.length + j] = c;
    }
  }
  return out;
}

export function evaluate(
  models: readonly string[],
  P: Float32Array,
  rows: readonly LabelledRow[],
  prices: PriceTable,
  outputTokens = 256,
  policy: PolicyKind = 'per-request',
  sweep: SweepOptions = {},
): Evaluation {
  const m = models.length;
  const perModel: Evaluation['perModel'] = {};
  models.forEach((model, j) => {
    const probs: number[] = [];
    const labels: number[] = [];
    rows.forEach((r, i) => {
      const o = r.outcomes[model];
      if (o !== undefined) {
        probs.push(P[i * m + j]);
        labels.push(o);
      }
    });
    perModel[model] = { auc: auc(probs, labels), brier: brier(probs, labels), rows: labels.length };
  });
  const costed: number[] = [];
  const uncosted: string[] = [];
  const unscored: string[] = [];
  models.forEach((model, j) => {
    // A file that records 2 of the classifier's 21 models is judged as routing between those 2.
    if (perModel[model].rows === 0) unscored.push(model);
    else if (rows.every((r) => Number.isFinite(costOf(r, model, prices, outputTokens)))) costed.push(j);
    else uncosted.push(model);
  });
  if (costed.length < 2 || rows.length === 0) return { perModel, routing: null, uncosted, unscored, chargedRecordedCosts: false };
  if (!rows.some((r) => costed.filter((j) => r.outcomes[models[j]] !== undefined).length >= 2)) {
    return { perModel, routing: null, uncosted, unscored, chargedRecordedCosts: false, noChoice: true };
  }
  const costedModels = costed.map((j) => models[j]);
  // Every costed model has a price or a recorded cost, so there is an estimate for each.
  const estimates = recordsCosts(rows, costedModels) ? estimateMatrix(rows, costedModels, prices, outputTokens) : null;
  const k = costed.length;
  const labelled: LabelledPrediction[] = rows.map((r, i) => ({
    p: costed.map((j) => P[i * m + j]),
    cost: costed.map((j) => costOf(r, models[j], prices, outputTokens)),
    ...(estimates ? { estimate: estimates.subarray(i * k, (i + 1) * k) } : {}),
    outcome: costed.map((j) => r.outcomes[models[j]] ?? null),
  }));
  return { perModel, routing: summarize(costedModels, labelled, { ...sweep, policy }), uncosted, unscored, chargedRecordedCosts: estimates !== null };
}

/** The headline numbers, flat, for sidecars and comparisons. */
export function headline(e: Evaluation): Record<string, number | null> {
  const r = e.routing;
  const fin = (v: number | undefined): number | null => (v !== undefined && Number.isFinite(v) ? v : null);
  return {
    gainVsZero: fin(r?.nModel.gainVsZero),
    costSaving95OfBest: fin(r?.nModel.costSaving95OfBest),
    apgr: fin(r?.twoModel?.apgr),
    cpt50: fin(r?.twoModel?.cpt50),
    cpt80: fin(r?.twoModel?.cpt80),
    costSaving95: fin(r?.twoModel?.costSaving95),
  };
}

/** Rows whose sources share their leading segments. */
export interface SourceGroup {
  source: string;
  /** Indices into the rows grouped. */
  rows: number[];
}

/** Label of rows that name no source. */
export const NO_SOURCE = '(no source)';

/**
 * Rows grouped by the first `depth` '/'-separated segments of their source ('mmlu/anatomy' is 'mmlu' at
 * depth 1), largest first. Groups of fewer than `minRows` rows are pooled as `smaller`: a curve over a few
 * dozen rows is noise, and a report that lists it beside the large ones invites reading it.
 */
export function groupBySource(
  rows: readonly { source: string | null }[],
  depth: number,
  minRows: number,
): { groups: SourceGroup[]; smaller: { sources: number; rows: number[] } | null } {
  const byKey = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const key = r.source === null || r.source === '' ? NO_SOURCE : r.source.split('/').slice(0, depth).join('/');
    const list = byKey.get(key);
    if (list) list.push(i);
    else byKey.set(key, [i]);
  });
  const all = [...byKey].map(([source, idx]) => ({ source, rows: idx })).sort((a, b) => b.rows.length - a.rows.length || (a.source < b.source ? -1 : 1));
  const groups = all.filter((g) => g.rows.length >= minRows);
  const small = all.filter((g) => g.rows.length < minRows);
  return {
    groups,
    smaller: small.length > 0 ? { sources: small.length, rows: small.flatMap((g) => g.rows).sort((a, b) => a - b) } : null,
  };
}

/**
 * The per-source report's line for the rows `idx`: scored on their own curve, with each figure's 95%
 * interval over them when `resamples` > 0 (a group of 150 rows moves by far more than the whole set).
 * `evaluation`: those rows' `evaluateRows`, when the caller already has it.
 */
export function sourceLine(
  label: string,
  models: readonly string[],
  P: Float32Array,
  rows: readonly LabelledRow[],
  idx: readonly number[],
  prices: PriceTable,
  options: { outputTokens?: number; policy?: PolicyKind; resamples: number; seed: number; evaluation?: Evaluation },
): string {
  const e = options.evaluation ?? evaluateRows(models, P, rows, idx, prices, options.outputTokens, options.policy);
  const intervals = e.routing && options.resamples > 0
    ? headlineIntervals(models, pickRows(P, idx, models.length), idx.map((r) => rows[r]), prices, options)
    : null;
  return formatSourceLine(label, idx.length, e, intervals);
}

/** `evaluate` on some of the rows (indices into `rows` and into P's rows): its own curve, its own λ. */
export function evaluateRows(
  models: readonly string[],
  P: Float32Array,
  rows: readonly LabelledRow[],
  idx: readonly number[],
  prices: PriceTable,
  outputTokens = 256,
  policy: PolicyKind = 'per-request',
  sweep: SweepOptions = {},
): Evaluation {
  return evaluate(models, pickRows(P, idx, models.length), idx.map((r) => rows[r]), prices, outputTokens, policy, sweep);
}

/**
 * One line of a per-source report: the headline metrics and each model's AUC; with `intervals`, each
 * headline figure is followed by its 95% interval over the group's rows ("APGR 0.786 [0.650, 0.905]").
 */
const fixed = (v: number | null, digits = 3): string => (v === null || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits));
const percent = (v: number | null): string => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
const signed = (v: number | null): string => (v === null ? 'n/a' : `${v >= 0 ? '+' : ''}${v.toFixed(4)}`);

/**
 * The headline routing figures of an evaluation in one phrase ("APGR 0.786, CPT(50%) 23.8%; gain vs Zero
 * +0.0123, saving at 95% of best 70.1%"); with `intervals`, each followed by its 95% interval.
 */
export function formatHeadline(e: Evaluation, intervals?: Record<string, Interval | null> | null): string {
  if (!e.routing) return e.noChoice ? 'no routing metrics (no row records two models)' : 'no routing metrics (fewer than two models with known costs)';
  const h = headline(e);
  const show = (key: string, format: (v: number | null) => string): string => {
    const iv = intervals?.[key];
    return `${format(h[key])}${iv ? ` [${format(iv.lo)}, ${format(iv.hi)}]` : ''}`;
  };
  const parts: string[] = [];
  if (e.routing.twoModel) parts.push(`APGR ${show('apgr', fixed)}, CPT(50%) ${show('cpt50', percent)}`);
  parts.push(`gain vs Zero ${show('gainVsZero', signed)}, saving at 95% of best ${show('costSaving95OfBest', percent)}`);
  return parts.join('; ');
}

export function formatSourceLine(label: string, rows: number, e: Evaluation, intervals?: Record<string, Interval | null> | null): string {
  // Models the group records no outcome of (another kind's models, in a mixed store) have no AUC to show.
  const aucs = Object.entries(e.perModel)
    .filter(([, v]) => v.rows > 0)
    .map(([model, v]) => `${model} ${fixed(v.auc)}`);
  return `  ${label} (${rows} rows): ${formatHeadline(e, intervals)}; AUC ${aucs.join(', ')}`;
}

export const OTHER_POLICIES_HEADER = 'The other policies on the same predictions (routing.policy serves one, router.policy a request)';

/**
 * The policies other than `policy`, each routing the same predictions over the same rows, one line each
 * ("  near-best: APGR 0.715, …"). The figures say which policy would serve these prompts better before
 * anyone changes `routing.policy`: on the public sets the per-request bar reads 0.02–0.05 below the other
 * two (README "Routing quality"). A learner chosen for `policy` can read a little lower under another one
 * than a learner chosen for it.
 */
export function otherPolicyLines(
  models: readonly string[],
  P: Float32Array,
  rows: readonly LabelledRow[],
  prices: PriceTable,
  outputTokens: number | undefined,
  policy: PolicyKind,
): string[] {
  return POLICY_KINDS.filter((kind) => kind !== policy).map(
    (kind) => `  ${kind}: ${formatHeadline(evaluate(models, P, rows, prices, outputTokens, kind))}`,
  );
}

export interface RandomReading {
  apgr: number;
  cpt50: number;
  /** APGR on the reached points alone. */
  reachedApgr: number;
  draws: number;
}

/**
 * What a router with no signal reads on these rows under the same metrics: the cheap model's p drawn at
 * random and the dear one's set to 1, so the bar upgrades the rows in a random order (the mean of `draws`
 * seeded orders). The envelope keeps whichever points landed high and is never below the chord, so on a
 * few hundred rows this sits well above the 0.5 a random router is said to score (GSM8K: 0.577 on 185 rows,
 * 0.534 on 923): a figure is worth its distance from this as much as from 0.5. Two-model evaluations only.
 */
export function randomRouterReading(
  models: readonly string[],
  rows: readonly LabelledRow[],
  prices: PriceTable,
  outputTokens: number | undefined,
  evaluation: Evaluation,
  seed = 1,
  draws = 20,
): RandomReading | null {
  const strong = evaluation.routing?.twoModel?.strong.model;
  if (strong === undefined) return null;
  const s = models.indexOf(strong);
  const rand = seededRandom(seed);
  const sum = { apgr: 0, cpt50: 0, reachedApgr: 0 };
  for (let d = 0; d < draws; d++) {
    const R = new Float32Array(rows.length * models.length).map((_, j) => (j % models.length === s ? 1 : rand()));
    const t = evaluate(models, R, rows, prices, outputTokens, 'per-request').routing?.twoModel;
    if (!t) return null;
    sum.apgr += t.apgr;
    sum.cpt50 += t.cpt50;
    sum.reachedApgr += t.reached.apgr;
  }
  return { apgr: sum.apgr / draws, cpt50: sum.cpt50 / draws, reachedApgr: sum.reachedApgr / draws, draws };
}

export const formatRandomReading = (r: RandomReading, rows: number): string =>
  `  a random router on these ${rows} rows reads APGR ${fixed(r.apgr)}, CPT(50%) ${percent(r.cpt50)} (reached points: APGR ${fixed(r.reachedApgr)}; ` +
  `${r.draws} random orders): the envelope reads few rows kindly, so read the figures against this as well as 0.5`;

/**
 * The headline metrics' bootstrap intervals over these rows (training/bootstrap.ts): each resample scored
 * as `evaluate` scores the whole set, its own curve and its own λ.
 */
export function headlineIntervals(
  models: readonly string[],
  P: Float32Array,
  rows: readonly LabelledRow[],
  prices: PriceTable,
  options: BootstrapOptions & { outputTokens?: number; policy?: PolicyKind },
): Record<string, Interval | null> {
  // Hundreds of resamples, each a whole sweep: read on the thinned targets learner selection uses (at most
  // 0.0001 of gain below the exact curve), the whole set's figure too, so the bias correction compares
  // like with like. A third of `eval`'s time on MMLU's 9,829 rows otherwise.
  const thinned = { maxExtraTargets: SELECTION_TARGETS };
  const whole = headline(evaluate(models, P, rows, prices, options.outputTokens, options.policy, thinned));
  return bootstrapIntervals(rows.length, whole, (idx) => headline(evaluateRows(models, P, rows, idx, prices, options.outputTokens, options.policy, thinned)), options);
}

/** The headline metrics worth an interval: the two-model ones for two models, else the N-model ones. */
export const intervalMetrics = (e: Evaluation): string[] =>
  e.routing?.twoModel ? ['apgr', 'cpt50', 'costSaving95'] : ['gainVsZero', 'costSaving95OfBest'];

/** One line per model of an evaluation: `  model: AUC 0.712  Brier 0.183  (923 outcomes)`, n/a where undefined. */
export function perModelLines(perModel: Evaluation['perModel']): string[] {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
  // Models with no outcome here have nothing to report; the caller names them once (Evaluation.unscored).
  return Object.entries(perModel)
    .filter(([, v]) => v.rows > 0)
    .map(([model, v]) => `  ${model}: AUC ${f(v.auc)}  Brier ${f(v.brier)}  (${v.rows} outcomes)`);
}
