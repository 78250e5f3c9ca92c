// Routing metrics on tiny labelled sets whose answers were worked out by hand.
import {
  auc,
  brier,
  choosePolicy,
  formatMetricsTable,
  formatReliability,
  SELECTION_TARGETS,
  nModelMetrics,
  oraclePoint,
  reliability,
  renderQualityCostSvg,
  singleModelPoints,
  summarize,
  sweepAveragePolicy,
  sweepNearBestPolicy,
  sweepPolicy,
  twoModelMetrics,
  type LabelledPrediction,
} from '../training/metrics';
import { seededRandom } from '../src/util/seeded-random';
import { chooseNearBest } from '../src/routing/policy';
import { NO_SOURCE, costOf, estimateMatrix, evaluate, evaluateRows, formatRandomReading, formatSourceLine, groupBySource, randomRouterReading } from '../training/evaluate';
import type { LabelledRow } from '../training/dataset';

const rng = seededRandom;

/** Two models, weak costs 1 and strong costs 10 on every row. */
function twoModelRows(
  pWeak: number[],
  pStrong: number[],
  weakOk: (number | null)[],
  strongOk: number[],
): LabelledPrediction[] {
  return pWeak.map((pw, i) => ({ p: [pw, pStrong[i]], cost: [1, 10], outcome: [weakOk[i], strongOk[i]] }));
}

