import { type TrainMatrix, seededRandom, sigmoid } from '../../training/matrix';

/**
 * n rows of d features uniform in [−1, 1], every outcome known; model j succeeds with probability
 * sigmoid(logits[j](row)). Seeded, so a test's data is the same on every run.
 */
export function logisticRows(n: number, d: number, seed: number, logits: ReadonlyArray<(x: Float32Array) => number>): TrainMatrix {
  const random = seededRandom(seed);
  const m = logits.length;
  const X = new Float32Array(n * d);
  const Y = new Float32Array(n * m);
  const mask = new Float32Array(n * m).fill(1);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) X[i * d + c] = random() * 2 - 1;
    const x = X.subarray(i * d, (i + 1) * d);
    logits.forEach((z, j) => (Y[i * m + j] = random() < sigmoid(z(x)) ? 1 : 0));
  }
  return { n, d, m, X, Y, mask };
}
