// routing.recalibration: each model's logit shift fitted to its rated answers, and the router applying it
// to the per-request and near-best policies (not the average one, which has its own correction).
import type { SuccessClassifier } from '../src/routing/classifier';
import type { ModelConfig } from '../src/config/schema';
import { createRouter } from '../src/routing/router';
import { type RatedAnswer, applyShift, createRecalibration, fitLogitShift, logit, shiftsFrom } from '../src/routing/recalibration';
import { createFakeEmbedder } from './support/fake-embedder';

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

describe('the logit shift fitted to rated answers', () => {
  it('is 0 when the ratings average what was predicted at one prediction', () => {
    const answers = [0, 1, 1, 0, 1, 0].map((rated) => ({ predicted: 0.5, rated }));
    const fit = fitLogitShift(answers);
    expect(fit.shift).toBeCloseTo(0, 9);
    // Curvature: 6 × 0.25 from the answers + 1/4 from the prior.
    expect(fit.se).toBeCloseTo(1 / Math.sqrt(1.75), 9);
    expect(fit.count).toBe(6);
  });

  it('recovers the shift between predictions and graded ratings', () => {
    // 1,000 answers over a spread of predictions, each rated with the probability the true shift (−1) gives.
    const answers = Array.from({ length: 1000 }, (_, i) => {
      const predicted = 0.05 + (0.9 * i) / 999;
      return { predicted, rated: sigmoid(logit(predicted) - 1) };
    });
    // The prior pulls a little towards 0; with 1,000 answers by under 0.01.
    expect(fitLogitShift(answers).shift).toBeCloseTo(-1, 2);
  });

  it('stays finite when every rated answer succeeded', () => {
    const fit = fitLogitShift(Array.from({ length: 50 }, () => ({ predicted: 0.9, rated: 1 })));
    expect(Number.isFinite(fit.shift)).toBe(true);
    expect(fit.shift).toBeGreaterThan(1);
  });

  it('treats a stored certainty as nearly certain, not as infinite', () => {
    expect(Number.isFinite(logit(1))).toBe(true);
    expect(Number.isFinite(logit(0))).toBe(true);
    expect(applyShift(0.8, 0)).toBeCloseTo(0.8, 12);
    expect(applyShift(0.5, Math.log(3))).toBeCloseTo(0.75, 12);
  });
});

describe('shifts per model', () => {
  const rated = (model: string, predicted: number, successes: number, n: number): RatedAnswer[] =>
    Array.from({ length: n }, (_, i) => ({ model, predicted, rated: i < successes ? 1 : 0 }));

  it('shifts each model by its own ratings: one over-predicted, one under-predicted, one as predicted', () => {
    const shifts = shiftsFrom([...rated('over', 0.9, 60, 100), ...rated('under', 0.3, 60, 100), ...rated('fine', 0.7, 71, 100)], 100);
    expect([...shifts.keys()].sort()).toEqual(['over', 'under']);
    // 60% success where 90% was predicted: the shifted prediction lands near 0.6 (a little above: the prior).
    expect(applyShift(0.9, shifts.get('over')!)).toBeCloseTo(0.6, 1);
    expect(shifts.get('over')!).toBeLessThan(0);
    expect(applyShift(0.3, shifts.get('under')!)).toBeCloseTo(0.6, 1);
  });

  it('waits for minRatings and ignores a gap within twice its standard error', () => {
    expect(shiftsFrom(rated('over', 0.9, 30, 50), 100).size).toBe(0);
    expect(shiftsFrom(rated('over', 0.9, 30, 50), 50).has('over')).toBe(true);
    // 8 of 10 where 0.9 was predicted: within the noise of 10 ratings.
    expect(shiftsFrom(rated('noisy', 0.9, 8, 10), 2).size).toBe(0);
  });

  it('serves the shifts of the version last refreshed, and none for another until the next refresh', () => {
    let reads = 0;
    let answers = rated('a', 0.9, 50, 100);
    const recalibration = createRecalibration({
      read: (version) => {
        reads++;
        return version === 'v1' ? answers : [];
      },
      minRatings: 100,
    });
    expect(recalibration.current('v1').size).toBe(0);
    expect(recalibration.refresh('v1')).toBe(true);
    expect(recalibration.current('v1').has('a')).toBe(true);
    // Nothing changed: the same map.
    const first = recalibration.current('v1');
    expect(recalibration.refresh('v1')).toBe(false);
    expect(recalibration.current('v1')).toBe(first);
    // Reading is the refresh's job: the ratings changed, the shifts served did not.
    answers = rated('a', 0.9, 90, 100);
    expect(recalibration.current('v1').has('a')).toBe(true);
    expect(reads).toBe(2);
    expect(recalibration.refresh('v1')).toBe(true);
    expect(recalibration.current('v1').size).toBe(0);
    expect(recalibration.refresh('v1')).toBe(false);
    // A newly promoted version has no ratings of its own yet; before any classifier, nothing is read.
    answers = rated('a', 0.9, 50, 100);
    recalibration.refresh('v1');
    expect(recalibration.current('v2').size).toBe(0);
    expect(recalibration.refresh(null)).toBe(true);
    expect(recalibration.current('v1').size).toBe(0);
    expect(reads).toBe(5);
  });
});

