// The routing policies simulated over a labelled set at every target, the single models and the oracle.

import { InvalidInputError } from '../../src/errors';
import { logPriceShares } from '../../src/routing/policy';
import { type ValueStep, valueSteps, walkValueStates } from '../../src/routing/value-policy';
import { type LabelledPrediction, type ModelPoint, type NumberVector, type OraclePoint, type SweepPoint, avg, known } from './types';

// NaN predictions never make a model eligible and never win "highest p".
const pOf = (p: NumberVector, m: number): number => (Number.isNaN(p[m]) ? -Infinity : p[m]);

/**
 * Switchyard's policy for one row: the cheapest model with p >= target (cost ties: higher p, then
 * lower index); if none qualifies, the model with the highest p (ties: cheaper, then lower index).
 */
export function choosePolicy(p: NumberVector, cost: NumberVector, target: number): number {
  let best = -1;
  for (let m = 0; m < p.length; m++) {
    if (pOf(p, m) < target) continue;
    if (best < 0 || cost[m] < cost[best] || (cost[m] === cost[best] && pOf(p, m) > pOf(p, best))) best = m;
  }
  if (best >= 0) return best;
  best = 0;
  for (let m = 1; m < p.length; m++) {
    if (pOf(p, m) > pOf(p, best) || (pOf(p, m) === pOf(p, best) && cost[m] < cost[best])) best = m;
  }
  return best;
}

/**
 * Distinct predicted probabilities a reported curve takes as targets (default): every one on the public
 * sets (RouterBench's 2,225 rows × 11 models hold 18,102), so the figures printed are the exact curve's.
 * Thinning can only lower an envelope: at 2,000 it read RouterBench's gain 0.0001 low. Beyond this many
 * (a file of hundreds of thousands of rows) the curve would cost more memory than it tells.
 */
export const REPORTED_TARGETS = 50_000;

/**
 * What learner selection scores each candidate on, thousands of times per retrain: the thinning is as
 * good as exact for comparing learners, and the classifiers trained stay what they were measured as.
 */
export const SELECTION_TARGETS = 2_000;

export interface SweepOptions {
  /** Grid spacing of targets in [0,1]; default 0.01. */
  gridStep?: number;
  /** At most this many distinct predicted probabilities are added as targets; default REPORTED_TARGETS. */
  maxExtraTargets?: number;
}

/**
 * Targets: the grid 0, step, …, 1 plus the distinct predicted probabilities. A row's choice only
 * changes when the target crosses one of its p values, so the distinct values give the exact curve;
 * beyond `maxExtraTargets` they are thinned to evenly spaced ranks to keep the output small.
 */
export function sweepTargets(rows: readonly LabelledPrediction[], options: SweepOptions = {}): number[] {
  const steps = Math.round(1 / (options.gridStep ?? 0.01));
  const maxExtra = options.maxExtraTargets ?? REPORTED_TARGETS;
  const all: number[] = [];
  for (const row of rows) for (let m = 0; m < row.p.length; m++) if (Number.isFinite(row.p[m])) all.push(row.p[m]);
  const distinct = uniqueSorted(all);
  const extra =
    distinct.length <= maxExtra
      ? distinct
      : Array.from({ length: maxExtra }, (_, i) => distinct[Math.round((i * (distinct.length - 1)) / (maxExtra - 1))]);
  return uniqueSorted([...Array.from({ length: steps + 1 }, (_, k) => k / steps), ...extra]);
}

function uniqueSorted(values: number[]): number[] {
  const sorted = Float64Array.from(values).sort();
  const out: number[] = [];
  for (const v of sorted) if (out.length === 0 || v !== out[out.length - 1]) out.push(v);
  return out;
}

/** Number of sorted targets <= x. */
function upperBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkModels(models: readonly string[]): void {
  if (models.length === 0) throw new InvalidInputError('a sweep needs at least one model');
  // Shares are keyed by name, so two models with one name would silently merge.
  if (new Set(models).size !== models.length) throw new InvalidInputError('model names must be unique');
}

function checkRow(row: LabelledPrediction, models: number, index: number): void {
  if (row.p.length !== models || row.cost.length !== models || row.outcome.length !== models || (row.estimate && row.estimate.length !== models)) {
    throw new InvalidInputError(`row ${index}: expected ${models} values per vector (one per model)`);
  }
}

/**
 * Simulates the policy at every target in O(rows·models·log targets + targets·models): each row's
 * choice is a step function of the target with at most `models` steps, so each step adds its
 * cost/quality to a difference array over target indices instead of re-running the policy.
 */
