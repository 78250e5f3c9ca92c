// Does the average policy's target hold when live prompts are not like the training prompts? The router
// sets λ on the classifier's reference prompts until it has seen enough traffic, then on the traffic
// (src/routing/router.ts). This replays both on labelled rows: λ from a reference sample, and λ from
// one half of a shifted stream ("the window"), each measured on the stream's other half.
import { type ValueCurve, lambdaForTarget, valueCurve, valueSteps } from '../src/routing/value-policy';
import type { LabelledPrediction } from './metrics';

export interface Realised {
  /** The price of success used (Infinity: every row to its cheapest model). */
  lambda: number;
  /** Mean predicted success of the chosen models over the measured rows. */
  predicted: number;
  /** Mean outcome of the chosen models, over rows where it is known. */
  realised: number;
  avgCost: number;
  /** Rows whose chosen model has a known outcome. */
  rows: number;
}

export interface ShiftOutcome {
  target: number;
  reference: Realised;
  traffic: Realised;
}

function curveOf(rows: readonly LabelledPrediction[]): ValueCurve {
  const m = rows[0]?.p.length ?? 0;
  const P = new Float64Array(rows.length * m);
  const C = new Float64Array(rows.length * m);
  rows.forEach((r, i) => {
    for (let j = 0; j < m; j++) {
      P[i * m + j] = r.p[j];
      C[i * m + j] = (r.estimate ?? r.cost)[j];
    }
  });
  return valueCurve(P, C, rows.length, m);
}

/** Each row to its best p − λ·cost by the policy's view of costs (the router's choice at this λ), averaged at the real cost. */
export function routeAtLambda(rows: readonly LabelledPrediction[], lambda: number): Realised {
  let predicted = 0;
  let realised = 0;
  let cost = 0;
  let known = 0;
  for (const row of rows) {
    const steps = valueSteps(row.p, row.estimate ?? row.cost);
    let model = steps[0].model;
    for (let k = 1; k < steps.length && lambda < steps[k].lambda; k++) model = steps[k].model;
    predicted += Number.isFinite(row.p[model]) ? row.p[model] : 0;
    cost += row.cost[model];
    const o = row.outcome[model];
    if (o !== null && o !== undefined) {
      realised += o;
      known++;
    }
  }
  const n = rows.length;
  return { lambda, predicted: n ? predicted / n : NaN, realised: known ? realised / known : NaN, avgCost: n ? cost / n : NaN, rows: known };
}

/**
 * At each target: λ set on `reference` and λ set on `window`, both applied to `measured` (the traffic that
 * follows the window).
 */
export function averageUnderShift(
  reference: readonly LabelledPrediction[],
  window: readonly LabelledPrediction[],
  measured: readonly LabelledPrediction[],
  targets: readonly number[],
): ShiftOutcome[] {
  const ref = curveOf(reference);
  const win = curveOf(window);
  return targets.map((target) => ({
    target,
    reference: routeAtLambda(measured, lambdaForTarget(ref, target)),
    traffic: routeAtLambda(measured, lambdaForTarget(win, target)),
  }));
}
