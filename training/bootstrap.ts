// How far the headline routing metrics would move on another set of the same size: a percentile
// bootstrap over rows. A labelled set of 900 rows measures APGR to about ±0.06 (95%), so a router that
// scores 0.645 on it and one that scores 0.655 are not told apart by it; `eval` and the benchmark print the
// interval beside the figure so that nobody reads a difference the data cannot show. It is the noise of the
// rows scored, not of the training: the predictions are held fixed.
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
 * Percentile intervals of each headline metric over `resamples` bootstrap resamples of the n rows, each
 * scored by `score` (given the resample's row indices, repeats included). A metric undefined on most
 * resamples (fewer than half) gets null: its interval would describe a few lucky draws.
 */
export function bootstrapIntervals(n: number, score: (rows: number[]) => Headline, options: BootstrapOptions): Record<string, Interval | null> {
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
  for (const key of keys) {
    const list = (values.get(key) ?? []).sort((a, b) => a - b);
    out[key] = list.length * 2 < options.resamples
      ? null
      : { lo: quantileSorted(list, (1 - level) / 2), hi: quantileSorted(list, 1 - (1 - level) / 2), defined: list.length };
  }
  return out;
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
    const num = (v: number): string => (key === 'gainVsZero' ? `${v < 0 ? '−' : '+'}${Math.abs(v).toFixed(3)}` : v.toFixed(3));
    parts.push(PERCENT_METRICS.has(key) ? `${label} ${(iv.lo * 100).toFixed(1)}% to ${(iv.hi * 100).toFixed(1)}%` : `${label} ${num(iv.lo)} to ${num(iv.hi)}`);
  }
  return parts.join('; ');
}

/** The line `eval`, `retrain` and the benchmark print under their metrics. */
export function intervalLine(intervals: Record<string, Interval | null>, resamples: number, rows: number, order?: readonly string[]): string {
  const text = formatIntervals(intervals, order);
  return `95% interval (${resamples} bootstrap resamples of these ${rows} rows: the noise of a set this size, predictions held fixed): ${text === '' ? 'n/a' : text}`;
}
