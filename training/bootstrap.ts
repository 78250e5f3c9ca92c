// How far the headline routing metrics would move on another set of the same size: a bootstrap over rows.
// A labelled set of 900 rows measures APGR to about ±0.06 (95%), so a router that scores 0.645 on it and
// one that scores 0.655 are not told apart by it; `eval` and the benchmark print the interval beside the
// figure so that nobody reads a difference the data cannot show. It is the noise of the rows scored, not of
// the training: the predictions are held fixed.
//
// The interval is bias-corrected (Efron's BC): the curve metrics read an upper envelope, and a resample's
// repeated rows make its envelope higher than the set's (on GSM8K the resamples' APGR sits 0.007 above the
// set's on average; 42% of them fall below it), so plain percentiles would put the interval above the
// figure rather than around it.
import { seededRandom } from './matrix';

/** Headline metric name → value on one set of rows (null when it is not defined there). */
export type Headline = Record<string, number | null>;

export interface Interval {
  lo: number;
  hi: number;
  /** Resamples on which the metric was defined (the interval is over these). */
  defined: number;
}

export interface BootstrapOptions {
  /**
   * Resamples, at least 20. With 200, GSM8K's APGR interval ends land on average 0.005 (at most 0.012, over
   * ten seeds) from where 5,000 resamples put them: enough to read the interval's width, not its third digit.
   */
  resamples: number;
  seed: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
}

/** Resamples `eval` and `retrain` draw unless told otherwise, on sets up to DEFAULT_INTERVAL_CELLS. */
export const DEFAULT_RESAMPLES = 200;
/**
 * Rows × models up to which an interval is drawn by default. Each resample re-scores the whole set (about
 * 10 ms for 2,000 rows of two models, 0.2–0.6 s for 20,000), so a large set would spend minutes on it,
 * and a large set's interval is narrow anyway; asked for, it is drawn at any size.
 */
export const DEFAULT_INTERVAL_CELLS = 50_000;

/** A resample count `--interval` accepts: 0 (no interval), or 20 to 100,000. */
export const isResampleCount = (n: number): boolean => Number.isInteger(n) && (n === 0 || (n >= 20 && n <= 100_000));

/** What `--interval` says when given something else. */
export const resampleCountError = (value: string): string =>
  `--interval must be 0 (no interval) or a whole number of bootstrap resamples from 20 to 100000, got "${value}"`;

/** The default resamples for a set of `rows` × `models`: DEFAULT_RESAMPLES, or 0 past DEFAULT_INTERVAL_CELLS. */
export const defaultResamples = (rows: number, models: number): number => (rows * models <= DEFAULT_INTERVAL_CELLS ? DEFAULT_RESAMPLES : 0);

/** The line printed instead of the interval when a set is too large for one by default. */
export const skippedIntervalLine = (rows: number, models: number, how: string): string =>
  `95% interval: not drawn by default for ${rows} rows × ${models} models (each of ${DEFAULT_RESAMPLES} resamples re-scores the whole set); ${how}`;

/** The rows of one resample: n draws with replacement from 0..n−1. */
export function resampleRows(n: number, random: () => number): number[] {
  const idx = new Array<number>(n);
  for (let i = 0; i < n; i++) idx[i] = Math.floor(random() * n);
  return idx;
}

/** The q-quantile of sorted values, linear between order statistics. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/**
 * Bias-corrected percentile intervals of each headline metric over `resamples` bootstrap resamples of the
 * n rows, each scored by `score` (given the resample's row indices, repeats included); `estimate` is the
 * figures of the n rows themselves, which the correction centres on. A metric undefined on the set or on
 * most resamples (fewer than half) gets null: its interval would describe a few lucky draws.
 */
