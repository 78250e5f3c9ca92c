// Routing quality metrics (classifier quality, RouteLLM's PGR/APGR/CPT, RouterBench's Zero router)
// computed from labelled predictions, so `eval`, `retrain` and the benchmarks print the same numbers.
// Pure functions: no I/O, no clock, no randomness.

import { InvalidInputError } from '../src/errors';
import { type ValueStep, valueSteps, walkValueStates } from '../src/routing/value-policy';
import { type PolicyKind, logPriceShares } from '../src/routing/policy';
import { mean } from './matrix';

export { POLICY_KINDS, type PolicyKind } from '../src/routing/policy';

export { renderQualityCostSvg } from './metrics-svg';

export type NumberVector = ArrayLike<number>;

/** One labelled prompt; every vector is indexed like the `models` list passed alongside. */
export interface LabelledPrediction {
  /** Predicted probability that each model answers well. */
  p: NumberVector;
  /** What sending this prompt to each model costs (any unit, as long as it is the same everywhere). */
  cost: NumberVector;
  /**
   * What the policy sees of those costs when it chooses, in the same unit: the router's own estimate
   * (price × estimated tokens). Default `cost`. Set it when `cost` is what each answer really cost (a
   * row's recorded per-prompt costs): that depends on how long each model's answer turned out, which no
   * router knows before it asks, so choosing by it would flatter the policy.
   */
  estimate?: NumberVector;
  /** True outcome per model in [0,1] (graded allowed); null means unknown for that model. */
  outcome: ArrayLike<number | null>;
}

export interface CostQualityPoint {
  avgCost: number;
  avgQuality: number;
}
export interface NamedPoint extends CostQualityPoint {
  model: string;
}
/** A single model sent every prompt whose outcome for it is known. */
export interface ModelPoint extends NamedPoint {
  used: number;
  skipped: number;
}
/** The policy at one target: averages are over `used` rows; `skipped` rows chose a model with no outcome. */
export interface SweepPoint extends CostQualityPoint {
  /** Per-request policy: the bar each row's choice clears. Average policy: the mean predicted success. */
  target: number;
  /** Average policy only: the price of success at this point (the top of its λ interval; +∞ first). */
  lambda?: number;
  share: Record<string, number>;
  used: number;
  skipped: number;
}
export interface OraclePoint extends CostQualityPoint {
  share: Record<string, number>;
  used: number;
  skipped: number;
}
export interface Vertex {
  x: number;
  y: number;
}

// ---------------------------------------------------------------- per-model classifier metrics

const isPositive = (label: number): boolean => label >= 0.5;
const known = (o: number | null | undefined): o is number => typeof o === 'number' && !Number.isNaN(o);
const avg = (sum: number, n: number): number => (n ? sum / n : NaN);

function checkSameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string): void {
  if (a.length !== b.length) throw new InvalidInputError(`${what}: ${a.length} values but ${b.length} labels`);
}

/** ROC AUC by the rank-sum (Mann-Whitney) formula; tied scores share their average rank. */
export function auc(scores: NumberVector, labels: NumberVector): number {
  checkSameLength(scores, labels, 'auc');
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let nPos = 0;
  let rankSumPos = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (isPositive(labels[order[k]])) {
        nPos++;
        rankSumPos += avgRank;
      }
    }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** Mean squared error between probabilities and (possibly soft) labels. */
export function brier(probs: NumberVector, labels: NumberVector): number {
  checkSameLength(probs, labels, 'brier');
  let sum = 0;
  for (let i = 0; i < probs.length; i++) sum += (probs[i] - labels[i]) ** 2;
  return probs.length === 0 ? NaN : sum / probs.length;
}

export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  /** NaN when the bin is empty. */
  meanPredicted: number;
  meanObserved: number;
}
export interface Reliability {
  bins: ReliabilityBin[];
  /** Expected calibration error: count-weighted mean |meanPredicted − meanObserved|. */
  ece: number;
}