describe('classifier metrics', () => {
  test('AUC: perfect, reversed, all tied, and known small examples', () => {
    expect(auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    // scikit-learn's roc_auc_score example.
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    // Pairs (pos, neg): (0.5,0.5)=½, (0.5,0.2)=1, (0.8,0.5)=1, (0.8,0.2)=1 → 3.5/4.
    expect(auc([0.5, 0.5, 0.2, 0.8], [1, 0, 0, 1])).toBeCloseTo(0.875, 12);
    // Soft labels split at 0.5.
    expect(auc([0.1, 0.2, 0.8, 0.9], [0.2, 0.49, 0.5, 0.7])).toBe(1);
    expect(auc([0.1, 0.9], [1, 1])).toBeNaN();
  });

  test('Brier score is the mean squared error, soft labels allowed', () => {
    expect(brier([0.9, 0.2, 0.5], [1, 0, 1])).toBeCloseTo((0.01 + 0.04 + 0.25) / 3, 12);
    expect(brier([0.5], [0.7])).toBeCloseTo(0.04, 12);
  });

  test('reliability bins and expected calibration error', () => {
    const r = reliability([0.05, 0.15, 0.95, 1.0], [0, 1, 1, 0]);
    expect(r.bins).toHaveLength(10);
    expect(r.bins.map((b) => b.count)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
    expect(r.bins[9].meanPredicted).toBeCloseTo(0.975, 12);
    expect(r.bins[9].meanObserved).toBeCloseTo(0.5, 12);
    expect(r.bins[4].meanPredicted).toBeNaN();
    // (1·0.05 + 1·0.85 + 2·0.475) / 4
    expect(r.ece).toBeCloseTo(0.4625, 12);
  });
});

describe('policy sweep', () => {
  test('cheapest model at or above the target, else the most confident one', () => {
    const cost = [1, 5, 10];
    expect(choosePolicy([0.9, 0.95, 0.99], cost, 0.8)).toBe(0);
    expect(choosePolicy([0.7, 0.95, 0.99], cost, 0.8)).toBe(1);
    expect(choosePolicy([0.7, 0.75, 0.79], cost, 0.8)).toBe(2);
    expect(choosePolicy([0.7, 0.78, 0.5], cost, 0.8)).toBe(1);
  });

  test('the event sweep agrees with running the policy row by row, skipped rows included', () => {
    const rand = rng(7);
    const models = ['a', 'b', 'c', 'd', 'e'];
    const rows: LabelledPrediction[] = Array.from({ length: 300 }, () => {
      const scale = 0.5 + rand();
      return {
        // Rounded so that ties between models and with grid targets actually happen.
        p: models.map(() => Math.round(rand() * 20) / 20),
        // b and d always cost the same, so the cost tie-break has to agree as well.
        cost: [1, 2, 4, 2, 8].map((c) => c * scale),
        outcome: models.map(() => (rand() < 0.1 ? null : rand() < 0.6 ? 1 : rand())),
      };
    });
    const points = sweepPolicy(models, rows);
    expect(points.length).toBeGreaterThanOrEqual(101);
    for (const pt of points) {
      let used = 0;
      let cost = 0;
      let quality = 0;
      const counts = [0, 0, 0, 0, 0];
      for (const row of rows) {
        const m = choosePolicy(row.p, row.cost, pt.target);
        const o = row.outcome[m];
        if (o === null) continue;
        used++;
        cost += row.cost[m];
        quality += o;
        counts[m]++;
      }
      expect(pt.used).toBe(used);
      expect(pt.skipped).toBe(rows.length - used);
      expect(pt.avgCost).toBeCloseTo(cost / used, 9);
      expect(pt.avgQuality).toBeCloseTo(quality / used, 9);
      models.forEach((name, m) => expect(pt.share[name]).toBeCloseTo(counts[m] / used, 9));
    }
  });

  test('10k rows × 15 models sweep stays exact at sampled targets', () => {
    const rand = rng(11);
    const models = Array.from({ length: 15 }, (_, m) => `m${m}`);
    const rows: LabelledPrediction[] = Array.from({ length: 10_000 }, () => ({
      p: Float32Array.from(models, () => rand()),
      cost: Float64Array.from(models, (_, m) => m + 1),
      outcome: models.map(() => (rand() < 0.5 ? 1 : 0)),
    }));
    // Learner selection's thinning: the grid plus the distinct predictions thinned to 2,000 (a few may
    // coincide with grid values). Each point is still exact at its own target.
    const points = sweepPolicy(models, rows, { maxExtraTargets: SELECTION_TARGETS });
    expect(points.length).toBeGreaterThan(2090);
    expect(points.length).toBeLessThanOrEqual(2101);
    for (const pt of [points[0], points[700], points[1500], points[points.length - 1]]) {
      let quality = 0;
      for (const row of rows) quality += row.outcome[choosePolicy(row.p, row.cost, pt.target)] as number;
      expect(pt.avgQuality).toBeCloseTo(quality / rows.length, 9);
    }
  });

  test('a reported sweep takes every distinct prediction as a target, so its curve is the exact one', () => {
    const rand = rng(12);
    const models = ['a', 'b', 'c', 'd', 'e'];
    const rows: LabelledPrediction[] = Array.from({ length: 3_000 }, () => ({
      p: Float32Array.from(models, () => rand()),
      cost: Float64Array.from(models, (_, m) => m + 1),
      outcome: models.map(() => (rand() < 0.5 ? 1 : 0)),
    }));
    const distinct = new Set(rows.flatMap((r) => Array.from(r.p)));
    for (let k = 0; k <= 100; k++) distinct.add(k / 100);
    const points = sweepPolicy(models, rows);
    expect(points.map((p) => p.target)).toEqual([...distinct].sort((a, b) => a - b));
    // Every point is the policy replayed row by row at its target.
    for (const pt of points.filter((_, i) => i % 97 === 0)) {
      let quality = 0;
      for (const row of rows) quality += row.outcome[choosePolicy(row.p, row.cost, pt.target)] as number;
      expect(pt.avgQuality).toBeCloseTo(quality / rows.length, 9);
    }
  });

  test('the near-best sweep agrees with the router\'s near-best choice row by row', () => {
    const rand = rng(5);
    const models = ['a', 'b', 'c', 'd'];
    // Continuous predictions and each row's own prices (a free model on some rows), so no threshold
    // 1 − λ of a row's envelope falls on a target and float rounding cannot decide a comparison.
    const rows: LabelledPrediction[] = Array.from({ length: 300 }, (_, r) => ({
      p: models.map(() => rand()),
      cost: models.map((_, m) => (r % 10 === 0 && m === 0 ? 0 : (m + 1) * (0.5 + rand()))),
      outcome: models.map(() => (rand() < 0.1 ? null : rand() < 0.6 ? 1 : 0)),
    }));
    const points = sweepNearBestPolicy(models, rows, { targets: Array.from({ length: 100 }, (_, k) => k / 100 + 0.003) });
    expect(points).toHaveLength(100);
    for (const pt of points) {
      let used = 0;
      let quality = 0;
      for (const row of rows) {
        const candidates = models.map((model, m) => ({ model, pSuccess: row.p[m], estimatedCost: row.cost[m] }));
        const m = models.indexOf(chooseNearBest(candidates, pt.target).chosen);
        const o = row.outcome[m];
        if (o === null) continue;
        used++;
        quality += o;
      }
      expect(pt.used).toBe(used);
      expect(pt.avgQuality).toBeCloseTo(quality / used, 9);
    }
  });

  test('a row with the wrong number of values is refused, under every policy', () => {
    const bad: LabelledPrediction[] = [{ p: [0.5, 0.9], cost: [1, 10], outcome: [1, 1] }, { p: [0.5, 0.9], cost: [1], outcome: [1, 1] }];
    expect(() => sweepPolicy(['weak', 'strong'], bad)).toThrow('row 1: expected 2 values per vector (one per model)');
    expect(() => sweepNearBestPolicy(['weak', 'strong'], bad)).toThrow('row 1: expected 2 values per vector (one per model)');
  });

  test('near-best ranks two models by the predicted gain, per-request by the weak model alone', () => {
    // Row 0: both will probably fail (gain 0.05). Row 1: the weak model is unsure, the strong sure (gain 0.5).
    const rows = twoModelRows([0.1, 0.45], [0.15, 0.95], [0, 0], [0, 1]);
    const strongShareWhereQualityFirstRises = (points: ReturnType<typeof sweepPolicy>) =>
      points.find((pt) => pt.avgQuality > 0)?.share.strong;
    // Per-request sends the hopeless row 0 to the strong model first; near-best sends row 1, which gains.
    expect(strongShareWhereQualityFirstRises(sweepPolicy(['weak', 'strong'], rows))).toBe(1);
    expect(strongShareWhereQualityFirstRises(sweepNearBestPolicy(['weak', 'strong'], rows))).toBe(0.5);
    // Near-best's hull runs (0, 0) → (0.5, 1) → (1, 1): APGR = (Σ_{k≤50} 2k/100 + 50) / 101 = 75.5 / 101.
    expect(summarize(['weak', 'strong'], rows, { policy: 'near-best' }).twoModel?.apgr).toBeCloseTo(75.5 / 101, 9);
    expect(summarize(['weak', 'strong'], rows, { policy: 'per-request' }).twoModel?.apgr).toBeCloseTo(0.5, 9);
  });

  test('a router that always picks one model sits exactly on that model', () => {
    // Model a is both the cheapest and the most confident everywhere.
    const rows = twoModelRows([0.9, 0.8, 0.7], [0.5, 0.4, 0.6], [1, 0, 1], [1, 1, 1]);
    const [a] = singleModelPoints(['a', 'b'], rows);
    for (const pt of sweepPolicy(['a', 'b'], rows)) {
      expect(pt.avgCost).toBeCloseTo(a.avgCost, 12);
      expect(pt.avgQuality).toBeCloseTo(2 / 3, 12);
      expect(pt.share).toEqual({ a: 1, b: 0 });
    }
  });

  test('rows whose chosen model has no outcome are skipped and counted', () => {
    const rows = twoModelRows([0.9, 0.9, 0.9], [0.2, 0.2, 0.2], [1, 0, null], [1, 1, 0]);
    const pts = sweepPolicy(['weak', 'strong'], rows, { targets: [0, 0.5, 0.95] });
    // Targets 0 and 0.5 choose weak everywhere; row 2 has no weak outcome.
    expect(pts[0]).toMatchObject({ used: 2, skipped: 1, avgQuality: 0.5, avgCost: 1 });
    expect(pts[1]).toMatchObject({ used: 2, skipped: 1 });
    // At 0.95 nothing qualifies, so the most confident model (weak) is still chosen.
    expect(pts[2]).toMatchObject({ used: 2, skipped: 1 });
    const [weak, strong] = singleModelPoints(['weak', 'strong'], rows);
    expect(weak).toMatchObject({ used: 2, skipped: 1, avgQuality: 0.5 });
    expect(strong).toMatchObject({ used: 3, skipped: 0 });
    // The oracle can still use the strong model on row 2 (which it gets wrong, as does nothing else).
    const oracle = oraclePoint(['weak', 'strong'], rows);
    expect(oracle).toMatchObject({ used: 3, skipped: 0 });
    expect(oracle.avgQuality).toBeCloseTo(2 / 3, 12);
    expect(oracle.avgCost).toBeCloseTo((1 + 10 + 10) / 3, 12);
  });
});

describe('recorded costs: the policy chooses by its estimate and is charged what the answer cost', () => {
  // Both models clear any bar up to 0.9. By estimate `a` is cheaper; the recorded costs say `a`'s answer
  // turned out dearer. A router cannot know that before asking, so it picks `a` and pays 5.
  const row: LabelledPrediction = { p: [0.9, 0.9], cost: [5, 1], estimate: [1, 2], outcome: [1, 1] };

  test('per-request sweep', () => {
    const [pt] = sweepPolicy(['a', 'b'], [row], { targets: [0.8] });
    expect(pt).toMatchObject({ avgCost: 5, share: { a: 1, b: 0 } });
    // Without an estimate the recorded cost is all there is, and it chooses.
    const [seen] = sweepPolicy(['a', 'b'], [{ ...row, estimate: undefined }], { targets: [0.8] });
    expect(seen).toMatchObject({ avgCost: 1, share: { a: 0, b: 1 } });
  });

  test('average-policy sweep: λ walks the estimates, the points carry recorded costs', () => {
    // a: p 0.5, estimate 1, cost 1; b: p 0.9, estimate 2, cost 20. b takes over at λ = 0.4 / 1.
    const rows: LabelledPrediction[] = [{ p: [0.5, 0.9], cost: [1, 20], estimate: [1, 2], outcome: [0, 1] }];
    const pts = sweepAveragePolicy(['a', 'b'], rows);
    expect(pts.map((p) => [p.lambda, p.avgCost, p.avgQuality])).toEqual([
      [Infinity, 1, 0],
      [expect.closeTo(0.4, 12), 20, 1],
    ]);
  });

  const rows: LabelledRow[] = [
    { id: '1', prompt: 'x'.repeat(400), source: null, outcomes: { a: 1, b: 1 }, costs: { a: 0.005, b: 0.001 } },
    { id: '2', prompt: 'y'.repeat(400), source: null, outcomes: { a: 0, b: 1 }, costs: { a: 0.003, b: 0.002 } },
  ];
  const prices = { a: { inputPerMTok: 1, outputPerMTok: 1 }, b: { inputPerMTok: 2, outputPerMTok: 2 } };

  test('estimateMatrix: price × estimated tokens; a model without a price at its mean recorded cost', () => {
    // 400 characters ≈ 100 tokens in, 256 out.
    expect(Array.from(estimateMatrix(rows, ['a', 'b'], prices)!)).toEqual([356e-6, 712e-6, 356e-6, 712e-6].map((v) => expect.closeTo(v, 15)));
    expect(Array.from(estimateMatrix(rows, ['a', 'b'], { a: prices.a })!)).toEqual([356e-6, 0.0015, 356e-6, 0.0015].map((v) => expect.closeTo(v, 15)));
    expect(estimateMatrix([{ ...rows[0], costs: {} }], ['a', 'b'], { a: prices.a })).toBeNull();
    // A model with its own answer length is estimated (and, without a recorded cost, charged) at it.
    const verbose = { ...prices, b: { ...prices.b, expectedOutputTokens: 1000 } };
    expect(estimateMatrix(rows, ['a', 'b'], verbose)![1]).toBeCloseTo(2200e-6, 15);
    expect(costOf({ ...rows[0], costs: {} }, 'b', verbose, 256)).toBeCloseTo(2200e-6, 15);
  });

  test('evaluate: rows with recorded costs are routed by price, charged as recorded', () => {
    const P = Float32Array.from([0.9, 0.95, 0.9, 0.95]);
    const e = evaluate(['a', 'b'], P, rows, prices);
    // At a bar of 0.8 both rows go to a, cheaper by price though dearer as recorded: cost (0.005 + 0.003) / 2.
    const at = e.routing!.sweep.find((p) => p.target === 0.8)!;
    expect(at).toMatchObject({ share: { a: 1, b: 0 }, avgQuality: 0.5 });
    expect(at.avgCost).toBeCloseTo(0.004, 12);
    // The single models are charged as recorded too.
    expect(e.routing!.perModel.map((s) => s.avgCost)).toEqual([expect.closeTo(0.004, 12), expect.closeTo(0.0015, 12)]);
  });

  test('evaluate: rows that each record one model (rated live traffic) offer no choice, so no curve is drawn', () => {
    // A curve over them read APGR 0.500 with an interval of [0.500, 0.500], as though measured.
    const single: LabelledRow[] = [{ ...rows[0], outcomes: { a: 1 } }, { ...rows[1], outcomes: { b: 0 } }];
    const e = evaluate(['a', 'b'], Float32Array.from([0.9, 0.95, 0.9, 0.95]), single, prices);
    expect(e).toMatchObject({ routing: null, noChoice: true });
    expect(e.perModel.a.rows).toBe(1);
  });
});

describe('what a random router reads (eval, retrain, bench:quality)', () => {
  const prices = { weak: { inputPerMTok: 1, outputPerMTok: 1 }, strong: { inputPerMTok: 10, outputPerMTok: 10 } };
  const rowsOf = (weak: number[], strong: number[]): LabelledRow[] =>
    weak.map((w, i) => ({ id: `r${i}`, prompt: `prompt ${i}`, source: null, outcomes: { weak: w, strong: strong[i] }, costs: {} }));
  const readingOf = (rows: LabelledRow[], seed = 1) => {
    const P = new Float32Array(rows.length * 2).fill(0.5);
    return randomRouterReading(['weak', 'strong'], rows, prices, undefined, evaluate(['weak', 'strong'], P, rows, prices), seed, 20);
  };

  test('where the strong model answers exactly the rows the weak one misses, every order is the diagonal: 0.5', () => {
    // Weak never right, strong always: each upgrade adds 1/n, in any order, so the curve is the chord.
    const r = readingOf(rowsOf(new Array(10).fill(0), new Array(10).fill(1)));
    expect(r!.apgr).toBeCloseTo(0.5, 12);
    expect(r!.reachedApgr).toBeCloseTo(0.5, 12);
    expect(r!.cpt50).toBeCloseTo(0.5, 12);
  });

  test('on mixed outcomes the envelope reads a random order above 0.5, the more so on fewer rows; the reached points stay near it', () => {
    const rand = rng(7);
    const draw = (n: number): LabelledRow[] => rowsOf(Array.from({ length: n }, () => (rand() < 0.65 ? 1 : 0)), Array.from({ length: n }, () => (rand() < 0.85 ? 1 : 0)));
    const small = readingOf(draw(40))!;
    const large = readingOf(draw(2000))!;
    expect(small.apgr).toBeGreaterThan(large.apgr);
    expect(large.apgr).toBeGreaterThan(0.5);
    expect(Math.abs(large.reachedApgr - 0.5)).toBeLessThan(0.05);
    // Seeded: the same rows and seed read the same; the line says what it is.
    const tiny = rowsOf([1, 0, 1, 0], [1, 1, 0, 1]);
    expect(readingOf(tiny)).toEqual(readingOf(tiny));
    expect(readingOf(tiny, 2)).not.toEqual(readingOf(tiny));
    expect(formatRandomReading(small, 40)).toMatch(/^ {2}a random router on these 40 rows reads APGR 0\.\d{3}, CPT\(50%\) \d+\.\d% \(reached points: APGR 0\.\d{3}; 20 random orders\)/);
  });

  test('no reading without two models', () => {
    const rows = rowsOf([1, 0], [1, 1]);
    const three = { ...prices, other: prices.weak };
    const P = Float32Array.from([0.5, 0.6, 0.7, 0.5, 0.6, 0.7]);
    const withOther = rows.map((r) => ({ ...r, outcomes: { ...r.outcomes, other: 1 } }));
    expect(randomRouterReading(['weak', 'strong', 'other'], withOther, three, undefined, evaluate(['weak', 'strong', 'other'], P, withOther, three))).toBeNull();
  });
});

describe('per-source report (eval --by-source)', () => {
  const src = (...names: (string | null)[]) => names.map((source) => ({ source }));

  test('groups by the leading segments, largest first; small groups pooled; rows without a source grouped as such', () => {
    const rows = src('mmlu/law', 'mmlu/law', 'gsm8k', 'mmlu/anatomy', null, '', 'gsm8k', 'mmlu/law');
    expect(groupBySource(rows, 1, 1)).toEqual({
      groups: [
        { source: 'mmlu', rows: [0, 1, 3, 7] },
        { source: NO_SOURCE, rows: [4, 5] },
        { source: 'gsm8k', rows: [2, 6] },
      ],
      smaller: null,
    });
    expect(groupBySource(rows, 2, 2)).toEqual({
      groups: [
        { source: 'mmlu/law', rows: [0, 1, 7] },
        { source: NO_SOURCE, rows: [4, 5] },
        { source: 'gsm8k', rows: [2, 6] },
      ],
      smaller: { sources: 1, rows: [3] },
    });
    // Deeper than any source: each source whole.
    expect(groupBySource(rows, 5, 3)).toEqual({ groups: [{ source: 'mmlu/law', rows: [0, 1, 7] }], smaller: { sources: 3, rows: [2, 3, 4, 5, 6] } });
  });

  // Two kinds of prompt: on `easy` the classifier ranks perfectly, on `hard` backwards.
  const rows: LabelledRow[] = [
    ...[0, 1, 2, 3].map((i) => ({ id: `e${i}`, prompt: 'x'.repeat(40), source: 'set/easy', outcomes: { weak: i % 2, strong: 1 }, costs: {} })),
    ...[0, 1, 2, 3].map((i) => ({ id: `h${i}`, prompt: 'x'.repeat(40), source: 'set/hard', outcomes: { weak: i % 2, strong: 1 }, costs: {} })),
  ];
  const prices = { weak: { inputPerMTok: 1, outputPerMTok: 1 }, strong: { inputPerMTok: 10, outputPerMTok: 10 } };
  // p_weak: the truth on easy rows, its opposite on hard rows; p_strong 0.95 everywhere.
  const P = Float32Array.from(rows.flatMap((r) => [r.id.startsWith('e') ? 0.1 + 0.8 * r.outcomes.weak! : 0.9 - 0.8 * r.outcomes.weak!, 0.95]));

  test('each group scored on its own rows: a classifier good on one kind and bad on another shows it', () => {
    const { groups } = groupBySource(rows, 2, 1);
    const easy = evaluateRows(['weak', 'strong'], P, rows, groups.find((g) => g.source === 'set/easy')!.rows, prices);
    const hard = evaluateRows(['weak', 'strong'], P, rows, groups.find((g) => g.source === 'set/hard')!.rows, prices);
    expect(easy.perModel.weak.auc).toBe(1);
    expect(hard.perModel.weak.auc).toBe(0);
    // Perfect ranking: the two failing prompts go first, so half the strong calls recover the whole gap.
    expect(easy.routing!.twoModel!.apgr).toBeGreaterThan(0.7);
    expect(hard.routing!.twoModel!.apgr).toBeLessThan(easy.routing!.twoModel!.apgr);
    // All rows at once: the same as evaluate itself.
    const everything = evaluateRows(['weak', 'strong'], P, rows, rows.map((_, i) => i), prices);
    expect(everything.routing!.twoModel!.apgr).toBe(evaluate(['weak', 'strong'], P, rows, prices).routing!.twoModel!.apgr);
    expect(formatSourceLine('set/easy', 4, easy)).toMatch(/^ {2}set\/easy \(4 rows\): APGR 0\.\d{3}, CPT\(50%\) \d+\.\d%; gain vs Zero [+-]\d\.\d{4}, saving at 95% of best .+; AUC weak 1\.000, strong n\/a$/);
    // One model with a price is no routing: said, not computed.
    const alone = evaluateRows(['weak', 'strong'], P, rows, [0, 1], { weak: prices.weak });
    expect(formatSourceLine('x', 2, alone)).toBe('  x (2 rows): no routing metrics (fewer than two models with known costs); AUC weak 1.000, strong n/a');
    // A model the group records no outcome of (another kind's, in a mixed store) is left out of the line.
    const P3 = Float32Array.from(rows.flatMap((_, i) => [P[i * 2], P[i * 2 + 1], 0.5]));
    const mixed = evaluateRows(['weak', 'strong', 'other'], P3, rows, [0, 1], { ...prices, other: prices.weak });
    expect(formatSourceLine('x', 2, mixed)).toMatch(/; AUC weak 1\.000, strong n\/a$/);
    // With intervals, each figure carries its own in its own units; a figure without one is left bare.
    const withIntervals = formatSourceLine('set/easy', 4, easy, {
      apgr: { lo: 0.5, hi: 0.75, defined: 200 }, cpt50: { lo: 0.1, hi: 0.45, defined: 200 }, gainVsZero: { lo: -0.01, hi: 0.02, defined: 200 }, costSaving95OfBest: null,
    });
    expect(withIntervals).toMatch(/: APGR 0\.\d{3} \[0\.500, 0\.750\], CPT\(50%\) \d+\.\d% \[10\.0%, 45\.0%\]; gain vs Zero [+-]\d\.\d{4} \[-0\.0100, \+0\.0200\], saving at 95% of best [^\[;]+; AUC/);
  });
});

describe('two-model metrics (PGR, APGR, CPT)', () => {
  const weak = { model: 'weak', avgCost: 1, avgQuality: 0.5 };
  const strong = { model: 'strong', avgCost: 10, avgQuality: 0.9 };

  test('an uninformative router scores APGR 0.5', () => {
    const ok = [1, 0, 1, 0, 1, 1, 0, 1, 0, 0];
    const rows = twoModelRows(new Array(10).fill(0.6), new Array(10).fill(0.8), ok, [1, 1, 1, 1, 1, 1, 1, 1, 0, 1]);
    const t = summarize(['weak', 'strong'], rows).twoModel;
    expect(t?.weak.model).toBe('weak');
    expect(t?.apgr).toBeCloseTo(0.5, 12);
    expect(t?.cpt50).toBeCloseTo(0.5, 12);
    expect(t?.cpt80).toBeCloseTo(0.8, 12);
  });

  test('a router that finds exactly the rows the weak model fails', () => {
    // Weak right on rows 0-5; strong right on rows 0-8; row 9 nobody. Predictions separate them, and
    // on row 9 neither model clears mid targets so the more confident weak model keeps it.
    const pWeak = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1];
    const pStrong = [0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.05];
    const rows = twoModelRows(pWeak, pStrong, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    const s = summarize(['weak', 'strong'], rows);
    const t = s.twoModel;
    if (!t) throw new Error('expected two-model metrics');
    // Envelope (0, 0.6) → (0.3, 0.9) then flat: PGR(s) = min(1, s/0.3); mean over 101 shares.
    expect(t.pgr[15]).toBeCloseTo(0.5, 12);
    expect(t.pgr[60]).toBeCloseTo(1, 12);
    expect(t.apgr).toBeCloseTo(85.5 / 101, 12);
    expect(t.cpt50).toBeCloseTo(0.15, 12);
    expect(t.cpt80).toBeCloseTo(0.24, 12);
    // Cost envelope (1, 0.6) → (3.7, 0.9): 0.855 is reached at 1 + 0.85·2.7 = 3.295.
    expect(t.costSaving95).toBeCloseTo(1 - 3.295 / 10, 12);
    // The oracle agrees with the router on every row here.
    expect(s.oracle.avgCost).toBeCloseTo(3.7, 12);
    expect(s.oracle.avgQuality).toBeCloseTo(0.9, 12);
  });

  test('one interior point above the diagonal', () => {
    const t = twoModelMetrics(weak, strong, [{ strongShare: 0.5, avgCost: 5.5, avgQuality: 0.82 }]);
    // PGR rises 0 → 0.8 over [0, 0.5] and 0.8 → 1 over [0.5, 1].
    expect(t.pgr[25]).toBeCloseTo(0.4, 12);
    expect(t.pgr[50]).toBeCloseTo(0.8, 12);
    expect(t.pgr[75]).toBeCloseTo(0.9, 12);
    // Σ_{i≤50} 0.8·i/50 + Σ_{i>50} (0.8 + 0.2·(i−50)/50) = 20.4 + 40 + 5.1 = 65.5.
    expect(t.apgr).toBeCloseTo(65.5 / 101, 12);
    expect(t.cpt50).toBeCloseTo(0.2 / 0.64, 12);
    expect(t.cpt80).toBeCloseTo(0.5, 12);
  });

  test('a router better than the strong model stays at its best share after (PGR above 1 kept)', () => {
    const t = twoModelMetrics(weak, strong, [{ strongShare: 0.5, avgCost: 5.5, avgQuality: 0.95 }]);
    // Envelope (0,0.5) → (0.5,0.95), then flat at 0.95, not down to (1, 0.9): PGR 1.125 from 0.5 on.
    expect(t.pgr[75]).toBeCloseTo(1.125, 12);
    expect(t.apgr).toBeCloseTo((1.125 * 25.5 + 1.125 * 50) / 101, 12);
    expect(t.cpt80).toBeCloseTo((0.8 / 1.125) * 0.5, 12);
  });

  test('a point below the diagonal is dominated by randomising between the anchors', () => {
    const t = twoModelMetrics(weak, strong, [{ strongShare: 0.5, avgCost: 5.5, avgQuality: 0.6 }]);
    expect(t.apgr).toBeCloseTo(0.5, 12);
    // On the reached points alone (no mixing) the dip counts: PGR 0 → 0.25 over [0, 0.5], 0.25 → 1 after.
    // Σ_{i≤50} 0.25·i/50 + Σ_{i>50} (0.25 + 0.75·(i−50)/50) = 6.375 + 12.5 + 19.125 = 38.
    expect(t.reached.apgr).toBeCloseTo(38 / 101, 12);
    // 0.7 (half the gap) is first reached on (0.5, 0.6) → (1, 0.9) at 0.5 + 0.1/0.3 · 0.5.
    expect(t.reached.cpt50).toBeCloseTo(0.5 + 0.5 / 3, 12);
  });

  test('on the reached points alone: straight lines between them, dips and all, the best of equal shares', () => {
    const t = twoModelMetrics(weak, strong, [
      { strongShare: 0.5, avgCost: 5.5, avgQuality: 0.82 },
      { strongShare: 0.5, avgCost: 5.5, avgQuality: 0.7 },
      { strongShare: 0.2, avgCost: 2.8, avgQuality: 0.5 },
    ]);
    // Reached: (0, 0.5), (0.2, 0.5), (0.5, 0.82), (1, 0.9); PGR 0 to 0.2, then 0 → 0.8 over [0.2, 0.5], 0.8 → 1.
    // Σ_{20<i≤50} 0.8·(i−20)/30 + Σ_{i>50} (0.8 + 0.2·(i−50)/50) = 12.4 + 40 + 5.1 = 57.5.
    expect(t.reached.apgr).toBeCloseTo(57.5 / 101, 12);
    expect(t.reached.cpt50).toBeCloseTo(0.2 + 0.3 * (0.2 / 0.32), 12);
    // The envelope mixes (0, 0.5) with (0.5, 0.82) and reads higher.
    expect(t.apgr).toBeCloseTo(65.5 / 101, 12);
  });

  test('cost saving at 95% of strong quality interpolates on the cost envelope', () => {
    const t = twoModelMetrics(weak, strong, [{ strongShare: 0.4, avgCost: 4, avgQuality: 0.85 }]);
    // 0.855 lies on (4, 0.85) → (10, 0.9) at cost 4.6.
    expect(t.costSaving95).toBeCloseTo(0.54, 12);
  });

  test('the table warns when the dearer model is no better, and not otherwise', () => {
    const ok = [1, 0, 1, 0, 1, 1, 0, 1, 0, 0];
    const better = summarize(['weak', 'strong'], twoModelRows(new Array(10).fill(0.6), new Array(10).fill(0.8), ok, [1, 1, 1, 1, 1, 1, 1, 1, 0, 1]));
    expect(formatMetricsTable(better)).not.toContain('mean nothing');
    // The dearer model (cost 10) right on 3 rows, the cheaper on 5.
    const worse = summarize(['weak', 'strong'], twoModelRows(new Array(10).fill(0.6), new Array(10).fill(0.8), ok, [1, 0, 0, 1, 0, 0, 1, 0, 0, 0]));
    expect(formatMetricsTable(worse)).toContain('warning: the dearer model (strong) is no better than weak on these rows, so PGR, APGR and CPT mean nothing here');
  });

  test('equal weak and strong quality gives NaN instead of a division by zero', () => {
    const same = { ...strong, avgQuality: 0.5 };
    const t = twoModelMetrics(weak, same, [{ strongShare: 0.5, avgCost: 5, avgQuality: 0.6 }]);
    expect(t.apgr).toBeNaN();
    expect(t.cpt50).toBeNaN();
    expect(t.pgr.every(Number.isNaN)).toBe(true);
  });
});

describe('N-model metrics (Zero router)', () => {
  // B lies under the line from A to C (0.6 at cost 2), so the Zero router skips it.
  const singles = [
    { model: 'A', avgCost: 1, avgQuality: 0.5 },
    { model: 'B', avgCost: 2, avgQuality: 0.55 },
    { model: 'C', avgCost: 4, avgQuality: 0.8 },
  ];

  test('the Zero router is the upper hull of the single models', () => {
    const n = nModelMetrics(singles, singles);
    expect(n.zeroHull).toEqual([{ x: 1, y: 0.5 }, { x: 4, y: 0.8 }]);
    expect(n.bestModel).toBe('C');
    expect(n.costGrid).toHaveLength(60);
    expect(n.costGrid[0]).toBe(1);
    expect(n.costGrid[59]).toBe(4);
    expect(n.costGrid[1]).toBeCloseTo(4 ** (1 / 59), 12);
    expect(n.gainVsZero).toBeCloseTo(0, 12);
  });

  test('a router 0.1 above the hull everywhere gains 0.1', () => {
    const n = nModelMetrics(singles, [{ avgCost: 1, avgQuality: 0.6 }, { avgCost: 4, avgQuality: 0.9 }]);
    expect(n.gainVsZero).toBeCloseTo(0.1, 12);
  });

  test('a router point above the hull: gain and cost saving at 95% of the best model', () => {
    const n = nModelMetrics(singles, [...singles, { avgCost: 2, avgQuality: 0.7 }]);
    // Router hull (1,0.5),(2,0.7),(4,0.8) minus Zero (1,0.5),(4,0.8): 0.1(c−1) up to 2, 0.05(4−c) after.
    const gap = (c: number): number => (c <= 2 ? 0.1 * (c - 1) : 0.05 * (4 - c));
    const expected = Array.from({ length: 60 }, (_, i) => gap(4 ** (i / 59))).reduce((a, b) => a + b) / 60;
    expect(n.gainVsZero).toBeCloseTo(expected, 12);
    expect(n.gainVsZero).toBeGreaterThan(0.03);
    // 0.95 · 0.8 = 0.76 is reached at 2 + 2·0.06/0.1 = 3.2, so 1 − 3.2/4.
    expect(n.costSaving95OfBest).toBeCloseTo(0.2, 12);
  });

  test('where the router has no point yet it counts as the cheapest model', () => {
    const n = nModelMetrics(singles, [{ avgCost: 4, avgQuality: 0.8 }]);
    // Router 0.5 below cost 4, Zero 0.5 + 0.1(c − 1); both 0.8 at cost 4.
    const gap = (i: number): number => (i === 59 ? 0 : -0.1 * (4 ** (i / 59) - 1));
    const expected = Array.from({ length: 60 }, (_, i) => gap(i)).reduce((a, b) => a + b) / 60;
    expect(n.gainVsZero).toBeCloseTo(expected, 12);
    expect(n.costSaving95OfBest).toBeCloseTo(0, 12);
  });
});

describe('summary, table and chart', () => {
  const models = ['tiny <&>', 'mid', 'large'];
  const rand = rng(3);
  const rows: LabelledPrediction[] = Array.from({ length: 200 }, () => {
    const hard = rand();
    return {
      p: [1 - hard, 1 - hard / 2, 0.9],
      cost: [0.001, 0.01, 0.2],
      outcome: [hard < 0.4 ? 1 : 0, hard < 0.7 ? 1 : 0, rand() < 0.1 ? null : hard < 0.95 ? 1 : 0],
    };
  });
  const summary = summarize(models, rows);

  test('summary holds every metric the CLI prints', () => {
    expect(summary.twoModel).toBeNull();
    expect(summary.perModel.map((m) => m.model)).toEqual(models);
    expect(summary.perModel[0].auc).toBeCloseTo(1, 12); // p = 1 − hard separates tiny's successes
    expect(summary.nModel.bestModel).toBe('large');
    expect(summary.nModel.gainVsZero).toBeGreaterThan(0);
    expect(summary.oracle.avgCost).toBeLessThan(summary.perModel[2].avgCost);
    const table = formatMetricsTable(summary);
    expect(table).toMatch(/^model\s+avg cost\s+quality\s+AUC/m);
    expect(table).toContain('(oracle)');
    expect(table).toContain('gain');
    expect(table).toMatch(/per-request policy at a few targets[\s\S]*^target\s+avg cost\s+quality\s+share/m);
    expect(table).toMatch(/^0\.70\s/m);
    expect(table).toMatch(/^reliability \(mean predicted → observed success \(rows\), per bin of predicted p\):\n^p\s+tiny <&>\s+mid\s+large$/m);
    const average = formatMetricsTable(summarize(summary.models, rows, { policy: 'average' }));
    expect(average).toMatch(/average policy at a few targets[\s\S]*^target\s+predicted\s+avg cost/m);
  });

  test('a row missing some outcomes is routed among the ones it records, and the table says so', () => {
    // At 0.9 most rows would go to large, whose outcome is missing on about a tenth of them: those go to
    // tiny or mid instead of being left out (which would keep only the rows the policy sent elsewhere).
    const partly = rows.filter((r) => r.outcome[2] === null).length;
    expect(partly).toBeGreaterThan(0);
    expect(summary.partlyKnown).toBe(partly);
    const at90 = summary.operatingPoints.find((o) => o.target === 0.9)!;
    expect(at90).toMatchObject({ used: rows.length, skipped: 0 });
    // Large where mid falls short of 0.9 and large's outcome is known; the other such rows fall back to mid.
    const toLarge = rows.filter((r) => r.outcome[2] !== null && r.p[1] < 0.9).length;
    expect(at90.share.large).toBeCloseTo(toLarge / rows.length, 12);
    const table = formatMetricsTable(summary);
    expect(table).toMatch(/^target\s+avg cost\s+quality\s+share large\s+rows\s+skipped$/m);
    expect(table).toContain(`note: ${partly} of ${rows.length} rows record outcomes of only some of these models; each is routed among the ones it records`);
    expect(table).not.toContain('pooled figures mix them');
    const halves = rows.map((r, i) => ({ ...r, outcome: i % 2 ? [r.outcome[0], r.outcome[1], null] : [null, r.outcome[1], 1] }));
    expect(formatMetricsTable(summarize(models, halves))).toContain('note: most rows record different sets of models, so the pooled figures mix them');
    // Live feedback alone: one outcome a row, nothing to route between.
    const feedback = rows.map((r, i) => ({ ...r, outcome: [0, 1, 2].map((m) => (m === i % 3 ? 1 : null)) }));
    const fb = formatMetricsTable(summarize(models, feedback));
    expect(fb).toContain('note: no row records outcomes of two of these models, so every target routes alike');
    expect(fb).not.toContain('pooled figures mix them');
    const complete = rows.map((r) => ({ ...r, outcome: Array.from(r.outcome, (o) => o ?? 0) }));
    expect(formatMetricsTable(summarize(models, complete))).not.toContain('note:');
    // A row with no outcome at all has nothing to score at any target.
    const none = [...complete, { p: [0.5, 0.5, 0.5], cost: [0.001, 0.01, 0.2], outcome: [null, null, null] }];
    const withNone = summarize(models, none);
    expect(withNone.operatingPoints.every((o) => o.skipped === 1 && o.used === complete.length)).toBe(true);
    expect(formatMetricsTable(withNone)).toContain(`note: 1 of ${none.length} rows record no outcome of these models and are left out`);
  });

  test('routing among recorded models: by hand, under every policy', () => {
    // Per-request at 0.9 would take "other" (cost 5, p 0.95), whose outcome is unknown: it takes dear.
    const row: LabelledPrediction = { p: [0.2, 0.9, 0.95], cost: [1, 10, 5], outcome: [0, 1, null] };
    const at = (policy: 'per-request' | 'near-best' | 'average', target: number) =>
      summarize(['cheap', 'dear', 'other'], [row], { policy }).sweep.filter((p) => p.target <= target + 1e-12).pop()!;
    expect(at('per-request', 0.9)).toMatchObject({ avgCost: 10, avgQuality: 1, used: 1, skipped: 0 });
    expect(summarize(['cheap', 'dear', 'other'], [row], { policy: 'average' }).sweep.every((p) => p.share.other === 0)).toBe(true);
    // Near-best spreads the price range over the models the row may go to, as the router spreads it over
    // its candidates: between cheap (1) and dear (10), at target 0.5 dear must be 0.5 likelier; it is 0.4.
    const two: LabelledPrediction = { p: [0.5, 0.9, 0.99], cost: [1, 10, 1000], outcome: [1, 1, null] };
    const nb = summarize(['cheap', 'dear', 'other'], [two], { policy: 'near-best' });
    const nb50 = nb.sweep.filter((p) => p.target <= 0.5).pop()!;
    expect(nb50).toMatchObject({ avgCost: 1, used: 1 });
    const served = chooseNearBest(
      [
        { model: 'cheap', pSuccess: 0.5, estimatedCost: 1 },
        { model: 'dear', pSuccess: 0.9, estimatedCost: 10 },
      ],
      0.5,
    );
    expect(served.chosen).toBe('cheap');
  });

  test('eval routes among the models the file records: 2 of a classifier\'s 3 are judged as a two-model router', () => {
    const labelled: LabelledRow[] = [0.9, 0.6, 0.3, 0.8].map((pw, i) => ({
      id: `r${i}`,
      prompt: `q${i}`,
      outcomes: { weak: pw > 0.5 ? 1 : 0, strong: 1 },
      costs: {},
      source: null,
    }));
    const prices = { weak: { inputPerMTok: 1, outputPerMTok: 1 }, strong: { inputPerMTok: 10, outputPerMTok: 10 }, extra: { inputPerMTok: 2, outputPerMTok: 2 } };
    const P3 = Float32Array.from([0.9, 0.95, 0.99, 0.6, 0.95, 0.99, 0.3, 0.95, 0.99, 0.8, 0.95, 0.99]);
    const P2 = Float32Array.from([0.9, 0.95, 0.6, 0.95, 0.3, 0.95, 0.8, 0.95]);
    const three = evaluate(['weak', 'strong', 'extra'], P3, labelled, prices);
    const two = evaluate(['weak', 'strong'], P2, labelled, prices);
    expect(three.unscored).toEqual(['extra']);
    expect(three.routing!.models).toEqual(['weak', 'strong']);
    expect(three.routing!.twoModel!.apgr).toBe(two.routing!.twoModel!.apgr);
    expect(three.routing!.sweep.map((p) => [p.avgCost, p.avgQuality])).toEqual(two.routing!.sweep.map((p) => [p.avgCost, p.avgQuality]));
  });

  test('reliability table: each bin reads mean predicted → observed (rows), an empty bin a dot', () => {
    const a = reliability([0.15, 0.15, 0.85, 0.95], [0, 1, 1, 1]);
    const b = reliability([0.05, 0.55, 0.55, 0.55], [0, 1, 0, 0]);
    const lines = formatReliability([{ model: 'a', calibration: a }, { model: 'b', calibration: b }]).split('\n');
    expect(lines).toHaveLength(12);
    expect(lines[1]).toMatch(/^p\s+a\s+b$/);
    expect(lines[2]).toMatch(/^0\.0–0\.1\s+·\s+0\.05 → 0\.00 \(1\)$/);
    expect(lines[3]).toMatch(/^0\.1–0\.2\s+0\.15 → 0\.50 \(2\)\s+·$/);
    expect(lines[7]).toMatch(/^0\.5–0\.6\s+·\s+0\.55 → 0\.33 \(3\)$/);
    expect(lines[10]).toMatch(/^0\.8–0\.9\s+0\.85 → 1\.00 \(1\)\s+·$/);
    expect(lines[11]).toMatch(/^0\.9–1\.0\s+0\.95 → 1\.00 \(1\)\s+·$/);
  });

  test('chart is one well-formed SVG with escaped labels and a log cost axis', () => {
    const svg = renderQualityCostSvg(summary, 'Quality & cost <test>');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('tiny &lt;&amp;&gt;');
    expect(svg).toContain('Quality &amp; cost &lt;test&gt;');
    expect(svg).not.toContain('tiny <&>');
    expect(svg).toContain('(log scale)');
    expect(svg).toContain('stroke-dasharray');
    expect(svg.match(/<circle /g)?.length).toBe(3 + 1); // three models plus the legend dot
    // Every opened element is closed: strip self-closing tags, then opens must match closes.
    const opens = svg.match(/<[a-z]+[^>]*[^/]>/g)?.length ?? 0;
    const closes = svg.match(/<\/[a-z]+>/g)?.length ?? 0;
    expect(opens).toBe(closes);
    expect(svg).not.toMatch(/NaN|undefined/);
  });
});
