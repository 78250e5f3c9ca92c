// Bootstrap intervals of the headline metrics: resampling, percentiles, and intervals that are as wide as
// the sampling noise of a set that size says they should be.
import {
  bootstrapIntervals, defaultResamples, formatIntervals, intervalLine, inverseNormalCdf, normalCdf, quantileSorted, resampleRows, skippedIntervalLine,
} from '../training/bootstrap';
import type { LabelledRow } from '../training/dataset';
import { evaluate, headline, headlineIntervals, intervalMetrics } from '../training/evaluate';
import { seededRandom } from '../src/util/seeded-random';

describe('bootstrap pieces', () => {
  it('draws n row indices with replacement, the same for the same seed', () => {
    const a = resampleRows(1000, seededRandom(5));
    expect(a).toHaveLength(1000);
    expect(a.every((i) => Number.isInteger(i) && i >= 0 && i < 1000)).toBe(true);
    expect(resampleRows(1000, seededRandom(5))).toEqual(a);
    // With replacement: about 1 − 1/e of the rows appear (632 of 1000), not all of them.
    expect(new Set(a).size).toBeGreaterThan(590);
    expect(new Set(a).size).toBeLessThan(675);
  });

  it('reads quantiles linearly between order statistics', () => {
    expect(quantileSorted([1, 2, 3, 4], 0)).toBe(1);
    expect(quantileSorted([1, 2, 3, 4], 1)).toBe(4);
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([10, 20], 0.25)).toBe(12.5);
    expect(quantileSorted([7], 0.9)).toBe(7);
    expect(quantileSorted([], 0.5)).toBeNaN();
  });
});

describe('normal distribution', () => {
  it('matches the tables and inverts', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-1)).toBeCloseTo(0.158655, 6);
    expect(inverseNormalCdf(0.975)).toBeCloseTo(1.959964, 5);
    expect(inverseNormalCdf(0.3)).toBeCloseTo(-0.524401, 5);
    expect(inverseNormalCdf(0.001)).toBeCloseTo(-3.090232, 5);
    for (const p of [0.0001, 0.02, 0.3, 0.5, 0.9, 0.999]) expect(normalCdf(inverseNormalCdf(p))).toBeCloseTo(p, 6);
    expect(() => inverseNormalCdf(1)).toThrow(/needs p in \(0, 1\), got 1/);
  });
});

