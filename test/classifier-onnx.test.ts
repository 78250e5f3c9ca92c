import path from 'node:path';
import { type ClassifierSpec, predictSpec } from '../training/classifier-spec';
import { routingGroups } from '../training/learner-selection';
import { trainClassifier } from '../training/train-classifier';
import { exportClassifierOnnx } from '../training/export-onnx';
import { buildReference, writeClassifierVersion } from '../training/classifier-writer';
import { REFERENCE_FILE } from '../src/routing/classifier-reference';
import fs from 'node:fs';
import { seededRandom } from '../training/matrix';
import { loadOnnxClassifier } from '../src/routing/onnx-classifier';
import { ModelMismatchError } from '../src/errors';
import type { TrainMatrix } from '../training/matrix';
import { makeTempDir } from './support/temp-dir';
import { buildModel, floatTensor, node, serializeModel, valueInfo } from '../src/onnx/onnx-builder';
import { ConfigError } from '../src/errors';
import { wordSlots } from '../src/routing/word-features';

/**
 * Rows [2-d noise, 16 word slots over 1024 buckets] for prompts that differ only in words: "weak"
 * succeeds when the prompt says "easy"; "strong" always, with a third of its outcomes unknown.
 */
function wordy(n: number, seed: number): { data: TrainMatrix; slots: number; buckets: number } {
  const random = seededRandom(seed);
  const slots = 16;
  const buckets = 1024;
  const d = 2 + 2 * slots;
  const X = new Float32Array(n * d);
  const Y = new Float32Array(n * 2);
  const mask = new Float32Array(n * 2).fill(1);
  const filler = ['please', 'answer', 'the', 'question', 'about', 'cats', 'dogs', 'rivers'];
  for (let i = 0; i < n; i++) {
    const easy = i % 2 === 0;
    const words = Array.from({ length: 5 }, () => filler[Math.floor(random() * filler.length)]);
    words.splice(Math.floor(random() * 5), 0, easy ? 'easy' : 'hard');
    X[i * d] = random();
    X[i * d + 1] = random();
    X.set(wordSlots(words.join(' '), slots, buckets), i * d + 2);
    Y[i * 2] = easy ? 1 : 0;
    // Unknown outcomes are recorded as failures here: the mask must keep them out of the loss.
    Y[i * 2 + 1] = i % 3 === 1 ? 0 : 1;
    if (i % 3 === 1) mask[i * 2 + 1] = 0;
  }
  return { data: { n, d, m: 2, X, Y, mask }, slots, buckets };
}

/** Two clusters on the unit sphere; model "weak" succeeds only on cluster A, "strong" on both. */
function separable(n: number, d: number, seed: number): TrainMatrix {
  const random = seededRandom(seed);
  const X = new Float32Array(n * d);
  const Y = new Float32Array(n * 2);
  const mask = new Float32Array(n * 2).fill(1);
  for (let i = 0; i < n; i++) {
    const a = i % 2 === 0;
    let norm = 0;
    for (let c = 0; c < d; c++) {
      const centre = c === 0 ? (a ? 1 : -1) : 0;
      X[i * d + c] = centre + (random() - 0.5) * 0.6;
      norm += X[i * d + c] ** 2;
    }
    for (let c = 0; c < d; c++) X[i * d + c] /= Math.sqrt(norm);
    Y[i * 2] = a ? 1 : 0;
    Y[i * 2 + 1] = 1;
    // Some outcomes unknown: they must not count as failures.
    if (i % 7 === 3) mask[i * 2 + 1] = 0;
  }
  return { n, d, m: 2, X, Y, mask };
}