/** Equal-width bins over [0,1]; p = 1 falls in the last bin. */
export function reliability(probs: NumberVector, labels: NumberVector, bins = 10): Reliability {
  checkSameLength(probs, labels, 'reliability');
  const count = new Array<number>(bins).fill(0);
  const sumP = new Array<number>(bins).fill(0);
  const sumY = new Array<number>(bins).fill(0);
  for (let i = 0; i < probs.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(probs[i] * bins)));
    count[b]++;
    sumP[b] += probs[i];
    sumY[b] += labels[i];
  }
  let ece = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const meanPredicted = count[b] ? sumP[b] / count[b] : NaN;
    const meanObserved = count[b] ? sumY[b] / count[b] : NaN;
    if (count[b]) ece += (count[b] / probs.length) * Math.abs(meanPredicted - meanObserved);
    out.push({ lo: b / bins, hi: (b + 1) / bins, count: count[b], meanPredicted, meanObserved });
  }
  return { bins: out, ece: probs.length ? ece : NaN };
}

// ---------------------------------------------------------------- the routing policy and its sweep

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

export interface SweepOptions {
  /** Grid spacing of targets in [0,1]; default 0.01. */
  gridStep?: number;
  /** At most this many distinct predicted probabilities are added as targets; default 2000. */
  maxExtraTargets?: number;
}

/**
 * Targets: the grid 0, step, …, 1 plus the distinct predicted probabilities. A row's choice only
 * changes when the target crosses one of its p values, so the distinct values give the exact curve;
 * beyond `maxExtraTargets` they are thinned to evenly spaced ranks to keep the output small.
 */