export function sweepPolicy(
  models: readonly string[],
  rows: readonly LabelledPrediction[],
  options: SweepOptions & { targets?: readonly number[] } = {},
): SweepPoint[] {
  checkModels(models);
  const targets = options.targets ? [...options.targets].sort((a, b) => a - b) : sweepTargets(rows, options);
  const M = models.length;
  const K = targets.length;
  const used = new Float64Array(K + 1);
  const skipped = new Float64Array(K + 1);
  const costSum = new Float64Array(K + 1);
  const qualSum = new Float64Array(K + 1);
  const chosen = new Float64Array(M * (K + 1));
  const order = new Array<number>(M);

  rows.forEach((row, r) => {
    checkRow(row, M, r);
    const add = (from: number, to: number, m: number): void => {
      if (from >= to) return;
      const o = row.outcome[m];
      if (!known(o)) {
        skipped[from]++;
        skipped[to]--;
        return;
      }
      used[from]++;
      used[to]--;
      costSum[from] += row.cost[m];
      costSum[to] -= row.cost[m];
      qualSum[from] += o;
      qualSum[to] -= o;
      chosen[m * (K + 1) + from]++;
      chosen[m * (K + 1) + to]--;
    };
    for (let m = 0; m < M; m++) order[m] = m;
    order.sort((a, b) => pOf(row.p, b) - pOf(row.p, a) || a - b);
    // Group equal p values; groupChoice[g] = cheapest among groups 0..g, i.e. the pick for targets
    // in (p of group g+1, p of group g]. Targets above the highest p fall back to group 0's pick.
    const groupP: number[] = [];
    const groupChoice: number[] = [];
    const seen = row.estimate ?? row.cost;
    let best = -1;
    for (let i = 0; i < M; i++) {
      const m = order[i];
      if (best < 0 || seen[m] < seen[best]) best = m;
      const pm = pOf(row.p, m);
      if (groupP.length && groupP[groupP.length - 1] === pm) groupChoice[groupChoice.length - 1] = best;
      else {
        groupP.push(pm);
        groupChoice.push(best);
      }
    }
    const G = groupP.length;
    let runStart = 0;
    let runChoice = groupChoice[G - 1];
    for (let g = G - 2; g >= 0; g--) {
      if (groupChoice[g] === runChoice) continue;
      const start = upperBound(targets, groupP[g + 1]);
      add(runStart, start, runChoice);
      runStart = start;
      runChoice = groupChoice[g];
    }
    add(runStart, K, runChoice);
  });

  const points: SweepPoint[] = [];
  // Running prefix sums turn the difference arrays back into per-target totals.
  let u = 0;
  let s = 0;
  let c = 0;
  let q = 0;
  const counts = new Float64Array(M);
  for (let k = 0; k < K; k++) {
    u += used[k];
    s += skipped[k];
    c += costSum[k];
    q += qualSum[k];
    const share: Record<string, number> = {};
    for (let m = 0; m < M; m++) {
      counts[m] += chosen[m * (K + 1) + k];
      share[models[m]] = u ? counts[m] / u : NaN;
    }
    points.push({ target: targets[k], avgCost: avg(c, u), avgQuality: avg(q, u), share, used: u, skipped: s });
  }
  return points;
}

/**
 * The near-best policy (src/routing/policy.ts `chooseNearBest`) at every target. At target t a row goes to
 * the best p − (1 − t)·s (s: the model's log price share), so as t rises from 0 to 1 it walks the same
 * upper envelope the average policy walks as λ falls, over s instead of cost, with λ = 1 − t: the model
 * at step k is chosen for t in [1 − λ_k, 1 − λ_(k+1)] (ties to the cheaper). That is exactly the
 * per-request policy over a view in which each step's model has p = 1 − λ_(k+1) (the last one 1) and the
 * models off the envelope can never qualify, so the per-request sweep does the rest. Targets outside
 * [0,1], which no request can set, are dropped.
 */
export function sweepNearBestPolicy(
  models: readonly string[],
  rows: readonly LabelledPrediction[],
  options: SweepOptions & { targets?: readonly number[] } = {},
): SweepPoint[] {
  // A row with the wrong number of values still makes a view of the same shape, which sweepPolicy refuses.
  const views = rows.map(nearBestView);
  const targets = (options.targets ?? sweepTargets(views, options)).filter((t) => t >= 0 && t <= 1);
  return sweepPolicy(models, views, { ...options, targets });
}

/** Below any target: a model the near-best policy never chooses for this row. */
const NEVER = -1;