describe('success classifier: train → ONNX → onnxruntime', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());

  /** Writes the spec as a classifier version, runs it on onnxruntime, and compares with the trainer's own predictions. */
  async function roundTrip(spec: ClassifierSpec, data: TrainMatrix, name: string, features?: { kind: string; dimension: number }): Promise<{ got: Float32Array; maxDiff: number }> {
    const expected = await predictSpec(spec, data.X, data.n);
    const dir = writeClassifierVersion(
      path.join(tmp.dir, name.replace('+', '-')),
      {
        format: 'switchyard-classifier/1', version: 'v0001', createdAt: new Date(0).toISOString(), models: ['weak', 'strong'],
        embedder: { id: 'synthetic', dimension: features?.dimension ?? data.d }, ...(features ? { features } : {}),
      },
      exportClassifierOnnx(spec),
    );
    const classifier = await loadOnnxClassifier(dir, { expectEmbedderId: 'synthetic' });
    try {
      const got = await classifier.predict(data.X, data.n);
      expect(got).toHaveLength(expected.length);
      let maxDiff = 0;
      for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - expected[i]));
      return { got, maxDiff };
    } finally {
      await classifier.dispose();
    }
  }

  /** Both synthetic sets: "weak" succeeds on even rows only, "strong" on every row. */
  function expectWeakOnEvenRowsStrongEverywhere(got: Float32Array, n: number): void {
    let correct = 0;
    for (let i = 0; i < n; i++) if ((got[i * 2] > 0.5) === (i % 2 === 0)) correct++;
    expect(correct / n).toBeGreaterThan(0.95);
    for (let i = 0; i < n; i++) expect(got[i * 2 + 1]).toBeGreaterThan(0.8);
  }

  it.each(['logistic', 'mlp', 'knn', 'logistic+knn'])('%s: ONNX predictions match the trainer and separate the data', async (learner) => {
    const data = separable(240, 8, 11);
    const { spec } = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 8, seed: 3, learners: [learner] });
    const { got, maxDiff } = await roundTrip(spec, data, learner, { kind: 'embedding', dimension: 8 });
    expect(maxDiff).toBeLessThan(1e-3);
    // Cluster A rows: weak likely to succeed; cluster B rows: weak likely to fail; strong always likely.
    expectWeakOnEvenRowsStrongEverywhere(got, data.n);
  });

  it.each(['logistic', 'mlp'])('%s: a row beyond the training range gets the prediction at its edge, in ONNX as in the trainer', async (learner) => {
    const data = separable(240, 8, 12);
    const { spec } = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 8, seed: 3, learners: [learner] });
    let top = -Infinity;
    for (let i = 0; i < data.n; i++) top = Math.max(top, data.X[i * 8]);
    // Column 0 is the separating one; the other columns at 0 are inside their range.
    const rows = [top, 10 * top, 1e6].map((x) => [x, 0, 0, 0, 0, 0, 0, 0]);
    const query: TrainMatrix = { n: rows.length, d: 8, m: 2, X: Float32Array.from(rows.flat()), Y: new Float32Array(rows.length * 2), mask: new Float32Array(rows.length * 2) };
    const { got, maxDiff } = await roundTrip(spec, query, `${learner}-range`, { kind: 'embedding', dimension: 8 });
    expect(maxDiff).toBeLessThan(1e-4);
    // Unclipped, a linear model's logit at 10⁶ × the data's scale saturates the sigmoid to exactly 0 or 1.
    for (const r of [1, 2]) for (const j of [0, 1]) expect(got[r * 2 + j]).toBeCloseTo(got[j], 6);
    expect(got[0]).toBeGreaterThan(0.5);
    expect(got[0]).toBeLessThan(1);
  });

  it('sparse (forward-selected logistic over the extra columns): ONNX matches the trainer and keeps the signal column', async () => {
    // The separating column moved from 0 to 5, past a 4-wide "embedding", so the extra columns hold it.
    const data = separable(240, 8, 14);
    for (let i = 0; i < data.n; i++) [data.X[i * 8], data.X[i * 8 + 5]] = [data.X[i * 8 + 5], data.X[i * 8]];
    const { spec } = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 4, seed: 3, learners: ['sparse'] });
    const component = spec.components[0];
    expect(component.type === 'network' && component.columns).toEqual({ start: 4, end: 8 });
    if (component.type !== 'network') throw new Error('expected a network component');
    // W is [4 × 2] over columns 4..7: only column 5 (index 1) may carry weak's weight; strong needs none.
    const W = Array.from(component.params.out.W);
    expect([W[0], W[4], W[6]]).toEqual([0, 0, 0]);
    expect(Math.abs(W[2])).toBeGreaterThan(0.5);
    expect([W[1], W[3], W[5], W[7]]).toEqual([0, 0, 0, 0]);
    const { got, maxDiff } = await roundTrip(spec, data, 'sparse', { kind: 'embedding', dimension: 8 });
    expect(maxDiff).toBeLessThan(1e-4);
    expectWeakOnEvenRowsStrongEverywhere(got, data.n);
  });

  it.each(['words', 'logistic+words'])('%s over hashed word slots: ONNX matches the trainer, learns the word, ignores unknown outcomes', async (learner) => {
    const { data, slots, buckets } = wordy(300, 4);
    const { spec } = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 2, wordSlots: slots, wordBuckets: buckets, seed: 1, learners: [learner] });
    const { got, maxDiff } = await roundTrip(spec, data, learner);
    expect(maxDiff).toBeLessThan(1e-4);
    // Had the masked zeros counted, strong would sit near 2/3; unknown is not failure.
    expectWeakOnEvenRowsStrongEverywhere(got, data.n);
  });

  it('tries a small ensemble of the best learners when costs are given, and exports what it chose', async () => {
    const data = separable(240, 8, 12);
    const costs = new Float64Array(data.n * 2);
    for (let i = 0; i < data.n; i++) costs.set([1, 10], i * 2);
    const result = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 8, seed: 3, costs, ensembleTop: 3, learners: ['logistic', 'knn', 'mlp', 'logistic+knn'] });
    const tried = Object.keys(result.selection).filter((k) => k.startsWith('ensemble('));
    expect(tried).toHaveLength(1);
    expect(tried[0].match(/,/g)).toHaveLength(2); // three members
    const { got, maxDiff } = await roundTrip(result.spec, data, 'ensemble', { kind: 'embedding', dimension: 8 });
    expect(maxDiff).toBeLessThan(1e-3);
    expectWeakOnEvenRowsStrongEverywhere(got, data.n);
    const off = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 8, seed: 3, costs, ensembleTop: 0, learners: ['logistic', 'knn'] });
    expect(Object.keys(off.selection).some((k) => k.startsWith('ensemble('))).toBe(false);
  });

  it('a more complex learner must also win fold by fold: with an unreachable bar the simplest listed learner stays', async () => {
    const data = separable(240, 8, 15);
    const costs = new Float64Array(data.n * 2);
    for (let i = 0; i < data.n; i++) costs.set([1, 10], i * 2);
    const learners = ['logistic', 'knn', 'logistic+knn'];
    const strict = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 8, seed: 3, costs, ensembleTop: 3, learners, significance: Infinity });
    expect(strict.learner).toBe(strict.spec.components[0].name);
    expect(strict.spec.components.map((c) => c.name)).toEqual([expect.stringMatching(/^logistic\(/)]);
    expect(strict.spec.joint).toBeUndefined();
    // Every learner was still scored, and its routing score recorded.
    for (const name of learners) expect(strict.selection[`${name} routing`]).toBeGreaterThan(0.5);
    // The same data under the margin alone: kNN scores higher by more than the margin and is taken.
    const loose = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 8, seed: 3, costs, ensembleTop: 3, learners, significance: 0 });
    expect(loose.selection['knn routing']).toBeGreaterThan(loose.selection['logistic routing'] + 0.005);
    expect(loose.learner).toMatch(/knn/);
  });

  it('rows of live feedback (one model each) cannot score routing: learners are then chosen by log loss', async () => {
    const data = separable(240, 8, 16);
    // Each row keeps one of its two outcomes, as feedback on the model that answered would.
    for (let i = 0; i < data.n; i++) data.mask[i * 2 + (i % 3 === 0 ? 1 : 0)] = 0;
    const costs = new Float64Array(data.n * 2);
    for (let i = 0; i < data.n; i++) costs.set([1, 10], i * 2);
    const lines: string[] = [];
    const result = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 8, seed: 3, costs, learners: ['logistic', 'knn'], onProgress: (l) => lines.push(l) });
    expect(lines).toContain('  no row records outcomes of two models or more: learners are chosen by out-of-fold log loss');
    expect(Object.keys(result.selection).some((k) => k.endsWith(' routing'))).toBe(false);
    // Simplest first; knn replaces logistic only with a lower out-of-fold log loss.
    const lower = result.selection.knn < result.selection.logistic - 1e-9 ? 'knn' : 'logistic';
    expect(result.spec.components.map((c) => c.name.split('(')[0])).toEqual([lower]);
  });

  it('routing groups: rows are scored among the models they record; rare sets and single models are left out', () => {
    const m = 3;
    const sets = [...Array(40).fill([0, 1]), ...Array(4).fill([0, 1, 2]), [2], [0, 2]];
    const mask = new Float32Array(sets.length * m);
    sets.forEach((set: number[], r) => set.forEach((j) => (mask[r * m + j] = 1)));
    const all = sets.map((_, r) => r);
    // 46 rows: the 4-row set clears 5% (2.3 rows), the 1-row [0, 2] does not, the single model never counts.
    expect(routingGroups(mask, m, all).map((g) => [g.models, g.rows.length])).toEqual([
      [[0, 1], 40],
      [[0, 1, 2], 4],
    ]);
    // The most common set is kept however few the rows (a small held-out fold).
    expect(routingGroups(mask, m, [44, 45]).map((g) => g.models)).toEqual([[0, 2]]);
    expect(routingGroups(mask, m, [44])).toEqual([]);
  });

  it('exports the joint layer: ONNX matches the trainer with cross-model and product terms', async () => {
    const data = separable(120, 6, 13);
    const { spec } = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 6, seed: 3, learners: ['logistic'] });
    // Deliberately asymmetric, so a transposed matrix in the graph would show.
    const joint = { linear: Float32Array.from([0.8, 0.3, -0.2, 1.1]), quadratic: Float32Array.from([0.05, -0.1, 0.02, 0.07]), bias: Float32Array.from([0.1, -0.3]) };
    const { maxDiff } = await roundTrip({ ...spec, joint }, data, 'joint', { kind: 'embedding', dimension: 6 });
    expect(maxDiff).toBeLessThan(1e-4);
    const plain = await predictSpec(spec, data.X, data.n);
    const withJoint = await predictSpec({ ...spec, joint }, data.X, data.n);
    expect(Math.max(...withJoint.map((v, i) => Math.abs(v - plain[i])))).toBeGreaterThan(0.01);
  });

  it('tries the joint layer when costs are given and records its out-of-fold score', async () => {
    const data = separable(240, 8, 14);
    const costs = new Float64Array(data.n * 2);
    for (let i = 0; i < data.n; i++) costs.set([1, 10], i * 2);
    const result = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 8, seed: 3, costs, learners: ['logistic'] });
    expect(Object.keys(result.selection)).toContain('logistic+joint routing');
    expect(result.learner.endsWith('+joint')).toBe(result.spec.joint !== undefined);
    const off = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 8, seed: 3, costs, learners: ['logistic'], joint: false });
    expect(Object.keys(off.selection)).not.toContain('logistic+joint routing');
  });

  it('is deterministic for a seed', async () => {
    const data = separable(120, 6, 5);
    const a = exportClassifierOnnx((await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 6, seed: 9 })).spec);
    const b = exportClassifierOnnx((await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 6, seed: 9 })).spec);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('loads a reference for the average policy, and refuses a broken one with the reason', async () => {
    const data = separable(40, 4, 2);
    const { spec, outOfFold } = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 4, learners: ['logistic'] });
    const sidecar = { format: 'switchyard-classifier/1' as const, version: 'v0001', createdAt: new Date(0).toISOString(), models: ['weak', 'strong'], embedder: { id: 'e', dimension: 4 } };
    const prompts = Array.from({ length: 40 }, (_, i) => ({ id: `r${i}`, prompt: 'x'.repeat(4 * (i + 1)) }));
    const reference = buildReference(['weak', 'strong'], prompts, outOfFold, (t) => Math.ceil(t.length / 4), 1, 25);
    expect(reference.p).toHaveLength(25);
    // A retrain killed before its rename left its temporary folder; the next write clears it, and keeps
    // one whose process is alive (this one: a pid reused by another retrain in progress).
    const parent = path.join(tmp.dir, 'ref');
    fs.mkdirSync(path.join(parent, '.v0001.2147483646.tmp'), { recursive: true });
    fs.mkdirSync(path.join(parent, `.v0009.${process.ppid}.tmp`));
    const dir = writeClassifierVersion(parent, sidecar, exportClassifierOnnx(spec), reference);
    expect(fs.readdirSync(parent).sort()).toEqual([`.v0009.${process.ppid}.tmp`, 'v0001']);
    const loaded = await loadOnnxClassifier(dir);
    expect(loaded.reference?.p).toHaveLength(25);
    await loaded.dispose();

    fs.writeFileSync(path.join(dir, REFERENCE_FILE), JSON.stringify({ ...reference, models: ['strong', 'weak'] }));
    await expect(loadOnnxClassifier(dir)).rejects.toThrow(/reference.*lists models strong, weak but the classifier has weak, strong/);
    fs.writeFileSync(path.join(dir, REFERENCE_FILE), JSON.stringify({ ...reference, p: [[0.5]] }));
    await expect(loadOnnxClassifier(dir)).rejects.toThrow(/invalid classifier reference/);
    fs.writeFileSync(path.join(dir, REFERENCE_FILE), '{"format":');
    await expect(loadOnnxClassifier(dir)).rejects.toThrow(/cannot read classifier reference/);
  });

  it('refuses at load a drop-in graph whose widths disagree with the sidecar or whose outputs are not probabilities', async () => {
    /** embedding [N, inDim] → p_success [N, outM]: `last` applied to embedding·W + bias (W all `weight`; N may be fixed). */
    const graph = (inDim: number, outM: number, bias: number, last: 'Sigmoid' | 'Identity', weight = 0, batch: 'N' | number = 'N'): Uint8Array =>
      serializeModel(
        buildModel({
          name: 'drop-in',
          inputs: [valueInfo('embedding', 'float32', [batch, inDim])],
          outputs: [valueInfo('p_success', 'float32', [batch, outM])],
          initializers: [floatTensor('W', [inDim, outM], new Float32Array(inDim * outM).fill(weight)), floatTensor('b', [outM], new Float32Array(outM).fill(bias))],
          nodes: [node('MatMul', ['embedding', 'W'], ['z']), node('Add', ['z', 'b'], ['l']), node(last, ['l'], ['p_success'])],
        }),
      );
    const write = (name: string, onnx: Uint8Array): string =>
      writeClassifierVersion(
        path.join(tmp.dir, name),
        { format: 'switchyard-classifier/1', version: 'v0001', createdAt: new Date(0).toISOString(), models: ['a', 'b', 'c'], embedder: { id: 'e', dimension: 4 } },
        onnx,
      );
    const good = await loadOnnxClassifier(write('drop-good', graph(4, 3, 0, 'Sigmoid')));
    expect(Array.from(await good.predict(new Float32Array(4), 1))).toEqual([0.5, 0.5, 0.5]);
    await good.dispose();
    await expect(loadOnnxClassifier(write('drop-narrow', graph(4, 2, 0, 'Sigmoid')))).rejects.toThrow(ConfigError);
    await expect(loadOnnxClassifier(write('drop-narrow2', graph(4, 2, 0, 'Sigmoid')))).rejects.toThrow(/fails on a batch of 4 4-value rows .*returned 8 values for 4×3/);
    await expect(loadOnnxClassifier(write('drop-wide-input', graph(5, 3, 0, 'Sigmoid')))).rejects.toThrow(/fails on a batch of 4 4-value rows/);
    await expect(loadOnnxClassifier(write('drop-logits', graph(4, 3, 2, 'Identity')))).rejects.toThrow(/returned p_success 2 for a \(a probability in \[0, 1\] is expected\)/);
    // Logits that are 0 on a row of zeros, and a graph that takes one row at a time (requests are batched):
    // both passed a probe of one row of zeros, then failed requests.
    await expect(loadOnnxClassifier(write('drop-logits-at-zero', graph(4, 3, 0, 'Identity', 1)))).rejects.toThrow(/a probability in \[0, 1\] is expected/);
    await expect(loadOnnxClassifier(write('drop-batch-of-one', graph(4, 3, 0, 'Sigmoid', 0, 1)))).rejects.toThrow(/fails on a batch of 4/);
    // A sidecar that misstates the embedder's width: refused against the running embedder.
    await expect(loadOnnxClassifier(write('drop-width', graph(4, 3, 0, 'Sigmoid')), { expectEmbedderDimension: 100 })).rejects.toThrow(
      /says its embedder makes 4-d vectors but the running embedder makes 100-d ones/,
    );
  });

  it('refuses to load against another embedder', async () => {
    const data = separable(40, 4, 2);
    const { spec } = await trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 4, learners: ['logistic'] });
    const dir = writeClassifierVersion(
      path.join(tmp.dir, 'mismatch'),
      { format: 'switchyard-classifier/1', version: 'v0001', createdAt: new Date(0).toISOString(), models: ['weak', 'strong'], embedder: { id: 'embedder-a', dimension: 4 } },
      exportClassifierOnnx(spec),
    );
    await expect(loadOnnxClassifier(dir, { expectEmbedderId: 'embedder-b' })).rejects.toThrow(ModelMismatchError);
    await expect(loadOnnxClassifier(dir, { expectEmbedderId: 'embedder-b' })).rejects.toThrow(/trained on embedder "embedder-a"/);
  });
});
