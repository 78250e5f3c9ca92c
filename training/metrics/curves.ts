// Reading a sweep's curve: its upper envelope, RouteLLM's two-model PGR/APGR/CPT and RouterBench's gain over the Zero router.

import { InvalidInputError } from '../../src/errors';
import { mean } from '../matrix';
import type { CostQualityPoint, NamedPoint, Vertex } from './types';

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
