// One classifier per kind of prompt behind a gate read from the prompt's features: trained on a mix where
// the same feature means opposite things for two kinds, the gated classifier serves both and one cannot.
import path from 'node:path';
import { MIN_EXPERT_ROWS, expertKinds, sourceKind, trainRouterClassifier } from '../training/experts';
import { type GatedSpec, gateKinds, isGated, predictSpec } from '../training/train-classifier';
import { exportClassifierOnnx } from '../training/export-onnx';
import { writeClassifierVersion } from '../training/classifier-writer';
import { loadOnnxClassifier } from '../src/routing/onnx-classifier';
import { type TrainMatrix, seededRandom } from '../training/matrix';
import { wordSlots } from '../src/routing/word-features';
import { makeTempDir } from './support/temp-dir';

const SLOTS = 16;
const BUCKETS = 1024;

/**
 * Rows [x, noise, topic, word slots]. Kind "algebra" prompts say "solve" and sit at topic ≈ +1; there the
 * weak model succeeds when x > 0.5. Kind "trivia" prompts say "name" and sit at topic ≈ −1; there it
 * succeeds when x < 0.5. The strong model always does.
 */
function mixed(n: number, seed: number): { data: TrainMatrix; sources: (string | null)[] } {
  const random = seededRandom(seed);
  const d = 3 + 2 * SLOTS;
  const X = new Float32Array(n * d);
  const Y = new Float32Array(n * 2);
  const mask = new Float32Array(n * 2).fill(1);
  const filler = ['please', 'the', 'of', 'this', 'about', 'quick', 'short', 'answer'];
  const sources: (string | null)[] = [];
  for (let i = 0; i < n; i++) {
    const algebra = i % 2 === 0;
    const x = random();
    const words = [algebra ? 'solve' : 'name', ...Array.from({ length: 4 }, () => filler[Math.floor(random() * filler.length)])];
    X[i * d] = x;
    X[i * d + 1] = random();
    X[i * d + 2] = (algebra ? 1 : -1) + (random() - 0.5) * 0.6;
    X.set(wordSlots(words.join(' '), SLOTS, BUCKETS), i * d + 3);
    Y[i * 2] = (algebra ? x > 0.5 : x < 0.5) ? 1 : 0;
    Y[i * 2 + 1] = 1;
    sources.push(algebra ? `algebra/set-${i % 3}` : 'trivia');
  }
  return { data: { n, d, m: 2, X, Y, mask }, sources };
}

/** Share of rows whose weak-model probability falls on the right side of 0.5. */
function weakAccuracy(P: Float32Array, data: TrainMatrix): number {
  let right = 0;
  for (let i = 0; i < data.n; i++) if ((P[i * 2] > 0.5) === (data.Y[i * 2] === 1)) right++;
  return right / data.n;
}

const options = (sources: (string | null)[]) => ({
  sources, models: ['weak', 'strong'], embeddingDim: 3, wordSlots: SLOTS, wordBuckets: BUCKETS, seed: 1, learners: ['logistic'],
});