export function bootstrapIntervals(
  n: number,
  estimate: Headline,
  score: (rows: number[]) => Headline,
  options: BootstrapOptions,
): Record<string, Interval | null> {
  if (!(Number.isInteger(options.resamples) && options.resamples >= 20)) throw new Error(`resamples must be a whole number ≥ 20, got ${options.resamples}`);
  const level = options.level ?? 0.95;
  if (!(level > 0 && level < 1)) throw new Error(`level must be between 0 and 1, got ${level}`);
  if (n === 0) return {};
  const random = seededRandom(options.seed);
  const values = new Map<string, number[]>();
  const keys = new Set<string>();
  for (let b = 0; b < options.resamples; b++) {
    for (const [key, v] of Object.entries(score(resampleRows(n, random)))) {
      keys.add(key);
      if (v === null || !Number.isFinite(v)) continue;
      const list = values.get(key);
      if (list) list.push(v);
      else values.set(key, [v]);
    }
  }
  const out: Record<string, Interval | null> = {};
  const z = inverseNormalCdf(1 - (1 - level) / 2);
  for (const key of keys) {
    const list = (values.get(key) ?? []).sort((a, b) => a - b);
    const at = estimate[key];
    if (list.length * 2 < options.resamples || at === null || at === undefined || !Number.isFinite(at)) {
      out[key] = null;
      continue;
    }
    // Bias correction: z0 is where the set's own figure falls among the resamples' (0 when in the middle).
    let below = 0;
    for (const v of list) below += v < at ? 1 : v === at ? 0.5 : 0;
    const share = Math.min(Math.max(below / list.length, 0.5 / list.length), 1 - 0.5 / list.length);
    const z0 = inverseNormalCdf(share);
    out[key] = { lo: quantileSorted(list, normalCdf(2 * z0 - z)), hi: quantileSorted(list, normalCdf(2 * z0 + z)), defined: list.length };
  }
  return out;
}

/** Standard normal CDF (Abramowitz and Stegun 26.2.17; absolute error below 7.5e-8). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + 0.2316419 * Math.abs(x));
  const poly = t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  const tail = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI) * poly;
  return x >= 0 ? 1 - tail : tail;
}

/** Inverse of the standard normal CDF, p in (0, 1) (Acklam's rational approximation; relative error below 1.2e-9). */
export function inverseNormalCdf(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`inverseNormalCdf needs p in (0, 1), got ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tailPoly = (q: number): number =>
    (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tailPoly(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tailPoly(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

const PERCENT_METRICS = new Set(['cpt50', 'cpt80', 'costSaving95', 'costSaving95OfBest']);
const METRIC_LABELS: Record<string, string> = {
  apgr: 'APGR', cpt50: 'CPT(50%)', cpt80: 'CPT(80%)', costSaving95: 'cost saving at 95% of strong',
  gainVsZero: 'gain vs Zero', costSaving95OfBest: 'cost saving at 95% of best',
};

/** "APGR 0.613 to 0.723; CPT(50%) 24.5% to 35.8%; …" over the metrics in `order` that have an interval. */
export function formatIntervals(intervals: Record<string, Interval | null>, order: readonly string[] = Object.keys(METRIC_LABELS)): string {
  const parts: string[] = [];
  for (const key of order) {
    const iv = intervals[key];
    if (!iv) continue;
    const label = METRIC_LABELS[key] ?? key;
    // Gain over Zero reads as a difference, so it carries its sign.
    const num = (v: number): string => (key === 'gainVsZero' && v >= 0 ? `+${v.toFixed(3)}` : v.toFixed(3));
    parts.push(PERCENT_METRICS.has(key) ? `${label} ${(iv.lo * 100).toFixed(1)}% to ${(iv.hi * 100).toFixed(1)}%` : `${label} ${num(iv.lo)} to ${num(iv.hi)}`);
  }
  return parts.join('; ');
}

/** The line `eval`, `retrain` and the benchmark print under their metrics. */
export function intervalLine(intervals: Record<string, Interval | null>, resamples: number, rows: number, order?: readonly string[]): string {
  const text = formatIntervals(intervals, order);
  return `95% interval (${resamples} bootstrap resamples of these ${rows} rows: the noise of a set this size, predictions held fixed): ${text === '' ? 'n/a' : text}`;
}
