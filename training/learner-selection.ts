// What decides which learner `trainClassifier` keeps: the learners tried, the margins and paired test a
// more complex one must clear, and the routing score that judges out-of-fold predictions.
import { type TrainMatrix, mean } from './matrix';
import { type LabelledPrediction, type PolicyKind, SELECTION_TARGETS, summarize } from './metrics';

/**
 * Members of the small ensemble tried after the single learners. In 5-fold CV on the public sets, over two
 * fold seeds, it nudged most figures up (MMLU APGR +0.005 / +0.001, LLMRouter gain +0.002 / +0.008) and
 * moved none by more than fold noise (docs/routing-quality.md).
 */
export const DEFAULT_ENSEMBLE = 3;

/**
 * Draws of the inner folds on small sets (rows × models under SMALL_SET_CELLS). One draw's out-of-fold
 * scores move with the fold assignment by about as much as learners differ there, so the learner chosen
 * depends on the luck of the draw. Three draws cost three times the folds, a few seconds on such a set;
 * on large sets one draw is steadier and more would cost what `retrain`'s time budget cannot spare.
 */
export const DEFAULT_SMALL_REPEATS = 3;
export const SMALL_SET_CELLS = 10_000;
export const isSmallSet = (n: number, m: number): boolean => n * m < SMALL_SET_CELLS;

/** Seed offset between draws (any odd constant: each draw hashes the fold keys with its own seed). */
export const DRAW_SEED_STEP = 7919;

/** How much routing score (APGR or gain over Zero) a later, more complex learner must add to be chosen. */
export const ROUTING_MARGIN = 0.005;

/**
 * How many standard errors of the per-fold paired differences a challenger's mean gain must also clear.
 * One standard error, as in the one-standard-error rule of model selection. In 5-fold CV under the
 * average policy, with stacks scored cross-fitted, GSM8K APGR went from 0.626 / 0.647 (two fold seeds)
 * to 0.655 / 0.656: complex learners no longer beat the sparse one by noise. MMLU, RouterBench and
 * LLMRouter moved inside their seed noise (docs/routing-quality.md).
 */
export const DEFAULT_SIGNIFICANCE = 1;

/**
 * Rows from which a set counts as large for the inner cross-validation: it gets 4 inner folds rather than
 * 5, and the paired test is off by default (the margin stays). There the test's standard error comes from
 * one draw's 4 fold differences and is itself a guess: gating on it kept MMLU on simpler learners than its
 * best (the largest stack, fixed with `--learner`, read 0.718 / 0.718 / 0.716). With the test off, MMLU's
 * APGR went from 0.706 / 0.704 / 0.708 to 0.715 / 0.716 / 0.714 (near-best, fold seeds 1–3; README
 * "Routing quality"). Off on RouterBench (2,225 rows) it cost 4 points of saving at the same gain (fold
 * seeds 1–3), so smaller sets keep the test.
 */
export const LARGE_SET_ROWS = 3000;

/**
 * Mean of the paired differences a − b over its standard error (∞ when all differences are equal and
 * positive, or no fold scores both sides). `heldOverFit` (held-out rows over fitted rows of a fold) applies Nadeau and Bengio's
 * correction for cross-validated differences, whose folds share most of their training rows: the variance
 * of the mean is s²·(1/J + heldOverFit) rather than s²/J (0: uncorrected).
 */
export function pairedMeanOverSe(a: readonly number[], b: readonly number[], heldOverFit = 0): number {
  // A fold whose rows draw no curve scores −∞ for every learner (on a small store, a fold where the
  // models' outcomes tie): its difference is NaN, which made every challenger lose to the first learner
  // tried (100 GSM8K rows kept `sparse` at 0.550 beside stacks reading 0.69). Such folds say nothing.
  const d = a.flatMap((v, k) => (Number.isFinite(v) && Number.isFinite(b[k]) ? [v - b[k]] : []));
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

/** Rows whose set of recorded models is rarer than this share of the scored rows are not scored (unless the most common). */
const MIN_GROUP_SHARE = 0.05;

/**
 * The rows a routing score can judge, grouped by which models they record: a choice is scored only
 * among recorded models (`routedAmongKnown`, training/metrics/summary.ts), and a curve pooled over rows that
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
export function routingScore(P: Float32Array, data: TrainMatrix, costs: Float64Array, estimates: Float64Array | undefined, policy: PolicyKind, only?: readonly number[]): number {
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
    const s = summarize(group.models.map(String), rows, { policy, maxExtraTargets: SELECTION_TARGETS });
    const score = groups.length === 1 && group.models.length === 2 ? (s.twoModel?.apgr ?? NaN) : s.nModel.gainVsZero;
    if (groups.length === 1) return Number.isFinite(score) ? score : -Infinity;
    if (!Number.isFinite(score)) continue; // a group a fold leaves too small to draw a curve on
    sum += score * group.rows.length;
    weight += group.rows.length;
  }
  return weight > 0 ? sum / weight : -Infinity;
}