describe('one classifier per kind of prompt, behind a gate read from the prompt', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());

  it('kinds are the first segment of the source, with enough rows, largest first', () => {
    expect(sourceKind('mmlu/anatomy')).toBe('mmlu');
    expect(sourceKind('gsm8k')).toBe('gsm8k');
    expect(sourceKind(null)).toBeNull();
    expect(sourceKind('')).toBeNull();
    expect(expertKinds(['b', 'a', 'b', null, 'c', 'a', 'b'], 2)).toEqual(['b', 'a']);
    expect(expertKinds(['b', 'a', 'a', 'b'], 2)).toEqual(['a', 'b']);
    // Rows 0, 2 (a) know both models; rows 1, 3 (b) only the first: b has no outcome of the second.
    const mask = Float32Array.from([1, 1, 1, 0, 1, 1, 1, 0]);
    expect(expertKinds(['a', 'b', 'a', 'b'], 2, { mask, m: 2, minOutcomes: 1 })).toEqual(['a']);
    expect(expertKinds(['a', 'b', 'a', 'b'], 2, { mask, m: 2, minOutcomes: 0 })).toEqual(['a', 'b']);
  });

  it('serves each kind its own classifier where one classifier cannot, and ONNX matches the trainer', async () => {
    const train = mixed(2 * MIN_EXPERT_ROWS + 100, 1);
    const test = mixed(400, 2);
    const gated = await trainRouterClassifier(train.data, options(train.sources));
    expect(isGated(gated.spec)).toBe(true);
    expect(gated.learner).toMatch(/^experts\(algebra: logistic\(l2=[\d.e-]+\); trivia: logistic\(l2=[\d.e-]+\)\)$/);
    // The gate reads the kind of prompts it has not seen.
    const kinds = await gateKinds(gated.spec as GatedSpec, test.data.X, test.data.n);
    expect(Array.from(kinds).every((k, i) => k === (i % 2 === 0 ? 0 : 1))).toBe(true);
    const P = await predictSpec(gated.spec, test.data.X, test.data.n);
    expect(weakAccuracy(P, test.data)).toBeGreaterThan(0.9);
    // Out-of-fold predictions line up with the training rows.
    expect(weakAccuracy(gated.outOfFold, train.data)).toBeGreaterThan(0.9);

    const single = await trainRouterClassifier(train.data, { ...options(train.sources), minExpertRows: Infinity });
    expect(isGated(single.spec)).toBe(false);
    expect(weakAccuracy(await predictSpec(single.spec, test.data.X, test.data.n), test.data)).toBeLessThan(0.7);

    const dir = writeClassifierVersion(
      path.join(tmp.dir, 'gated'),
      { format: 'switchyard-classifier/1', version: 'v0001', createdAt: new Date(0).toISOString(), models: ['weak', 'strong'], embedder: { id: 'synthetic', dimension: test.data.d } },
      exportClassifierOnnx(gated.spec),
    );
    const onnx = await loadOnnxClassifier(dir, { expectEmbedderId: 'synthetic' });
    try {
      const got = await onnx.predict(test.data.X, test.data.n);
      let maxDiff = 0;
      for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - P[i]));
      expect(maxDiff).toBeLessThan(1e-4);
    } finally {
      await onnx.dispose();
    }

    // Refitted on other rows, each expert takes the rows the gate sends it and still serves its kind.
    const refitted = await gated.refit(test.data);
    expect(weakAccuracy(await predictSpec(refitted, train.data.X, train.data.n), train.data)).toBeGreaterThan(0.9);
    // Given the rows' sources, the gate is refitted on them too (as retrain does on every stored row): a
    // new gate with the same kinds, still reading them right, and the experts still serving their kind.
    const regated = await gated.refit(test.data, test.sources);
    if (!isGated(regated) || !isGated(gated.spec)) throw new Error('expected gated classifiers');
    expect(regated.kinds).toEqual(gated.spec.kinds);
    expect(JSON.stringify(regated.gate)).not.toEqual(JSON.stringify(gated.spec.gate));
    const kindsOfTest = await gateKinds(regated, test.data.X, test.data.n);
    expect(test.sources.every((s, i) => regated.kinds[kindsOfTest[i]] === s!.split('/')[0])).toBe(true);
    expect(weakAccuracy(await predictSpec(regated, train.data.X, train.data.n), train.data)).toBeGreaterThan(0.9);
    await expect(gated.refit(test.data, test.sources.slice(1))).rejects.toThrow(/refit: \d+ sources for \d+ rows/);
  });

  it('rows without a source go where the gate sends them; a single kind gets one classifier', async () => {
    const train = mixed(2 * MIN_EXPERT_ROWS + 200, 3);
    // A fifth of the rows lost their source (feedback from live traffic has none).
    const sources = train.sources.map((s, i) => (i % 5 === 0 ? null : s));
    const gated = await trainRouterClassifier(train.data, options(sources));
    expect(isGated(gated.spec)).toBe(true);
    expect(weakAccuracy(gated.outOfFold, train.data)).toBeGreaterThan(0.9);

    const one = await trainRouterClassifier(train.data, options(train.sources.map((s) => (s === 'trivia' ? null : s))));
    expect(isGated(one.spec)).toBe(false);
    // A kind with no outcomes of the strong model gets no classifier of its own: one classifier, which
    // carries over what the other kind saw of that model.
    const mask = train.data.mask.map((v, k) => (Math.floor(k / 2) % 2 === 1 && k % 2 === 1 ? 0 : v));
    const partial = await trainRouterClassifier({ ...train.data, mask }, options(train.sources));
    expect(isGated(partial.spec)).toBe(false);
    await expect(trainRouterClassifier(train.data, options(['algebra']))).rejects.toThrow(/1 sources for 800 rows/);
  });
});