describe('bootstrapIntervals', () => {
  const mean = (xs: number[], idx: number[]): number => idx.reduce((a, i) => a + xs[i], 0) / idx.length;

  it('gives the normal-theory width for a success rate: ±1.96·√(p(1−p)/n)', () => {
    // 400 rows, half successes: the rate's 95% interval is 0.5 ± 0.049.
    const y = Array.from({ length: 400 }, (_, i) => i % 2);
    const iv = bootstrapIntervals(400, { rate: 0.5 }, (idx) => ({ rate: mean(y, idx) }), { resamples: 1000, seed: 1 }).rate!;
    expect(iv.defined).toBe(1000);
    expect(iv.lo).toBeGreaterThan(0.445);
    expect(iv.lo).toBeLessThan(0.465);
    expect(iv.hi).toBeGreaterThan(0.535);
    expect(iv.hi).toBeLessThan(0.555);
  });

  it('corrects for bias: the set’s own figure low among the resamples’ moves both ends down', () => {
    // Resamples score 0, 0.001, …, 0.999 (in some order); the set itself 0.3 (the first call) or 0.5.
    const resamples = () => {
      let call = 0;
      return () => ({ m: ((++call * 379) % 1000) / 1000 });
    };
    // 0.5 is in the middle (z0 = 0): the plain 2.5% and 97.5% percentiles of 0 … 0.999.
    const middle = bootstrapIntervals(10, { m: 0.5 }, resamples(), { resamples: 1000, seed: 1 }).m!;
    expect(middle.lo).toBeCloseTo(0.025 * 0.999, 3);
    expect(middle.hi).toBeCloseTo(0.975 * 0.999, 3);
    // 0.3: 300.5 of 1,000 resamples below it, z0 = Φ⁻¹(0.3005) = −0.5228; the ends are the resamples'
    // Φ(2·z0 ∓ 1.96) = 0.13% and 82.0% percentiles.
    const low = bootstrapIntervals(10, { m: 0.3 }, resamples(), { resamples: 1000, seed: 1 }).m!;
    expect(low.lo).toBeCloseTo(0.001325 * 0.999, 3);
    expect(low.hi).toBeCloseTo(0.8197 * 0.999, 3);
    // A figure undefined on the set itself has no interval.
    expect(bootstrapIntervals(10, { m: NaN }, resamples(), { resamples: 100, seed: 1 }).m).toBeNull();
    expect(bootstrapIntervals(10, {}, resamples(), { resamples: 100, seed: 1 }).m).toBeNull();
  });

  it('is a point for a metric that does not depend on the rows, and the same for the same seed', () => {
    const constant = bootstrapIntervals(50, { c: 0.7 }, () => ({ c: 0.7 }), { resamples: 50, seed: 3 });
    expect(constant.c).toEqual({ lo: 0.7, hi: 0.7, defined: 50 });
    const y = Array.from({ length: 60 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
    const run = (seed: number) => bootstrapIntervals(60, { rate: mean(y, y.map((_, i) => i)) }, (idx) => ({ rate: mean(y, idx) }), { resamples: 100, seed });
    expect(run(9)).toEqual(run(9));
    expect(run(9)).not.toEqual(run(10));
  });

  it('gives null for a metric undefined on most resamples, and skips undefined draws otherwise', () => {
    let k = 0;
    const iv = bootstrapIntervals(10, { rare: 1, often: 2 }, () => ({ rare: k++ % 4 === 0 ? 1 : null, often: k % 4 === 0 ? NaN : 2 }), { resamples: 100, seed: 1 });
    expect(iv.rare).toBeNull();
    expect(iv.often).toEqual({ lo: 2, hi: 2, defined: 75 });
  });

  it('refuses too few resamples and a level outside (0, 1)', () => {
    expect(() => bootstrapIntervals(10, {}, () => ({}), { resamples: 10, seed: 1 })).toThrow(/resamples must be a whole number ≥ 20, got 10/);
    expect(() => bootstrapIntervals(10, {}, () => ({}), { resamples: 20, seed: 1, level: 1 })).toThrow(/level must be between 0 and 1, got 1/);
    expect(bootstrapIntervals(0, { a: 1 }, () => ({ a: 1 }), { resamples: 20, seed: 1 })).toEqual({});
  });
});

describe('formatting', () => {
  it('prints rates as percentages, gain with its sign, and leaves out metrics without an interval', () => {
    const text = formatIntervals({
      apgr: { lo: 0.6134, hi: 0.7231, defined: 200 },
      cpt50: { lo: 0.245, hi: 0.358, defined: 200 },
      gainVsZero: { lo: -0.0042, hi: 0.0417, defined: 200 },
      costSaving95: null,
    }, ['apgr', 'cpt50', 'costSaving95', 'gainVsZero']);
    expect(text).toBe('APGR 0.613 to 0.723; CPT(50%) 24.5% to 35.8%; gain vs Zero -0.004 to +0.042');
    expect(intervalLine({}, 200, 12)).toBe('95% interval (200 bootstrap resamples of these 12 rows: the noise of a set this size, predictions held fixed): n/a');
  });
});

describe('defaultResamples', () => {
  it('draws 200 up to 50,000 rows × models and none past that, saying how to ask for it', () => {
    expect(defaultResamples(923, 2)).toBe(200);
    expect(defaultResamples(25_000, 2)).toBe(200);
    expect(defaultResamples(25_001, 2)).toBe(0);
    expect(defaultResamples(4_545, 11)).toBe(200);
    expect(defaultResamples(4_546, 11)).toBe(0);
    expect(skippedIntervalLine(30_000, 2, 'pass --interval 200 to draw it')).toBe(
      '95% interval: not drawn by default for 30000 rows × 2 models (each of 200 resamples re-scores the whole set); pass --interval 200 to draw it',
    );
  });
});

describe('headlineIntervals', () => {
  // Two models: the weak one fails where the prompt says so, and the predictions know it, noisily.
  const rowsOf = (n: number, seed: number): { rows: LabelledRow[]; P: Float32Array } => {
    const random = seededRandom(seed);
    const rows: LabelledRow[] = [];
    const P = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      const hard = random() < 0.4;
      const weak = random() < (hard ? 0.3 : 0.85) ? 1 : 0;
      const strong = random() < 0.9 ? 1 : 0;
      rows.push({ id: `r${i}`, prompt: `prompt ${i}`, source: null, outcomes: { weak, strong }, costs: {} });
      P[i * 2] = hard ? 0.35 + 0.3 * random() : 0.6 + 0.3 * random();
      P[i * 2 + 1] = 0.9;
    }
    return { rows, P };
  };
  const prices = { weak: { inputPerMTok: 1, outputPerMTok: 1 }, strong: { inputPerMTok: 20, outputPerMTok: 20 } };

  it('holds the figure measured on all rows, and narrows as √n when the same rows count four times', () => {
    const { rows, P } = rowsOf(300, 4);
    const e = evaluate(['weak', 'strong'], P, rows, prices);
    expect(intervalMetrics(e)).toEqual(['apgr', 'cpt50', 'costSaving95']);
    const apgr = headline(e).apgr!;
    const iv = headlineIntervals(['weak', 'strong'], P, rows, prices, { resamples: 200, seed: 1 }).apgr!;
    expect(iv.lo).toBeLessThan(apgr);
    expect(iv.hi).toBeGreaterThan(apgr);
    // Four copies of every row: the same figure, from a set four times the size.
    const fourfold = [...rows, ...rows, ...rows, ...rows];
    const P4 = new Float32Array(P.length * 4);
    for (let k = 0; k < 4; k++) P4.set(P, k * P.length);
    const iv4 = headlineIntervals(['weak', 'strong'], P4, fourfold, prices, { resamples: 200, seed: 1 }).apgr!;
    const ratio = (iv4.hi - iv4.lo) / (iv.hi - iv.lo);
    expect(ratio).toBeGreaterThan(0.35);
    expect(ratio).toBeLessThan(0.7);
  });

  it('names the N-model metrics for more than two models', () => {
    const rows: LabelledRow[] = Array.from({ length: 30 }, (_, i) => ({
      id: `r${i}`, prompt: `p${i}`, source: null, outcomes: { a: i % 2, b: i % 3 === 0 ? 0 : 1, c: 1 }, costs: {},
    }));
    const P = Float32Array.from(rows.flatMap((r) => [r.outcomes.a * 0.6 + 0.2, r.outcomes.b * 0.6 + 0.2, 0.9]));
    const three = { a: { inputPerMTok: 1, outputPerMTok: 1 }, b: { inputPerMTok: 3, outputPerMTok: 3 }, c: { inputPerMTok: 9, outputPerMTok: 9 } };
    const e = evaluate(['a', 'b', 'c'], P, rows, three);
    expect(intervalMetrics(e)).toEqual(['gainVsZero', 'costSaving95OfBest']);
    const iv = headlineIntervals(['a', 'b', 'c'], P, rows, three, { resamples: 50, seed: 2 });
    expect(iv.gainVsZero!.lo).toBeLessThanOrEqual(iv.gainVsZero!.hi);
    expect(iv.apgr).toBeNull();
  });
});
