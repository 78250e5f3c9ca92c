// One summary of a labelled set's predictions for every caller: `eval`, `retrain` and the benchmarks.

import type { PolicyKind } from '../../src/routing/policy';
import { type Reliability, auc, brier, reliability } from './classifier-metrics';
import { type NModelMetrics, type TwoModelMetrics, nModelMetrics, splitStrongWeak, twoModelMetrics } from './curves';
import { type SweepOptions, oraclePoint, singleModelPoints, sweepAveragePolicy, sweepNearBestPolicy, sweepPolicy } from './sweep';
import { type LabelledPrediction, type ModelPoint, type OraclePoint, type SweepPoint, known } from './types';

export interface PerModelSummary extends ModelPoint {
  auc: number;
  brier: number;
  calibration: Reliability;
}
export interface MetricsSummary {
  models: string[];
  rows: number;
  perModel: PerModelSummary[];
  sweep: SweepPoint[];
  oracle: OraclePoint;
  nModel: NModelMetrics;
  /** Only when exactly two models are compared. */
  twoModel: TwoModelMetrics | null;
  /** Rows recording outcomes of some of the models but not all: each is routed among those it records. */
  partlyKnown: number;
  /** Rows recording outcomes of two models or more: the only ones whose routing can differ between targets. */
  routable: number;
  /** The policy simulated, and what a few targets buy under it: what to set `min_success` to. */
  policy: PolicyKind;
  operatingPoints: OperatingPoint[];
}

export interface OperatingPoint {
  target: number;
  avgCost: number;
  avgQuality: number;
  /** Average policy: the mean predicted success there (below the target when it is out of reach); per-request and near-best: the target. */
  predicted: number;
  share: Record<string, number>;
  /** Rows averaged, and rows left out because the model chosen for them has no outcome there. */
  used: number;
  skipped: number;
}

export const OPERATING_TARGETS: readonly number[] = [0.5, 0.6, 0.7, 0.8, 0.9];
/** Near-best's target is 1 − the predicted success a request may give up: its useful range sits high. */
export const NEAR_BEST_OPERATING_TARGETS: readonly number[] = [0.8, 0.85, 0.9, 0.95, 0.98];

/**
 * The sweep at a few targets: per-request, the point at that target; average, the cheapest point whose
 * mean predicted success reaches it (what the router does), or the last point when none does. Where the
 * classifier is calibrated, the average policy's realised quality sits near its target.
 */
export function operatingPoints(
  sweep: readonly SweepPoint[],
  policy: PolicyKind,
  targets: readonly number[] = policy === 'near-best' ? NEAR_BEST_OPERATING_TARGETS : OPERATING_TARGETS,
): OperatingPoint[] {
  const measured = sweep.filter((p) => p.used > 0);
  if (measured.length === 0) return [];
  return targets.map((t) => {
    const at =
      policy === 'average'
        ? (measured.find((p) => p.target >= t) ?? measured[measured.length - 1])
        : measured.reduce((best, p) => (p.target <= t && p.target > best.target ? p : best), measured[0]);
    return { target: t, avgCost: at.avgCost, avgQuality: at.avgQuality, predicted: at.target, share: at.share, used: at.used, skipped: at.skipped };
  });
}
export interface SummarizeOptions extends SweepOptions {
  bins?: number;
  costSamples?: number;
  /** Default per-request. */
  policy?: PolicyKind;
}

/**
 * The row as the sweeps route it: among the models whose outcome it records. A choice with no outcome
 * cannot be scored, and leaving such rows out of a point keeps only those where the policy happened to
 * pick a recorded model, which is no random sample: a file scoring 2 of a classifier's 21 models would
 * be judged on the prompts the router sent to those 2. So a model with no outcome on the row gets p =
 * NaN, which no policy chooses. Rows that record every model (benchmark files) are unchanged; a row of
 * live feedback, which records only the model that answered, adds the same to every point.
 */
export function routedAmongKnown(row: LabelledPrediction): LabelledPrediction {
  let all = true;
  for (let m = 0; m < row.outcome.length && all; m++) all = known(row.outcome[m]);
  if (all) return row;
  return { ...row, p: Array.from(row.p, (p, m) => (known(row.outcome[m]) ? p : NaN)) };
}

const knownCount = (row: LabelledPrediction): number => {
  let k = 0;
  for (let m = 0; m < row.outcome.length; m++) if (known(row.outcome[m])) k++;
  return k;
};

/**
 * Most rows record different sets of models (a file or store of several kinds, each with its own models),
 * while some can be routed: pooled figures mix the kinds, and only the lines by source mean anything.
 */
export const mixesModelSets = (summary: Pick<MetricsSummary, 'rows' | 'partlyKnown' | 'routable'>): boolean =>
  summary.routable > 0 && summary.partlyKnown > summary.rows / 2;

export function summarize(
  models: readonly string[],
  rows: readonly LabelledPrediction[],
  options: SummarizeOptions = {},
): MetricsSummary {
  const routed = rows.map(routedAmongKnown);
  const counts = rows.map(knownCount);
  const sweep =
    options.policy === 'average'
      ? sweepAveragePolicy(models, routed, options)
      : options.policy === 'near-best'
        ? sweepNearBestPolicy(models, routed, options)
        : sweepPolicy(models, routed, options);
  const singles = singleModelPoints(models, rows);
  const perModel = singles.map((single, m): PerModelSummary => {
    const probs: number[] = [];
    const labels: number[] = [];
    for (const row of rows) {
      const o = row.outcome[m];
      if (known(o) && Number.isFinite(row.p[m])) {
        probs.push(row.p[m]);
        labels.push(o);
      }
    }
    const calibration = reliability(probs, labels, options.bins ?? 10);
    return { ...single, auc: auc(probs, labels), brier: brier(probs, labels), calibration };
  });
  // Targets at which every row was skipped have no average to plot.
  const measured = sweep.filter((p) => p.used > 0);
  let twoModel: TwoModelMetrics | null = null;
  if (models.length === 2) {
    const { weak, strong } = splitStrongWeak(singles);
    const curve = measured.map((p) => ({ ...p, strongShare: p.share[strong.model] }));
    twoModel = twoModelMetrics(weak, strong, curve);
  }
  return {
    models: [...models],
    rows: rows.length,
    perModel,
    sweep,
    oracle: oraclePoint(models, rows),
    nModel: nModelMetrics(singles, measured, options.costSamples ?? 60),
    twoModel,
    partlyKnown: counts.filter((k, r) => k > 0 && k < rows[r].outcome.length).length,
    routable: counts.filter((k) => k >= 2).length,
    policy: options.policy ?? 'per-request',
    operatingPoints: operatingPoints(sweep, options.policy ?? 'per-request'),
  };
}
