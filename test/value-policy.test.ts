import { chooseByValue } from '../src/routing/policy';
import { type ValueStep, lambdaForTarget, valueCurve, valueSteps } from '../src/routing/value-policy';
import { type LabelledPrediction, summarize, sweepAveragePolicy } from '../training/metrics';
import { seededRandom as rng } from '../src/util/seeded-random';

/** The model the steps give at λ: the last step whose λ is above it; a step exactly at λ (a tie) takes it. */
function chooseAt(steps: readonly ValueStep[], lambda: number): number {
  let model = steps[0].model;
  for (const s of steps) if (s.lambda >= lambda) model = s.model;
  return model;
}

/** argmax p − λ·cost by brute force; ties: the dearer (likelier) model, as at a breakpoint. */
function bruteChoice(p: number[], cost: number[], lambda: number): number {
  let best = 0;
  for (let m = 1; m < p.length; m++) {
    const a = p[m] - lambda * cost[m];
    const b = p[best] - lambda * cost[best];
    if (a > b + 1e-12 || (Math.abs(a - b) <= 1e-12 && p[m] > p[best])) best = m;
  }
  return best;
}

describe('average policy: value steps', () => {
  it('walks from the cheapest model to the most likely one, skipping dominated models (hand-computed)', () => {
    // λ crossings: small→medium at (0.8−0.5)/(2−1) = 0.3; medium→large at (0.9−0.8)/(10−2) = 0.0125.
    const steps = valueSteps([0.5, 0.8, 0.9], [1, 2, 10]);
    expect(steps.map((s) => s.model)).toEqual([0, 1, 2]);
    expect(steps[0].lambda).toBe(Infinity);
    expect(steps[1].lambda).toBeCloseTo(0.3, 12);
    expect(steps[2].lambda).toBeCloseTo(0.0125, 12);
    // Model 1 is dearer and less likely than model 0: never chosen. 0→2 at 0.4/2 = 0.2.
    expect(valueSteps([0.5, 0.4, 0.9], [1, 2, 3])).toEqual([{ lambda: Infinity, model: 0 }, { lambda: 0.2, model: 2 }]);
    // Equal cost: the likelier one from the start, and nothing after it.
    expect(valueSteps([0.5, 0.7], [1, 1])).toEqual([{ lambda: Infinity, model: 1 }]);
    // A missing prediction is never chosen.
    expect(valueSteps([NaN, 0.6], [1, 2])).toEqual([{ lambda: Infinity, model: 1 }]);
  });

  it('chooses what brute force chooses at every λ, on random rows', () => {
    const r = rng(7);
    for (let t = 0; t < 300; t++) {
      const M = 2 + Math.floor(r() * 6);
      const p = Array.from({ length: M }, () => Math.round(r() * 20) / 20);
      const cost = Array.from({ length: M }, () => 0.1 + Math.round(r() * 10) / 10);
      const steps = valueSteps(p, cost);
      for (const lambda of [0, 0.001, 0.03, 0.1, 0.3, 1, 3, 1e6]) {
        const got = chooseAt(steps, lambda);
        const want = bruteChoice(p, cost, lambda);
        // Different models may tie exactly in value; then they must be equally good.
        expect(p[got] - lambda * cost[got]).toBeCloseTo(p[want] - lambda * cost[want], 9);
      }
    }
  });

  it('λ for a target is the cheapest state whose mean predicted success reaches it', () => {
    // Two prompts, two models (costs 1 and 10). Prompt A gains 0.45 from the dear model, prompt B 0.05.
    const P = [0.5, 0.95, 0.2, 0.25];
    const C = [1, 10, 1, 10];
    const curve = valueCurve(P, C, 2, 2);
    // λ = ∞: both cheap, mean 0.35. Below 0.45/9 = 0.05: A dear (0.575). Below 0.05/9: both dear (0.6).
    expect(curve.lambdas[0]).toBe(Infinity);
    expect(curve.lambdas.slice(1).map((x) => Number(x.toFixed(6)))).toEqual([0.05, 0.005556]);
    expect(curve.expected.map((x) => Number(x.toFixed(6)))).toEqual([0.35, 0.575, 0.6]);
    expect(lambdaForTarget(curve, 0.3)).toBe(Infinity);
    const mid = lambdaForTarget(curve, 0.5);
    expect(mid).toBeLessThan(0.05);
    expect(mid).toBeGreaterThan(0.05 / 9);
    expect(lambdaForTarget(curve, 0.6)).toBeCloseTo(0.05 / 9 / 2, 9);
    expect(lambdaForTarget(curve, 0.99)).toBe(0);
  });

  it('chooseByValue orders candidates by value; λ = ∞ orders by cost', () => {
    const c = [
      { model: 'small', pSuccess: 0.5, estimatedCost: 1 },
      { model: 'large', pSuccess: 0.95, estimatedCost: 10 },
    ];
    expect(chooseByValue(c, 0.01)).toEqual({ chosen: 'large', fallbacks: ['small'], reason: 'best-value' });
    expect(chooseByValue(c, 0.1)).toEqual({ chosen: 'small', fallbacks: ['large'], reason: 'best-value' });
    expect(chooseByValue(c, Infinity).chosen).toBe('small');
    expect(chooseByValue(c, 0).chosen).toBe('large');
  });
});

