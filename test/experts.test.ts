// One classifier per kind of prompt behind a gate read from the prompt's features: trained on a mix where
// the same feature means opposite things for two kinds, the gated classifier serves both and one cannot.
import path from 'node:path';
import { MIN_EXPERT_ROWS, expertKinds, sourceKind, trainRouterClassifier } from '../training/experts';
import { type GatedSpec, gateKinds, isGated, modelExperts, predictSpec } from '../training/classifier-spec';
import { exportClassifierOnnx } from '../training/export-onnx';
import { writeClassifierVersion } from '../training/classifier-writer';
import { loadOnnxClassifier } from '../src/routing/onnx-classifier';
import { type TrainMatrix, pickRows, seededRandom } from '../training/matrix';
import { wordSlots } from '../src/routing/word-features';
import { makeTempDir } from './support/temp-dir';
import { FEEDBACK_SOURCE } from '../src/inspection/feedback';

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
    // Live feedback (src/inspection/feedback.ts) names where an outcome came from, not a kind of prompt:
    // however many rows it has, it founds no classifier of its own.
    expect(sourceKind(FEEDBACK_SOURCE)).toBeNull();
    expect(expertKinds([...Array<string>(5).fill(FEEDBACK_SOURCE), 'quiz/a', 'quiz/b'].map(sourceKind), 2)).toEqual(['quiz']);
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
    const { spec: refitted } = await gated.refit({ rows: test.data });
    expect(weakAccuracy(await predictSpec(refitted, train.data.X, train.data.n), train.data)).toBeGreaterThan(0.9);
    // Given the rows' sources, the gate is refitted on them too (as retrain does on every stored row): a
    // new gate with the same kinds, still reading them right, and the experts still serving their kind.
    const rechosen = await gated.refit({ rows: test.data, sources: test.sources, rechoose: true });
    const regated = rechosen.spec;
    if (!isGated(regated) || !isGated(gated.spec)) throw new Error('expected gated classifiers');
    expect(regated.kinds).toEqual(gated.spec.kinds);
    expect(JSON.stringify(regated.gate)).not.toEqual(JSON.stringify(gated.spec.gate));
    const kindsOfTest = await gateKinds(regated, test.data.X, test.data.n);
    expect(test.sources.every((s, i) => regated.kinds[kindsOfTest[i]] === s!.split('/')[0])).toBe(true);
    expect(weakAccuracy(await predictSpec(regated, train.data.X, train.data.n), train.data)).toBeGreaterThan(0.9);
    // Each kind's set is small, so each expert's learner was chosen afresh on what the gate gave it: the
    // refit is what training on those rows gives (200 of each kind here, so the bar for a kind is lowered).
    const again = await trainRouterClassifier(test.data, { ...options(test.sources), minExpertRows: 150 });
    expect(regated).toEqual(again.spec);
    // And so are its out-of-fold predictions, which the average policy's reference is built from.
    expect(rechosen.outOfFold).toEqual(again.outOfFold);
    // A refit that keeps the choice has none: the twin's stand.
    expect((await gated.refit({ rows: test.data, sources: test.sources })).outOfFold).toBeUndefined();
    await expect(gated.refit({ rows: test.data, sources: test.sources.slice(1) })).rejects.toThrow(/refit: \d+ sources for \d+ rows/);
  });

  it('sources that only split one kind of prompt (by customer, by subject) get one classifier: the probe says so', async () => {
    // Every row is an algebra prompt with a noisy label; the sources cut the rows in two at random. Per
    // kind, each classifier learns the same thing from half the rows.
    const train = mixed(6 * MIN_EXPERT_ROWS, 5);
    const random = seededRandom(7);
    const rows: number[] = [];
    for (let i = 0; i < train.data.n; i += 2) rows.push(i);
    const algebra = { ...train.data, n: rows.length, X: pickRows(train.data.X, rows, train.data.d), Y: pickRows(train.data.Y, rows, 2), mask: pickRows(train.data.mask, rows, 2) };
    for (let i = 0; i < algebra.n; i++) if (random() < 0.25) algebra.Y[i * 2] = 1 - algebra.Y[i * 2];
    const byCustomer = rows.map(() => (random() < 0.5 ? 'customer-a/q' : 'customer-b/q'));
    const lines: string[] = [];
    const one = await trainRouterClassifier(algebra, { ...options(byCustomer), onProgress: (l) => lines.push(l) });
    expect(isGated(one.spec)).toBe(false);
    expect(lines.join('\n')).toMatch(/One classifier per kind does not route better than one over every kind \(logistic\(l2=0\.01\) out of fold: -?[\d.]+ per kind, -?[\d.]+ over every kind\): one classifier over every kind/);
    // Asked to, it splits them all the same.
    expect(isGated((await trainRouterClassifier(algebra, { ...options(byCustomer), forceExperts: true })).spec)).toBe(true);

    // Kinds that hold under half the rows with a source: the sources are finer than kinds of prompt.
    const fine = mixed(5 * MIN_EXPERT_ROWS, 6);
    const fineSources = fine.sources.map((s, i) => (i < 2 * MIN_EXPERT_ROWS ? s : `subject-${i % 40}/q`));
    const fineLines: string[] = [];
    const fineOne = await trainRouterClassifier(fine.data, { ...options(fineSources), onProgress: (l) => fineLines.push(l) });
    expect(isGated(fineOne.spec)).toBe(false);
    expect(fineLines.join('\n')).toMatch(/\(algebra, trivia\) hold 600 of the 1500 rows with a source \(under 50%\): the sources are finer than kinds of prompt; one classifier over every kind/);

    // A kind whose rows each record one model (rated answers) has no curve to read: it is judged by log loss.
    const rated = mixed(3 * MIN_EXPERT_ROWS, 8);
    const ratedMask = rated.data.mask.map((v, k) => (rated.sources[Math.floor(k / 2)] === 'trivia' && k % 2 === Math.floor(k / 4) % 2 ? 0 : v));
    const ratedLines: string[] = [];
    const costs = new Float64Array(rated.data.n * 2).map((_, k) => (k % 2 === 0 ? 1 : 10));
    const ratedGated = await trainRouterClassifier({ ...rated.data, mask: ratedMask }, { ...options(rated.sources), costs, onProgress: (l) => ratedLines.push(l) });
    expect(isGated(ratedGated.spec)).toBe(true);
    expect(ratedLines.join('\n')).toMatch(/routes better than one over every kind \(logistic\(l2=0\.01\) out of fold: -?\d\.\d{4} per kind, -?\d\.\d{4} over every kind\)/);

    // Where the kinds differ, the probe reads it and says so.
    const mixedLines: string[] = [];
    const gated = await trainRouterClassifier(train.data, { ...options(train.sources), onProgress: (l) => mixedLines.push(l) });
    expect(isGated(gated.spec)).toBe(true);
    expect(mixedLines.join('\n')).toMatch(/One classifier per kind routes better than one over every kind/);
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
    // A kind with no outcomes of the strong model records one model: nothing to route between, so no
    // classifier of its own; with one kind left, one classifier, which carries over what the other kind saw.
    const mask = train.data.mask.map((v, k) => (Math.floor(k / 2) % 2 === 1 && k % 2 === 1 ? 0 : v));
    const partial = await trainRouterClassifier({ ...train.data, mask }, options(train.sources));
    expect(isGated(partial.spec)).toBe(false);
    await expect(trainRouterClassifier(train.data, options(['algebra']))).rejects.toThrow(/1 sources for 800 rows/);
  });

  it('kinds that record different models: each expert learns its own, the others come from the kind that records them', async () => {
    // Three models: algebra rows record weak and strong, trivia rows weak and other (as MMLU's rows record
    // GPT-4 and Mixtral, RouterBench's eleven others). Other succeeds when the noise column is above 0.3.
    const withOther = (n: number, seed: number): { data: TrainMatrix; sources: (string | null)[] } => {
      const base = mixed(n, seed);
      const Y = new Float32Array(n * 3);
      const mask = new Float32Array(n * 3);
      for (let i = 0; i < n; i++) {
        const algebra = i % 2 === 0;
        Y.set([base.data.Y[i * 2], base.data.Y[i * 2 + 1], base.data.X[i * base.data.d + 1] > 0.3 ? 1 : 0], i * 3);
        mask.set([1, algebra ? 1 : 0, algebra ? 0 : 1], i * 3);
      }
      return { data: { ...base.data, m: 3, Y, mask }, sources: base.sources };
    };
    const train = withOther(2 * MIN_EXPERT_ROWS + 100, 4);
    const test = withOther(400, 5);
    const opts = { ...options(train.sources), models: ['weak', 'strong', 'other'] };
    const lines: string[] = [];
    const gated = await trainRouterClassifier(train.data, { ...opts, onProgress: (l) => lines.push(l) });
    if (!isGated(gated.spec)) throw new Error('expected a gated classifier');
    expect(gated.spec.kinds).toEqual(['algebra', 'trivia']);
    expect(gated.spec.experts.map((x) => x.models)).toEqual([['weak', 'strong'], ['weak', 'other']]);
    // Weak is predicted by both experts (a row takes its kind's), strong by algebra's only, other by trivia's.
    expect(modelExperts(gated.spec)).toEqual([
      [{ expert: 0, column: 0 }, { expert: 1, column: 0 }],
      [{ expert: 0, column: 1 }],
      [{ expert: 1, column: 1 }],
    ]);
    expect(lines).toContain('Classifier for trivia (350 rows; its models: weak, other):');
    // Each kind's weak model is its own expert's; other is learned on trivia and served on algebra too.
    const P = await predictSpec(gated.spec, test.data.X, test.data.n);
    const right = (j: number, rows: (i: number) => boolean, truth: (i: number) => number): number => {
      const idx = Array.from({ length: test.data.n }, (_, i) => i).filter(rows);
      return idx.filter((i) => (P[i * 3 + j] > 0.5) === (truth(i) === 1)).length / idx.length;
    };
    expect(right(0, () => true, (i) => test.data.Y[i * 3])).toBeGreaterThan(0.9);
    expect(right(2, (i) => i % 2 === 0, (i) => (test.data.X[i * test.data.d + 1] > 0.3 ? 1 : 0))).toBeGreaterThan(0.9);
    expect(Math.min(...Array.from({ length: test.data.n }, (_, i) => P[i * 3 + 1]))).toBeGreaterThan(0.5); // strong always succeeds
    // Out of fold, every model of every row has a probability, the borrowed ones included.
    expect(Array.from(gated.outOfFold).every((v) => v > 0 && v < 1)).toBe(true);

    const dir = writeClassifierVersion(
      path.join(tmp.dir, 'covered'),
      { format: 'switchyard-classifier/1', version: 'v0001', createdAt: new Date(0).toISOString(), models: ['weak', 'strong', 'other'], embedder: { id: 'synthetic', dimension: test.data.d } },
      exportClassifierOnnx(gated.spec),
    );
    const onnx = await loadOnnxClassifier(dir, { expectEmbedderId: 'synthetic' });
    try {
      const got = await onnx.predict(test.data.X, test.data.n);
      expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - P[i])))).toBeLessThan(1e-4);
    } finally {
      await onnx.dispose();
    }
    const { spec: refitted } = await gated.refit({ rows: test.data, sources: test.sources });
    if (!isGated(refitted)) throw new Error('expected a gated classifier');
    expect(refitted.experts.map((x) => x.models)).toEqual([['weak', 'strong'], ['weak', 'other']]);

    // Feedback without a source on algebra-looking prompts, answered by other: trivia's expert serves other
    // there, so it learns from them (and algebra's, which does not predict other, does not hold them).
    const fed = { ...train.data, mask: train.data.mask.slice() };
    const fedSources = train.sources.map((src, i) => (i % 2 === 0 && i < 80 ? null : src));
    for (let i = 0; i < 80; i += 2) fed.mask.set([0, 0, 1], i * 3);
    const fedLines: string[] = [];
    const withFeedback = await trainRouterClassifier(fed, { ...opts, sources: fedSources, onProgress: (l) => fedLines.push(l) });
    expect(fedLines).toContain('Classifier for algebra (310 rows; its models: weak, strong):');
    expect(fedLines).toContain('Classifier for trivia (390 rows; its models: weak, other):');
    expect(Array.from(withFeedback.outOfFold).every((v) => v > 0 && v < 1)).toBe(true);

    // A model no kind records enough of leaves nothing to serve it from: one classifier. Here both kinds
    // record weak and strong, and other is known on 20 rows only.
    const orphan = train.data.mask.map((_, k) => (k % 3 < 2 || k < 60 ? 1 : 0));
    const single = await trainRouterClassifier({ ...train.data, mask: orphan }, { ...opts, onProgress: (l) => lines.push(l) });
    expect(isGated(single.spec)).toBe(false);
    expect(lines).toContain('No kind of prompt records 50 outcomes of other: one classifier over every kind');
  });
});
