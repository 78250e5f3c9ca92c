import { fitSparseLogistic } from '../training/sparse-logistic';
import { forwardLogits, maskedLogLoss } from '../training/network';
import { type TrainMatrix, seededRandom, sigmoid } from '../training/matrix';
import { logisticRows } from './support/synthetic-rows';

/** 12 columns; model 0 depends on column 3 alone, model 1 on columns 7 and 9. */
const data = (n: number, seed: number): TrainMatrix =>
  logisticRows(n, 12, seed, [(x) => 0.5 + 2.5 * x[3], (x) => -2 * x[7] + 1.5 * x[9]]);

const sorted = (a: readonly number[]): number[] => [...a].sort((x, y) => x - y);

describe('sparse logistic regression (forward selection stopped by cross-validated log loss)', () => {
  it('keeps each model’s signal columns and none of the noise columns', () => {
    const train = data(800, 1);
    const { params, selected } = fitSparseLogistic(train, { seed: 3 });
    expect(sorted(selected[0])).toEqual([3]);
    expect(sorted(selected[1])).toEqual([7, 9]);
    // Unselected columns carry exactly zero weight; the kept ones have the generating signs.
    const { W } = params.out;
    for (let c = 0; c < train.d; c++) {
      if (c !== 3) expect(W[c * 2]).toBe(0);
      if (c !== 7 && c !== 9) expect(W[c * 2 + 1]).toBe(0);
    }
    expect(W[3 * 2]).toBeGreaterThan(1.5);
    expect(W[7 * 2 + 1]).toBeLessThan(-1);
    expect(W[9 * 2 + 1]).toBeGreaterThan(0.8);
    // Out of sample it beats the base rate by a clear margin.
    const test = data(2000, 2);
    const P = forwardLogits(params, test.X, test.n).map(sigmoid);
    const base = new Float32Array(test.n * 2);
    for (let j = 0; j < 2; j++) {
      let s = 0;
      for (let r = 0; r < train.n; r++) s += train.Y[r * 2 + j];
      for (let r = 0; r < test.n; r++) base[r * 2 + j] = s / train.n;
    }
    expect(maskedLogLoss(P, test.Y, test.mask)).toBeLessThan(maskedLogLoss(base, test.Y, test.mask) - 0.1);
  });

  it('selects nothing from pure noise and then predicts the base rate', () => {
    const d = data(600, 4);
    const random = seededRandom(9);
    for (let i = 0; i < d.Y.length; i++) d.Y[i] = random() < 0.3 ? 1 : 0;
    const { params, selected } = fitSparseLogistic(d, { seed: 1 });
    expect(selected).toEqual([[], []]);
    for (const z of forwardLogits(params, d.X, 5)) expect(sigmoid(z)).toBeCloseTo(0.3, 1);
  });

  it('ignores outcomes whose mask is 0, and a model with no known outcome gets nothing', () => {
    const a = data(600, 5);
    for (let i = 0; i < a.n; i += 2) a.mask[i * 2] = 0;
    const b = { ...a, Y: Float32Array.from(a.Y) };
    for (let i = 0; i < a.n; i += 2) b.Y[i * 2] = 1 - a.Y[i * 2];
    const fa = fitSparseLogistic(a, { seed: 2 });
    const fb = fitSparseLogistic(b, { seed: 2 });
    expect(fb.selected).toEqual(fa.selected);
    expect(Array.from(fb.params.out.W)).toEqual(Array.from(fa.params.out.W));
    expect(Array.from(fb.params.out.b)).toEqual(Array.from(fa.params.out.b));

    const none = { ...a, mask: Float32Array.from(a.mask) };
    for (let i = 0; i < a.n; i++) none.mask[i * 2 + 1] = 0;
    const f = fitSparseLogistic(none, { seed: 2 });
    expect(f.selected[1]).toEqual([]);
    expect(f.params.out.b[1]).toBe(0);
  });

  it('is deterministic given the seed and uses graded outcomes as soft labels', () => {
    const d = data(500, 6);
    const once = fitSparseLogistic(d, { seed: 7 });
    const again = fitSparseLogistic(d, { seed: 7 });
    expect(Array.from(again.params.out.W)).toEqual(Array.from(once.params.out.W));
    // Soft labels at the generating probability carry the same signal as sampled 0/1 outcomes.
    const soft = { ...d, Y: new Float32Array(d.Y.length) };
    for (let i = 0; i < d.n; i++) {
      soft.Y[i * 2] = sigmoid(0.5 + 2.5 * d.X[i * d.d + 3]);
      soft.Y[i * 2 + 1] = sigmoid(-2 * d.X[i * d.d + 7] + 1.5 * d.X[i * d.d + 9]);
    }
    const s = fitSparseLogistic(soft, { seed: 7, ridge: 0 });
    expect(sorted(s.selected[0])).toEqual([3]);
    expect(s.params.out.W[3 * 2]).toBeCloseTo(2.5, 1);
    expect(s.params.out.b[0]).toBeCloseTo(0.5, 1);
  });
});