export function sweepTargets(rows: readonly LabelledPrediction[], options: SweepOptions = {}): number[] {
  const steps = Math.round(1 / (options.gridStep ?? 0.01));
  const maxExtra = options.maxExtraTargets ?? 2000;
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
  const keep = (options.maxExtraTargets ?? 2000) + 1;
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

// ---------------------------------------------------------------- envelopes

/**
 * Upper concave hull of the points, cut at its highest vertex. Read as a function of x (flat past the
 * last vertex) it is the best y reachable at x' <= x when one may randomise between any two points,
 * which a router can do by flipping a coin between two thresholds.
 */
export function monotoneUpperHull(points: readonly Vertex[]): Vertex[] {
  const sorted = points
    .filter((v) => Number.isFinite(v.x) && Number.isFinite(v.y))
    .sort((a, b) => a.x - b.x || b.y - a.y);
  const hull: Vertex[] = [];
  for (const v of sorted) {
    if (hull.length && hull[hull.length - 1].x === v.x) continue; // lower y at the same x
    while (hull.length >= 2) {
      const o = hull[hull.length - 2];
      const a = hull[hull.length - 1];
      if ((a.x - o.x) * (v.y - o.y) - (a.y - o.y) * (v.x - o.x) < 0) break;
      hull.pop();
    }
    hull.push(v);
  }
  let peak = 0;
  for (let i = 1; i < hull.length; i++) if (hull[i].y > hull[peak].y) peak = i;
  return hull.slice(0, peak + 1);
}

/** The envelope's (or any x-sorted polyline's) y at x: linear between vertices, flat after the last, NaN left of the first. */
export function envelopeAt(hull: readonly Vertex[], x: number): number {
  if (hull.length === 0 || !(x >= hull[0].x)) return NaN;
  for (let i = 0; i + 1 < hull.length; i++) {
    const a = hull[i];
    const b = hull[i + 1];
    if (x <= b.x) return a.y + ((b.y - a.y) * (x - a.x)) / (b.x - a.x);
  }
  return hull[hull.length - 1].y;
}

/** The smallest x at which the envelope (or any x-sorted polyline) reaches y (with a rounding tolerance), or NaN if never. */
export function firstXReaching(hull: readonly Vertex[], y: number): number {
  const goal = y - 1e-12 * Math.max(1, Math.abs(y));
  if (hull.length === 0 || Number.isNaN(y)) return NaN;
  if (hull[0].y >= goal) return hull[0].x;
  for (let i = 0; i + 1 < hull.length; i++) {
    const a = hull[i];
    const b = hull[i + 1];
    if (b.y >= goal) return Math.min(b.x, a.x + ((y - a.y) / (b.y - a.y)) * (b.x - a.x));
  }
  return NaN;
}

// ---------------------------------------------------------------- two models (RouteLLM)

export interface CurvePoint extends CostQualityPoint {
  strongShare: number;
}
export interface TwoModelMetrics {
  weak: NamedPoint;
  strong: NamedPoint;
  /** (strong share, quality) envelope, anchored at (0, weak) and (1, strong). */
  shareEnvelope: Vertex[];
  /** (avg cost, quality) envelope, anchored at both single models. */
  costEnvelope: Vertex[];
  /** PGR at strong share 0, 0.01, …, 1. */
  pgr: number[];
  apgr: number;
  /** Strong share (0..1) needed to recover 50% / 80% of the quality gap. */
  cpt50: number;
  cpt80: number;
  /** 1 − cost/cost(all strong) at the cheapest envelope point reaching 95% of strong quality. */
  costSaving95: number;
  /**
   * APGR and CPT(50%) read on the points the sweep reached, joined by straight lines from (0, weak) to
   * (1, strong), dips included: no two points mixed. That is how RouteLLM reads its curves (and its
   * published figures); the envelope above lets a router mix two of its points, sending a share of
   * requests by each threshold, as RouterBench's hull does, which reads higher on the same predictions.
   */
  reached: { apgr: number; cpt50: number };
}

/** Strong = the dearer model by average cost; the other is weak. */
export function splitStrongWeak<T extends NamedPoint>(singles: readonly T[]): { weak: T; strong: T } {
  if (singles.length !== 2) throw new InvalidInputError(`two-model metrics need 2 models, got ${singles.length}`);
  const [a, b] = singles;
  return b.avgCost >= a.avgCost ? { weak: a, strong: b } : { weak: b, strong: a };
}

export function twoModelMetrics(weak: NamedPoint, strong: NamedPoint, points: readonly CurvePoint[]): TwoModelMetrics {
  const shareEnvelope = monotoneUpperHull([
    { x: 0, y: weak.avgQuality },
    { x: 1, y: strong.avgQuality },
    ...points.map((p) => ({ x: p.strongShare, y: p.avgQuality })),
  ]);
  const costEnvelope = monotoneUpperHull([
    { x: weak.avgCost, y: weak.avgQuality },
    { x: strong.avgCost, y: strong.avgQuality },
    ...points.map((p) => ({ x: p.avgCost, y: p.avgQuality })),
  ]);
  const gap = strong.avgQuality - weak.avgQuality;
  const degenerate = !(Math.abs(gap) > 1e-12);
  const pgr = Array.from({ length: 101 }, (_, i) =>
    degenerate ? NaN : (envelopeAt(shareEnvelope, i / 100) - weak.avgQuality) / gap,
  );
  const cpt = (x: number): number => (degenerate ? NaN : firstXReaching(shareEnvelope, weak.avgQuality + x * gap));
  const c95 = firstXReaching(costEnvelope, 0.95 * strong.avgQuality);
  const reached = reachedCurve(weak.avgQuality, strong.avgQuality, points);
  return {
    reached: {
      apgr: degenerate ? NaN : mean(Array.from({ length: 101 }, (_, i) => (envelopeAt(reached, i / 100) - weak.avgQuality) / gap)),
      cpt50: degenerate ? NaN : firstXReaching(reached, weak.avgQuality + 0.5 * gap),
    },
    weak: { model: weak.model, avgCost: weak.avgCost, avgQuality: weak.avgQuality },
    strong: { model: strong.model, avgCost: strong.avgCost, avgQuality: strong.avgQuality },
    shareEnvelope,
    costEnvelope,
    pgr,
    apgr: degenerate ? NaN : mean(pgr),
    cpt50: cpt(0.5),
    cpt80: cpt(0.8),
    costSaving95: strong.avgCost > 0 ? 1 - c95 / strong.avgCost : NaN,
  };
}

/** (strong share, quality) of the reached points and both single models, by share; the best of equal shares. */
function reachedCurve(weakQuality: number, strongQuality: number, points: readonly CurvePoint[]): Vertex[] {
  const all = [{ x: 0, y: weakQuality }, { x: 1, y: strongQuality }, ...points.map((p) => ({ x: p.strongShare, y: p.avgQuality }))]
    .filter((v) => Number.isFinite(v.x) && Number.isFinite(v.y))
    .sort((a, b) => a.x - b.x || b.y - a.y);
  return all.filter((v, k) => k === 0 || v.x !== all[k - 1].x);
}

// ---------------------------------------------------------------- N models (RouterBench)

export interface NModelMetrics {
  bestModel: string;
  /** Upper hull of the single models: RouterBench's Zero router. */
  zeroHull: Vertex[];
  /** Upper hull of the router's sweep points (randomising between thresholds is allowed). */
  routerHull: Vertex[];
  costGrid: number[];
  gainVsZero: number;
  costSaving95OfBest: number;
}

/** n costs from lo to hi, log-spaced; linear when lo <= 0 (a free local model has no logarithm). */
export function costGrid(lo: number, hi: number, n = 60): number[] {
  if (n === 1 || lo === hi) return new Array<number>(n).fill(lo);
  const logScale = lo > 0;
  return Array.from({ length: n }, (_, i) => {
    if (i === 0) return lo;
    if (i === n - 1) return hi;
    const f = i / (n - 1);
    return logScale ? lo * (hi / lo) ** f : lo + (hi - lo) * f;
  });
}

/**
 * Gain vs Zero: mean of router(c) − zero(c) over the cost grid, where router(c) is the router hull
 * at c, or — left of the router's cheapest point — the cheapest single model's quality, since
 * sending everything to that model is the only way to spend that little without the router.
 */
export function nModelMetrics(
  singles: readonly NamedPoint[],
  routerPoints: readonly CostQualityPoint[],
  costSamples = 60,
): NModelMetrics {
  const usable = singles.filter((s) => Number.isFinite(s.avgCost) && Number.isFinite(s.avgQuality));
  const toVertex = (p: CostQualityPoint): Vertex => ({ x: p.avgCost, y: p.avgQuality });
  const zeroHull = monotoneUpperHull(usable.map(toVertex));
  const routerHull = monotoneUpperHull(routerPoints.map(toVertex));
  if (usable.length === 0) {
    return { bestModel: '', zeroHull, routerHull, costGrid: [], gainVsZero: NaN, costSaving95OfBest: NaN };
  }
  const byCost = [...usable].sort((a, b) => a.avgCost - b.avgCost || b.avgQuality - a.avgQuality);
  const cheapest = byCost[0];
  const best = [...usable].sort((a, b) => b.avgQuality - a.avgQuality || a.avgCost - b.avgCost)[0];
  const grid = costGrid(cheapest.avgCost, byCost[byCost.length - 1].avgCost, costSamples);
  const routerAt = (c: number): number =>
    routerHull.length && c >= routerHull[0].x ? envelopeAt(routerHull, c) : cheapest.avgQuality;
  const gain = routerHull.length
    ? grid.reduce((sum, c) => sum + routerAt(c) - envelopeAt(zeroHull, c), 0) / grid.length
    : NaN;
  const c95 = firstXReaching(routerHull, 0.95 * best.avgQuality);
  return {
    bestModel: best.model,
    zeroHull,
    routerHull,
    costGrid: grid,
    gainVsZero: gain,
    costSaving95OfBest: best.avgCost > 0 ? 1 - c95 / best.avgCost : NaN,
  };
}

// ---------------------------------------------------------------- one summary for every caller

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

const num = (v: number, digits = 3): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const money = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(4))) : 'n/a');
const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : 'n/a');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