describe('router: recalibrated predictions', () => {
  const price = (perMTok: number) => ({ inputPerMTok: perMTok, outputPerMTok: perMTok });
  const MODELS: ModelConfig[] = [
    { id: 'cheap', provider: 'sim', price: price(1), timeouts: { connectMs: 1000, totalMs: 1000 } },
    { id: 'dear', provider: 'sim', price: price(10), timeouts: { connectMs: 1000, totalMs: 1000 } },
  ];
  // Every prompt: cheap 0.8, dear 0.9.
  const classifier: SuccessClassifier = {
    version: 'v0001',
    models: ['cheap', 'dear'],
    embedderId: 'fake-bow-32',
    inputDim: 32,
    featureKind: 'embedding',
    reference: { format: 'switchyard-reference/1', models: ['cheap', 'dear'], inputTokens: [1, 1], p: [[0.8, 0.9], [0.8, 0.9]] },
    async predict(_features: Float32Array, rows: number): Promise<Float32Array> {
      return Float32Array.from({ length: rows * 2 }, (_, k) => (k % 2 === 0 ? 0.8 : 0.9));
    },
    async dispose(): Promise<void> {},
  };
  const asked: string[] = [];
  // The ratings say cheap succeeds far less often than predicted: logit shift −2 (0.8 → 0.351).
  const router = createRouter({
    models: MODELS,
    minSuccess: 0.7,
    expectedOutputTokens: 9,
    embedder: createFakeEmbedder(),
    classifier: () => classifier,
    recalibration: (version) => {
      asked.push(version);
      return new Map([['cheap', -2]]);
    },
  });

  it('lowers the over-predicted model before the per-request bar, and shows both predictions', async () => {
    const d = await router.route({ prompt: 'what is the capital of peru' });
    // Without the shift cheap (0.8) clears 0.7 and would be chosen; with it (0.351) only dear does.
    expect(d).toMatchObject({ chosen: 'dear', fallbacks: ['cheap'], reason: 'cheapest-above-target', policy: 'per-request' });
    const cheap = d.candidates.find((c) => c.model === 'cheap')!;
    expect(cheap.pClassifier).toBeCloseTo(0.8, 6);
    expect(cheap.logitShift).toBe(-2);
    expect(cheap.pSuccess).toBeCloseTo(sigmoid(logit(0.8) - 2), 6);
    const dear = d.candidates.find((c) => c.model === 'dear')!;
    expect(dear.pSuccess).toBeCloseTo(0.9, 6);
    expect(dear.pClassifier).toBeUndefined();
    expect(asked).toContain('v0001');
  });

  it('applies to the near-best policy: its margin is measured on the corrected predictions', async () => {
    // At 0.85 a request may give up 0.15 against dear's 0.9: cheap at 0.8 would be taken, at 0.351 it is not.
    const d = await router.route({ prompt: 'what is the capital of peru', minSuccess: 0.85, policy: 'near-best' });
    expect(d.chosen).toBe('dear');
    expect(d.candidates.find((c) => c.model === 'cheap')!.logitShift).toBe(-2);
  });

  it('leaves the average policy on the classifier\'s own predictions, which its λ is set on', async () => {
    const d = await router.route({ prompt: 'what is the capital of peru', minSuccess: 0.8, policy: 'average' });
    expect(d.policy).toBe('average');
    const cheap = d.candidates.find((c) => c.model === 'cheap')!;
    expect(cheap.pSuccess).toBeCloseTo(0.8, 6);
    expect(cheap.logitShift).toBeUndefined();
  });
});