function nearBestView(row: LabelledPrediction): LabelledPrediction {
  // Price shares span the models this row may go to (finite p), as the router's span its candidates.
  const seen = row.estimate ?? row.cost;
  const open = Array.from(row.p, (_, m) => m).filter((m) => Number.isFinite(row.p[m]));
  const shares = new Array<number>(row.p.length).fill(0);
  const spread = logPriceShares(open.map((m) => seen[m]));
  open.forEach((m, i) => (shares[m] = spread[i]));
  const steps = valueSteps(row.p, shares);
  const p = new Array<number>(row.p.length).fill(NEVER);
  steps.forEach((step, k) => (p[step.model] = k + 1 < steps.length ? 1 - steps[k + 1].lambda : 1));
  return { ...row, p };
}

/**
 * The average policy (src/routing/value-policy.ts) at every target: each row goes to argmax p − λ·cost,
 * and a target picks the largest λ whose mean predicted success over these rows reaches it. So the
 * curve is exactly the sequence of states λ passes through from +∞ to 0, each at the target equal to
 * its mean predicted success; only predictions choose, outcomes are only averaged. Beyond
 * `maxExtraTargets` states, evenly spaced ones are kept (always the first and the last).
 */
export function sweepAveragePolicy(models: readonly string[], rows: readonly LabelledPrediction[], options: SweepOptions = {}): SweepPoint[] {
  checkModels(models);
  const M = models.length;
  const steps: ValueStep[][] = rows.map((row, r) => {
    checkRow(row, M, r);
    return valueSteps(row.p, row.estimate ?? row.cost);
  });
  const counts = new Float64Array(M);
  let used = 0, skipped = 0, cost = 0, quality = 0, expected = 0;
  const move = (r: number, m: number, sign: 1 | -1): void => {
    const row = rows[r];
    expected += sign * (Number.isFinite(row.p[m]) ? row.p[m] : 0);
    const o = row.outcome[m];
    if (!known(o)) {
      skipped += sign;
      return;
    }
    used += sign;
    cost += sign * row.cost[m];
    quality += sign * o;
    counts[m] += sign;
  };
  const snapshot = (lambda: number): SweepPoint => {
    const share: Record<string, number> = {};
    models.forEach((name, m) => (share[name] = used ? counts[m] / used : NaN));
    return { target: rows.length ? expected / rows.length : NaN, lambda, avgCost: avg(cost, used), avgQuality: avg(quality, used), share, used, skipped };
  };
  const points: SweepPoint[] = [];
  walkValueStates(
    steps,
    (r, m) => move(r, m, 1),
    (r, from, to) => {
      move(r, from, -1);
      move(r, to, 1);
    },
    (lambda) => points.push(snapshot(lambda)),
  );
  const keep = (options.maxExtraTargets ?? REPORTED_TARGETS) + 1;
  if (points.length <= keep) return points;
  return Array.from({ length: keep }, (_, i) => points[Math.round((i * (points.length - 1)) / (keep - 1))]);
}

/** Each model on its own, over the rows where its outcome is known. */
export function singleModelPoints(models: readonly string[], rows: readonly LabelledPrediction[]): ModelPoint[] {
  return models.map((model, m) => {
    let used = 0, cost = 0, quality = 0;
    rows.forEach((row, r) => {
      checkRow(row, models.length, r);
      const o = row.outcome[m];
      if (!known(o)) return;
      used++;
      cost += row.cost[m];
      quality += o;
    });
    return { model, avgCost: avg(cost, used), avgQuality: avg(quality, used), used, skipped: rows.length - used };
  });
}

/**
 * Per row, the model with the highest known outcome, cheapest among ties. With 0/1 outcomes this is
 * "the cheapest correct model, else the cheapest model". Rows with no known outcome are skipped, so
 * its population can differ from a single model's (which skips rows where that model is unknown).
 */
export function oraclePoint(models: readonly string[], rows: readonly LabelledPrediction[]): OraclePoint {
  const counts = new Array<number>(models.length).fill(0);
  let used = 0, cost = 0, quality = 0;
  rows.forEach((row, r) => {
    checkRow(row, models.length, r);
    let best = -1;
    for (let m = 0; m < models.length; m++) {
      const o = row.outcome[m];
      if (!known(o)) continue;
      const b = best < 0 ? null : (row.outcome[best] as number);
      if (b === null || o > b || (o === b && row.cost[m] < row.cost[best])) best = m;
    }
    if (best < 0) return;
    used++;
    counts[best]++;
    cost += row.cost[best];
    quality += row.outcome[best] as number;
  });
  const share = Object.fromEntries(models.map((model, m) => [model, used ? counts[m] / used : NaN]));
  return { avgCost: avg(cost, used), avgQuality: avg(quality, used), share, used, skipped: rows.length - used };
}