/**
 * The reliability table: per bin of predicted p, each model's mean prediction → observed success rate and
 * its rows ("·" for an empty bin). A calibrated model reads the same on both sides of the arrow.
 */
export function formatReliability(perModel: readonly Pick<PerModelSummary, 'model' | 'calibration'>[]): string {
  const bins = perModel[0]?.calibration.bins ?? [];
  const cell = (b: ReliabilityBin): string => (b.count ? `${b.meanPredicted.toFixed(2)} → ${b.meanObserved.toFixed(2)} (${b.count})` : '·');
  return [
    'reliability (mean predicted → observed success (rows), per bin of predicted p):',
    table([
      ['p', ...perModel.map((m) => m.model)],
      ...bins.map((b, k) => [`${b.lo.toFixed(1)}–${b.hi.toFixed(1)}`, ...perModel.map((m) => cell(m.calibration.bins[k]))]),
    ]),
  ].join('\n');
}

/** Plain text, so a terminal, a log and a CI artefact all show the same table. */
export function formatMetricsTable(summary: MetricsSummary): string {
  const head = ['model', 'avg cost', 'quality', 'AUC', 'Brier', 'ECE', 'rows', 'skipped'];
  const body = summary.perModel.map((m) => [
    m.model,
    money(m.avgCost),
    num(m.avgQuality),
    num(m.auc),
    num(m.brier),
    num(m.calibration.ece),
    String(m.used),
    String(m.skipped),
  ]);
  const o = summary.oracle;
  body.push(['(oracle)', money(o.avgCost), num(o.avgQuality), '', '', '', String(o.used), String(o.skipped)]);
  const n = summary.nModel;
  const lines = [
    `Routing metrics: ${summary.rows} rows, ${summary.models.length} models`,
    table([head, ...body]),
    `Router vs Zero router: gain ${num(n.gainVsZero, 4)} (mean quality over ${n.costGrid.length} costs); ` +
      `cost saving at 95% of best (${n.bestModel || 'n/a'}) ${pct(n.costSaving95OfBest)}`,
  ];
  const t = summary.twoModel;
  if (t) {
    lines.push(
      `Two models (weak ${t.weak.model}, strong ${t.strong.model}): APGR ${num(t.apgr)}, ` +
        `CPT(50%) ${pct(t.cpt50)}, CPT(80%) ${pct(t.cpt80)}, cost saving at 95% of strong ${pct(t.costSaving95)}`,
      `  on the reached points alone, no two mixed (as RouteLLM reads its curves): APGR ${num(t.reached.apgr)}, CPT(50%) ${pct(t.reached.cpt50)}`,
    );
    // PGR divides by strong − weak quality: with the dearer model no better, its figures mean nothing.
    if (!(t.strong.avgQuality > t.weak.avgQuality)) {
      lines.push(`  warning: the dearer model (${t.strong.model}) is no better than ${t.weak.model} on these rows, so PGR, APGR and CPT mean nothing here; read the cost and quality columns`);
    }
  }
  lines.push(formatReliability(summary.perModel));
  if (summary.operatingPoints.length > 0) {
    const dearest = summary.perModel.reduce((a, b) => (b.avgCost > a.avgCost ? b : a)).model;
    lines.push(`${summary.policy} policy at a few targets (min_success):`);
    // Average policy: the mean predicted success at the point taken (below the target when out of reach).
    const predicted = summary.policy === 'average';
    lines.push(
      table([
        ['target', ...(predicted ? ['predicted'] : []), 'avg cost', 'quality', `share ${dearest}`, 'rows', 'skipped'],
        ...summary.operatingPoints.map((o) => [
          num(o.target, 2),
          ...(predicted ? [num(o.predicted)] : []),
          money(o.avgCost),
          num(o.avgQuality),
          pct(o.share[dearest]),
          String(o.used),
          String(o.skipped),
        ]),
      ]),
    );
    const worst = summary.operatingPoints.reduce((a, b) => (b.skipped > a.skipped ? b : a));
    if (worst.skipped > 0) {
      lines.push(`note: ${worst.skipped} of ${worst.used + worst.skipped} rows record no outcome of these models and are left out`);
    }
  }
  if (summary.partlyKnown > 0) {
    // Live feedback records one outcome per row (the model that answered); a file may record a few models.
    lines.push(
      `note: ${summary.partlyKnown} of ${summary.rows} rows record outcomes of only some of these models; each is routed among ` +
        'the ones it records (a row from live feedback, which records only the model that answered, adds the same to every point)',
    );
    if (summary.routable === 0) {
      // Live feedback alone: each row has one possible choice, so every target gives the same point.
      lines.push('note: no row records outcomes of two of these models, so every target routes alike and the routing figures say nothing (AUC and Brier still do)');
    } else if (mixesModelSets(summary)) {
      lines.push('note: most rows record different sets of models, so the pooled figures mix them: read them by source');
    }
  }
  return lines.join('\n');
}