describe('average policy: sweep', () => {
  it('matches brute force at every state, and each target is the mean predicted success', () => {
    const r = rng(11);
    const models = ['a', 'b', 'c', 'd'];
    const rows: LabelledPrediction[] = Array.from({ length: 60 }, () => ({
      p: models.map(() => r()),
      cost: models.map(() => 0.5 + r()),
      outcome: models.map(() => (r() < 0.15 ? null : r() < 0.5 ? 1 : 0)),
    }));
    const points = sweepAveragePolicy(models, rows);
    expect(points[0].lambda).toBe(Infinity);
    for (let k = 0; k < points.length; k++) {
      // The state at point k holds for λ just below its own λ, down to the next point's.
      const hi = points[k].lambda!;
      const lo = k + 1 < points.length ? points[k + 1].lambda! : 0;
      const lambda = hi === Infinity ? 2 * (points[1]?.lambda ?? 1) : (hi + lo) / 2;
      let used = 0, cost = 0, quality = 0, expected = 0;
      for (const row of rows) {
        const m = bruteChoice(Array.from(row.p), Array.from(row.cost), lambda);
        expected += row.p[m];
        const o = row.outcome[m];
        if (o === null) continue;
        used++;
        cost += row.cost[m];
        quality += o;
      }
      expect(points[k].used).toBe(used);
      expect(points[k].avgCost).toBeCloseTo(cost / used, 9);
      expect(points[k].avgQuality).toBeCloseTo(quality / used, 9);
      expect(points[k].target).toBeCloseTo(expected / rows.length, 9);
      if (k > 0) expect(points[k].target).toBeGreaterThanOrEqual(points[k - 1].target - 1e-12);
    }
  });

  it('spends on the prompts a dearer model helps most, where a per-request bar spends on the most doubtful', () => {
    // Half the prompts are hopeless for both models (p 0.1 / 0.15, both fail); half are won by the strong
    // model (p 0.4 / 0.95). The per-request bar upgrades the hopeless ones first (their weak p is lower);
    // the average policy upgrades the winnable ones first.
    const rows: LabelledPrediction[] = [];
    for (let i = 0; i < 10; i++) {
      rows.push({ p: [0.1 + i * 0.001, 0.15 + i * 0.001], cost: [1, 10], outcome: [0, 0] });
      rows.push({ p: [0.4 + i * 0.001, 0.95], cost: [1, 10], outcome: [0, 1] });
    }
    const perRequest = summarize(['weak', 'strong'], rows).twoModel!;
    const average = summarize(['weak', 'strong'], rows, { policy: 'average' }).twoModel!;
    // Average: the strong-call share s turns into quality gain 1:1 up to s = 0.5, then stays: APGR =
    // mean over s of min(2s, 1) = 0.75 (to the 101-point grid's rounding).
    expect(average.apgr).toBeCloseTo(0.75, 2);
    expect(average.cpt50).toBeCloseTo(0.25, 9);
    expect(perRequest.apgr).toBeLessThan(0.6);

    // What a target buys: from a mean of 0.2545 with every prompt on weak, the winnable prompts' upgrades
    // add 0.550, 0.549, … 0.541 over 20 rows: nine of them reach 0.5002 ≥ 0.5. 0.6 is beyond even all
    // strong (0.552), so all strong.
    const ops = summarize(['weak', 'strong'], rows, { policy: 'average' }).operatingPoints;
    expect(ops.map((o) => o.target)).toEqual([0.5, 0.6, 0.7, 0.8, 0.9]);
    expect(ops[0].predicted).toBeCloseTo(0.5002, 6);
    expect(ops[0].share.strong).toBeCloseTo(0.45, 9);
    expect(ops[0].avgQuality).toBeCloseTo(0.45, 9);
    expect(ops[1].share.strong).toBe(1);
    // Per-request at 0.5: every weak p is below the bar, so every prompt goes strong, the hopeless ones
    // included (strong is their most likely model).
    const per = summarize(['weak', 'strong'], rows).operatingPoints;
    expect(per[0]).toMatchObject({ target: 0.5, predicted: 0.5 });
    expect(per[0].share.strong).toBe(1);
    // Near-best reads its target as 1 − the loss allowed, so its table sits high. The hopeless prompts lose
    // at most 0.05 on weak, the winnable ones at least 0.541: from 0.8 to 0.95 exactly the winnable half
    // goes strong; at 0.98 the hopeless half too.
    const near = summarize(['weak', 'strong'], rows, { policy: 'near-best' }).operatingPoints;
    expect(near.map((o) => o.target)).toEqual([0.8, 0.85, 0.9, 0.95, 0.98]);
    expect(near.map((o) => o.share.strong)).toEqual([0.5, 0.5, 0.5, 0.5, 1]);
    expect(near[0].avgQuality).toBeCloseTo(0.5, 9);
  });
});
