// The `average` policy: the target is the average success rate wanted over the traffic, not a bar each
// request must clear. Each request goes to the model with the best value p − λ·cost, and λ (the price
// of one unit of success) is the largest one at which the expected success over a reference set of
// prompts still reaches the target. This is the Lagrangian of "spend the least for an average success
// ≥ target": it spends where a dearer model raises the chance of success most per unit of cost, which a
// per-request bar cannot do (it upgrades every prompt the cheap model is unsure of, even hopeless ones).
// Pure: numbers in, numbers out.

/** From this λ down to the next step's, the row goes to `model`. */
export interface ValueStep {
  lambda: number;
  model: number;
}

const finite = (v: number): boolean => Number.isFinite(v);

/**
 * The models a row goes to as λ falls from +∞ to 0: first the cheapest (cost ties: higher p, then lower
 * index), last the most likely to succeed (p ties: cheaper). Models whose p is not a number are never
 * chosen unless every p is missing, when the cheapest is.
 */
export function valueSteps(p: ArrayLike<number>, cost: ArrayLike<number>): ValueStep[] {
  const M = p.length;
  const usable = Array.from({ length: M }, (_, m) => m).filter((m) => finite(p[m]));
  const pool = usable.length > 0 ? usable : Array.from({ length: M }, (_, m) => m);
  let cur = pool[0];
  for (const m of pool) {
    if (cost[m] < cost[cur] || (cost[m] === cost[cur] && p[m] > p[cur])) cur = m;
  }
  const steps: ValueStep[] = [{ lambda: Infinity, model: cur }];
  if (usable.length === 0) return steps;
  // Walk the upper envelope of the lines p_m − λ·c_m: the next model is the dearer, likelier one whose
  // line crosses the current one at the highest λ (ties: the likelier, which dominates below).
  for (;;) {
    let next = -1;
    let at = -Infinity;
    for (const m of usable) {
      if (!(p[m] > p[cur] && cost[m] > cost[cur])) continue;
      const lambda = (p[m] - p[cur]) / (cost[m] - cost[cur]);
      if (lambda > at || (lambda === at && (p[m] > p[next] || (p[m] === p[next] && cost[m] < cost[next])))) {
        next = m;
        at = lambda;
      }
    }
    if (next < 0) return steps;
    steps.push({ lambda: at, model: next });
    cur = next;
  }
}

/** A change of choice in one row as λ falls through `lambda`. */
interface ValueEvent {
  lambda: number;
  row: number;
  from: number;
  to: number;
}

/** Every row's changes of choice, ordered by falling λ (then by row, so the order is deterministic). */
function valueEvents(stepsPerRow: readonly (readonly ValueStep[])[]): ValueEvent[] {
  const events: ValueEvent[] = [];
  stepsPerRow.forEach((steps, row) => {
    for (let k = 1; k < steps.length; k++) events.push({ lambda: steps[k].lambda, row, from: steps[k - 1].model, to: steps[k].model });
  });
  return events.sort((a, b) => b.lambda - a.lambda || a.row - b.row);
}

/**
 * Walks the rows' choices as λ falls from +∞ to 0: `choose(row, model)` for each row's first choice,
 * then `move(row, from, to)` for every change; `state(λ)` after the first choices (λ = +∞) and after all
 * the changes at each distinct λ, so every state the policy can be in is seen once.
 */
export function walkValueStates(
  stepsPerRow: readonly (readonly ValueStep[])[],
  choose: (row: number, model: number) => void,
  move: (row: number, from: number, to: number) => void,
  state: (lambda: number) => void,
): void {
  stepsPerRow.forEach((steps, row) => choose(row, steps[0].model));
  state(Infinity);
  const events = valueEvents(stepsPerRow);
  for (let i = 0; i < events.length; ) {
    const lambda = events[i].lambda;
    for (; i < events.length && events[i].lambda === lambda; i++) move(events[i].row, events[i].from, events[i].to);
    state(lambda);
  }
}

/**
 * How the expected success of a reference set rises as λ falls: `expected[k]` is the mean predicted
 * success when λ lies in (lambdas[k + 1], lambdas[k]], with lambdas[0] = +∞ and below the last, 0.
 */
export interface ValueCurve {
  lambdas: number[];
  expected: number[];
}

/** From reference predictions and costs, both rows × models, row-major. */
export function valueCurve(P: ArrayLike<number>, C: ArrayLike<number>, rows: number, models: number): ValueCurve {
  const steps = Array.from({ length: rows }, (_, r) =>
    valueSteps(
      Array.from({ length: models }, (_, m) => P[r * models + m]),
      Array.from({ length: models }, (_, m) => C[r * models + m]),
    ),
  );
  const pOf = (r: number, m: number): number => (finite(P[r * models + m]) ? P[r * models + m] : 0);
  let sum = 0;
  const lambdas: number[] = [];
  const expected: number[] = [];
  walkValueStates(
    steps,
    (r, m) => (sum += pOf(r, m)),
    (r, from, to) => (sum += pOf(r, to) - pOf(r, from)),
    (lambda) => {
      lambdas.push(lambda);
      expected.push(rows ? sum / rows : NaN);
    },
  );
  return { lambdas, expected };
}

/**
 * The λ for a target average success: inside the interval of the cheapest state whose expected success
 * reaches the target (geometric middle, so small changes in live costs do not flip ties); +∞ when the
 * cheapest models already reach it, 0 (most likely model) when nothing does.
 */
export function lambdaForTarget(curve: ValueCurve, target: number): number {
  const { lambdas, expected } = curve;
  const k = expected.findIndex((e) => e >= target);
  if (k < 0) return 0;
  if (k === 0) return Infinity;
  const hi = lambdas[k];
  const lo = k + 1 < lambdas.length ? lambdas[k + 1] : 0;
  return lo > 0 ? Math.sqrt(hi * lo) : hi / 2;
}
