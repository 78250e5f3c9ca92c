// The router under the average policy, with a stand-in classifier (fixed probabilities per prompt) so the
// expected choices can be worked out by hand.
import type { SuccessClassifier } from '../src/routing/classifier';
import type { ClassifierReference } from '../src/routing/classifier-reference';
import type { ModelConfig } from '../src/config/schema';
import { MAX_MODEL_SETS } from '../src/routing/average-lambda';
import { createRouter } from '../src/routing/router';
import { lambdaForTarget, valueCurve } from '../src/routing/value-policy';
import { TrafficWindow } from '../src/routing/traffic-window';
import { createFeedbackCorrection, targetCorrectionFrom } from '../src/routing/feedback-correction';
import { createFakeEmbedder } from './support/fake-embedder';

const price = (perMTok: number) => ({ inputPerMTok: perMTok, outputPerMTok: perMTok });
const MODELS: ModelConfig[] = [
  { id: 'cheap', provider: 'sim', price: price(1), timeouts: { connectMs: 1000, totalMs: 1000 } },
  { id: 'dear', provider: 'sim', price: price(10), timeouts: { connectMs: 1000, totalMs: 1000 } },
];

/** "hard …" prompts: cheap 0.2, dear 0.25 (hopeless); "win …" prompts: cheap 0.4, dear 0.95. */
function fakeClassifier(reference: ClassifierReference | null): SuccessClassifier & { referenceReads: number } {
  const c = {
    version: 'v0001',
    models: ['cheap', 'dear'],
    embedderId: 'fake-bow-32',
    inputDim: 32,
    featureKind: 'embedding',
    referenceReads: 0,
    get reference() {
      c.referenceReads++;
      return reference;
    },
    async predict(features: Float32Array, rows: number): Promise<Float32Array> {
      // The fake embedder puts "hard" and "win" in different buckets; tell them apart by the first row.
      const hard = await createFakeEmbedder().embed(['hard']);
      const out = new Float32Array(rows * 2);
      for (let r = 0; r < rows; r++) {
        let dot = 0;
        for (let i = 0; i < 32; i++) dot += features[r * 32 + i] * hard[0][i];
        out.set(dot > 0.5 ? [0.2, 0.25] : [0.4, 0.95], r * 2);
      }
      return out;
    },
    async dispose(): Promise<void> {},
  };
  return c;
}

// Half hopeless, half winnable, all one token long: mean p with everything cheap 0.3, all dear 0.6.
const REFERENCE: ClassifierReference = {
  format: 'switchyard-reference/1',
  models: ['cheap', 'dear'],
  inputTokens: [1, 1, 1, 1],
  p: [[0.2, 0.25], [0.2, 0.25], [0.4, 0.95], [0.4, 0.95]],
};

describe('router: average policy', () => {
  const make = (reference: ClassifierReference | null) => {
    const classifier = fakeClassifier(reference);
    const router = createRouter({
      models: MODELS, minSuccess: 0.5, policy: 'average', expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => classifier,
    });
    return { router, classifier };
  };

  it('spends on the winnable prompt and not on the hopeless one at a target the reference reaches that way', async () => {
    const { router } = make(REFERENCE);
    // Upgrading the two winnable reference prompts lifts the mean from 0.3 to 0.575 ≥ 0.5; the hopeless
    // ones would add only 0.05 each for the same price. So λ sits between their break-even prices.
    const win = await router.route({ prompt: 'win' });
    const hard = await router.route({ prompt: 'hard' });
    expect(win).toMatchObject({ chosen: 'dear', fallbacks: ['cheap'], reason: 'best-value', policy: 'average' });
    expect(hard).toMatchObject({ chosen: 'cheap', fallbacks: ['dear'], reason: 'best-value', policy: 'average' });
    // Break-even: (0.95 − 0.4) / Δcost and (0.25 − 0.2) / Δcost, Δcost = 9 × 10 / 1e6.
    const delta = (9 * 10) / 1e6;
    expect(win.lambda).toBeLessThan(0.55 / delta);
    expect(win.lambda).toBeGreaterThan(0.05 / delta);
    // The per-request bar at 0.5 would send both to dear (cheap is below it for both).
    const perRequest = await router.route({ prompt: 'hard', policy: 'per-request' });
    expect(perRequest).toMatchObject({ chosen: 'dear', policy: 'per-request', lambda: null });
  });

  it('low targets go cheapest (λ infinite, reported null); unreachable ones to the most likely model (λ 0)', async () => {
    const { router } = make(REFERENCE);
    expect(await router.route({ prompt: 'win', minSuccess: 0.2 })).toMatchObject({ chosen: 'cheap', policy: 'average', lambda: null });
    expect(await router.route({ prompt: 'hard', minSuccess: 0.9 })).toMatchObject({ chosen: 'dear', policy: 'average', lambda: 0 });
  });

  it('a classifier without a reference is served by the per-request policy, and the decision says so', async () => {
    const { router } = make(null);
    expect(await router.route({ prompt: 'hard' })).toMatchObject({ chosen: 'dear', reason: 'best-below-target', policy: 'per-request', lambda: null });
  });

  it('near-best: the same two choices from each prompt alone, no reference or traffic needed', async () => {
    const { router } = make(null);
    // Target 0.9: cheap qualifies when it is within 0.1 of dear (hard: 0.05 below) and not when 0.55 below (win).
    const hard = await router.route({ prompt: 'hard', policy: 'near-best', minSuccess: 0.9 });
    const win = await router.route({ prompt: 'win', policy: 'near-best', minSuccess: 0.9 });
    expect(hard).toMatchObject({ chosen: 'cheap', fallbacks: ['dear'], reason: 'near-best', policy: 'near-best', lambda: null, lambdaBasis: null });
    expect(win).toMatchObject({ chosen: 'dear', fallbacks: ['cheap'], reason: 'near-best', policy: 'near-best' });
    expect(await router.route({ prompt: 'hard', policy: 'near-best', minSuccess: 1 })).toMatchObject({ chosen: 'dear' });
  });

  it('warm() builds the curve once, ahead of the first request', async () => {
    const { router, classifier } = make(REFERENCE);
    router.warm();
    expect(classifier.referenceReads).toBe(1);
    await router.route({ prompt: 'win' });
    await router.route({ prompt: 'hard', minSuccess: 0.55 });
    expect(classifier.referenceReads).toBe(1);
  });
});

describe('router: the average policy follows the traffic', () => {
  const delta = (9 * 10) / 1e6; // dear − cheap for a one-token prompt and 9 output tokens
  const make = (average: { trafficWindow: number; minTraffic: number; refreshMs: number }, clock = { t: 0 }) => {
    const classifier = fakeClassifier(REFERENCE);
    return createRouter({
      models: MODELS, minSuccess: 0.22, policy: 'average', expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => classifier,
      average, now: () => clock.t,
    });
  };

  it('sets λ on the routed prompts once there are enough of them, and on the latest ones only', async () => {
    const router = make({ trafficWindow: 10, minTraffic: 5, refreshMs: 0 });
    // The reference's mean with everything cheap is 0.3 ≥ 0.22: λ infinite, all cheap.
    expect(await router.route({ prompt: 'hard' })).toMatchObject({ chosen: 'cheap', lambda: null, lambdaBasis: { source: 'reference', prompts: 4 } });
    for (let i = 0; i < 3; i++) await router.route({ prompt: 'hard', policy: 'per-request' }); // traffic whatever its policy
    expect((await router.route({ prompt: 'hard' })).lambdaBasis).toEqual({ source: 'reference', prompts: 4 });
    // Five hard prompts routed: their cheap mean is 0.2 < 0.22, so λ drops below their break-even price
    // and hard prompts are upgraded (0.4 of them would do on average; identical rows all move together).
    const shifted = await router.route({ prompt: 'hard' });
    expect(shifted).toMatchObject({ chosen: 'dear', lambdaBasis: { source: 'traffic', prompts: 5 } });
    expect(shifted.lambda!).toBeLessThan(0.05 / delta);
    expect(shifted.lambda!).toBeGreaterThan(0);
    // Ten winnable prompts push the hard ones out of the window: cheap reaches the target again.
    for (let i = 0; i < 10; i++) await router.route({ prompt: 'win' });
    expect(await router.route({ prompt: 'hard' })).toMatchObject({ chosen: 'cheap', lambda: null, lambdaBasis: { source: 'traffic', prompts: 10 } });
  });

  it('rebuilds λ from the window at most every refreshMs, and only when prompts arrived', async () => {
    const clock = { t: 0 };
    const router = make({ trafficWindow: 100, minTraffic: 2, refreshMs: 1000 }, clock);
    await router.route({ prompt: 'win' });
    await router.route({ prompt: 'win' });
    // Built now on two winnable prompts: cheap's 0.4 reaches 0.22.
    expect(await router.route({ prompt: 'hard' })).toMatchObject({ chosen: 'cheap', lambdaBasis: { source: 'traffic', prompts: 2 } });
    for (let i = 0; i < 20; i++) await router.route({ prompt: 'hard' });
    clock.t = 999;
    expect(await router.route({ prompt: 'hard' })).toMatchObject({ chosen: 'cheap', lambdaBasis: { source: 'traffic', prompts: 2 } });
    clock.t = 1000;
    // 22 hard and 2 winnable prompts now: the cheap mean is 0.217 < 0.22, so some must be upgraded.
    const rebuilt = await router.route({ prompt: 'hard' });
    expect(rebuilt.lambdaBasis).toEqual({ source: 'traffic', prompts: 24 });
    expect(rebuilt.lambda).not.toBeNull();
  });

  it('with trafficWindow 0 λ always comes from the reference', async () => {
    const router = make({ trafficWindow: 0, minTraffic: 1, refreshMs: 0 });
    for (let i = 0; i < 10; i++) await router.route({ prompt: 'hard' });
    expect(await router.route({ prompt: 'hard' })).toMatchObject({ chosen: 'cheap', lambdaBasis: { source: 'reference', prompts: 4 } });
  });

  it('serves the average policy from the traffic even for a classifier without reference prompts', async () => {
    const classifier = fakeClassifier(null);
    const router = createRouter({
      models: MODELS, minSuccess: 0.22, policy: 'average', expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => classifier,
      average: { trafficWindow: 10, minTraffic: 3, refreshMs: 0 },
    });
    expect(await router.route({ prompt: 'win' })).toMatchObject({ policy: 'per-request', lambdaBasis: null });
    await router.route({ prompt: 'win' });
    await router.route({ prompt: 'win' });
    expect(await router.route({ prompt: 'win' })).toMatchObject({ policy: 'average', chosen: 'cheap', lambdaBasis: { source: 'traffic', prompts: 3 } });
  });
});

describe('router: the average policy on a request that narrows the models', () => {
  // cheap, mid and dear cost 1, 3 and 10 per token. "win …": 0.4, 0.6, 0.95; "hard …": 0.2, 0.22, 0.25.
  const THREE: ModelConfig[] = [...MODELS.slice(0, 1), { ...MODELS[0], id: 'mid', price: price(3) }, MODELS[1]];
  const reference: ClassifierReference = {
    format: 'switchyard-reference/1',
    models: ['cheap', 'mid', 'dear'],
    inputTokens: [1, 1, 1, 1],
    p: [[0.2, 0.22, 0.25], [0.2, 0.22, 0.25], [0.4, 0.6, 0.95], [0.4, 0.6, 0.95]],
  };
  const classifier: SuccessClassifier = {
    ...fakeClassifier(reference),
    models: ['cheap', 'mid', 'dear'],
    reference,
    async predict(features: Float32Array, rows: number): Promise<Float32Array> {
      const two = await fakeClassifier(null).predict(features, rows);
      const out = new Float32Array(rows * 3);
      for (let r = 0; r < rows; r++) out.set(two[r * 2] < 0.3 ? [0.2, 0.22, 0.25] : [0.4, 0.6, 0.95], r * 3);
      return out;
    },
  };
  const unit = 10 / 1e6; // cost per unit of price for a one-token prompt and 9 output tokens

  it('sets λ on the same prompts over the requested models only, so their traffic meets the target', async () => {
    const router = createRouter({
      models: THREE, minSuccess: 0.405, policy: 'average', expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => classifier,
      average: { trafficWindow: 0, minTraffic: 1, refreshMs: 0 },
    });
    // All three models: sending the winnable prompts to dear lifts the reference mean from 0.3 to 0.575,
    // so λ lies between win's mid→dear price (0.35 / 7) and hard's cheap→mid one (0.02 / 2): hard stays cheap.
    const all = await router.route({ prompt: 'hard' });
    expect(all).toMatchObject({ chosen: 'cheap', policy: 'average' });
    expect(all.lambda! * unit).toBeCloseTo(Math.sqrt(0.05 * 0.01), 6);
    // Only cheap and mid: winnable prompts on mid give 0.4 < 0.405, so hard ones must go to mid too
    // (0.41). At the full set's λ hard would stay cheap and these clients would get 0.4.
    const narrowed = await router.route({ prompt: 'hard', models: ['cheap', 'mid'] });
    expect(narrowed).toMatchObject({ chosen: 'mid', fallbacks: ['cheap'], policy: 'average', lambdaBasis: { source: 'reference', prompts: 4 } });
    expect(narrowed.lambda! * unit).toBeCloseTo(0.01 / 2, 6);
    expect(await router.route({ prompt: 'win', models: ['cheap', 'mid'] })).toMatchObject({ chosen: 'mid' });
    // Naming every model is no narrowing at all.
    expect((await router.route({ prompt: 'hard', models: ['dear', 'mid', 'cheap'] })).lambda).toBe(all.lambda);
    // A target the requested models cannot reach sends each prompt to the likeliest of them (λ 0).
    expect(await router.route({ prompt: 'hard', models: ['cheap', 'mid'], minSuccess: 0.5 })).toMatchObject({ chosen: 'mid', lambda: 0 });
  });

  it('narrows the traffic\'s prompts the same way once λ follows the traffic', async () => {
    const router = createRouter({
      models: THREE, minSuccess: 0.21, policy: 'average', expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => classifier,
      average: { trafficWindow: 10, minTraffic: 4, refreshMs: 0 },
    });
    for (let i = 0; i < 4; i++) await router.route({ prompt: 'hard' });
    // Four hard prompts: all cheap gives 0.2 < 0.21; identical rows move together, so all go to mid (0.22).
    expect(await router.route({ prompt: 'hard', models: ['cheap', 'mid'] })).toMatchObject({ chosen: 'mid', lambdaBasis: { source: 'traffic', prompts: 4 } });
    // With only cheap and dear, λ drops below dear's break-even price (0.05 / 9) and hard prompts go to
    // dear; the full set's λ (between mid's two steps, ≈ 0.0066) would keep them on cheap.
    const dear = await router.route({ prompt: 'hard', models: ['cheap', 'dear'] });
    expect(dear).toMatchObject({ chosen: 'dear', lambdaBasis: { source: 'traffic', prompts: 5 } });
    expect(dear.lambda! * unit).toBeLessThan(0.05 / 9);
  });
});

describe('router: many narrowed model sets', () => {
  it(`prices at most ${MAX_MODEL_SETS} model sets with their own λ; later sets get the full set's until the prompts are re-read`, async () => {
    // Six models priced 1..6; every prompt gets the same predictions, rising with price.
    const ids = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
    const models: ModelConfig[] = ids.map((id, k) => ({ ...MODELS[0], id, price: price(k + 1) }));
    const p = [0.3, 0.5, 0.6, 0.7, 0.75, 0.8];
    const reference: ClassifierReference = { format: 'switchyard-reference/1', models: ids, inputTokens: [1, 1], p: [p, p.map((x) => x / 2)] };
    const six: SuccessClassifier = {
      ...fakeClassifier(reference), models: ids, reference,
      async predict(_features: Float32Array, rows: number) {
        return Float32Array.from({ length: rows * 6 }, (_, i) => p[i % 6]);
      },
    };
    const router = createRouter({
      models, minSuccess: 0.3, policy: 'average', expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => six,
      average: { trafficWindow: 0, minTraffic: 1, refreshMs: 0 },
    });
    const own = (set: number[]) => {
      const P = reference.p.flatMap((row) => set.map((k) => row[k]));
      const C = reference.p.flatMap(() => set.map((k) => (10 * (k + 1)) / 1e6));
      return lambdaForTarget(valueCurve(P, C, 2, set.length), 0.3);
    };
    const full = (await router.route({ prompt: 'q' })).lambda ?? Infinity;
    // Every set of three or more of the six models: 42 sets.
    const sets = Array.from({ length: 64 }, (_, mask) => ids.flatMap((_, k) => ((mask >> k) & 1 ? [k] : []))).filter((s) => s.length >= 3 && s.length < 6);
    expect(sets.length).toBeGreaterThan(MAX_MODEL_SETS);
    const got: number[] = [];
    for (const set of sets) got.push((await router.route({ prompt: 'q', models: set.map((k) => ids[k]) })).lambda ?? Infinity);
    sets.forEach((set, i) => expect(got[i]).toBe(i < MAX_MODEL_SETS ? own(set) : full));
    // The sets priced first keep their own λ.
    expect((await router.route({ prompt: 'q', models: sets[0].map((k) => ids[k]) })).lambda ?? Infinity).toBe(own(sets[0]));
    // And some of the later sets really differ from the full set's λ, so the cap is what made them equal.
    expect(sets.slice(MAX_MODEL_SETS).some((set) => own(set) !== full)).toBe(true);
  });
});

describe('average policy: the target corrected by the clients\' ratings', () => {
  it('is the mean predicted minus the mean rated success, once there are enough ratings and beyond twice its standard error', () => {
    // 100 ratings, predicted 0.8 on each, half rated 1: gap 0.3; (p − y)² is 0.04 or 0.64, mean 0.34; se ≈ 0.05.
    const gap = { count: 100, predicted: 0.8, rated: 0.5, meanSquare: 0.34 };
    expect(targetCorrectionFrom(gap, 100)).toBeCloseTo(0.3, 12);
    expect(targetCorrectionFrom(gap, 101)).toBe(0);
    expect(targetCorrectionFrom(null, 1)).toBe(0);
    // An under-predicting classifier lowers the target.
    expect(targetCorrectionFrom({ count: 100, predicted: 0.2, rated: 0.5, meanSquare: 0.34 }, 10)).toBeCloseTo(-0.3, 12);
    // The same gap on 8 ratings is within noise: sd ≈ 0.53, twice the se ≈ 0.38 > 0.3.
    expect(targetCorrectionFrom({ ...gap, count: 8 }, 2)).toBe(0);
  });

  it('is re-read at most every refreshMs per classifier version', () => {
    const clock = { t: 0 };
    const reads: string[] = [];
    const correction = createFeedbackCorrection({
      read: (v) => (reads.push(v), { count: 50, predicted: 0.9, rated: 0.6, meanSquare: 0.18 }),
      minRatings: 10,
      refreshMs: 1000,
      now: () => clock.t,
    });
    expect(correction('v1')).toBeGreaterThan(0.29);
    clock.t = 999;
    correction('v1');
    correction('v2');
    expect(reads).toEqual(['v1', 'v2']);
    clock.t = 1000;
    correction('v1');
    expect(reads).toEqual(['v1', 'v2', 'v1']);
  });

  it('sets λ for target + correction and says so; the per-request policy ignores it', async () => {
    const classifier = fakeClassifier(REFERENCE);
    const make = (correction: number) =>
      createRouter({
        models: MODELS, minSuccess: 0.25, policy: 'average', expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => classifier,
        average: { trafficWindow: 0, minTraffic: 1, refreshMs: 0 }, targetCorrection: () => correction,
      });
    // 0.25 alone: everything cheap (0.3 ≥ 0.25). Corrected by +0.25 to 0.5: winnable prompts go to dear.
    expect(await make(0).route({ prompt: 'win' })).toMatchObject({ chosen: 'cheap', lambda: null, targetCorrection: null });
    const corrected = await make(0.25).route({ prompt: 'win' });
    expect(corrected).toMatchObject({ chosen: 'dear', target: 0.25, policy: 'average', targetCorrection: 0.25 });
    const reference = await createRouter({
      models: MODELS, minSuccess: 0.5, policy: 'average', expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => classifier,
      average: { trafficWindow: 0, minTraffic: 1, refreshMs: 0 },
    }).route({ prompt: 'win' });
    expect(corrected.lambda).toBe(reference.lambda);
    // Capped at a target of 1: the correction reported is what was added.
    expect((await make(0.9).route({ prompt: 'win' })).targetCorrection).toBeCloseTo(0.75, 12);
    expect(await make(0.25).route({ prompt: 'win', policy: 'per-request' })).toMatchObject({ policy: 'per-request', targetCorrection: null });
  });
});

describe('traffic window', () => {
  it('keeps the latest prompts up to its capacity and counts every one', () => {
    const w = new TrafficWindow(3, 2);
    for (let i = 1; i <= 5; i++) w.add([i / 10, i / 10 + 0.01], [i, 2 * i]);
    expect({ size: w.size, total: w.total }).toEqual({ size: 3, total: 5 });
    const { P, C, n } = w.rows();
    expect(n).toBe(3);
    // Prompts 3, 4 and 5 remain (in ring order).
    expect([...C].sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 8, 10]);
    expect(P.length).toBe(6);
    expect(() => w.add([0.1], [1])).toThrow(/2 predictions and costs/);
    expect(() => new TrafficWindow(0, 2)).toThrow(/capacity/);
  });
});

describe('router: a model costed at its own answer length (models[].expectedOutputTokens)', () => {
  const at = (decision: { candidates: { model: string; estimatedCost: number }[] }, model: string): number =>
    decision.candidates.find((c) => c.model === model)!.estimatedCost;

  it('prices candidates and the reference λ with it, capped by max_tokens', async () => {
    // dear writes 90 tokens where the default is 9: Δcost per prompt (1 token in) is (10 + 900 − 1 − 9) / 1e6.
    const models: ModelConfig[] = [MODELS[0], { ...MODELS[1], expectedOutputTokens: 90 }];
    const classifier = fakeClassifier(REFERENCE);
    const router = createRouter({ models, minSuccess: 0.5, policy: 'average', expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => classifier });
    const win = await router.route({ prompt: 'win' });
    expect(at(win, 'cheap')).toBeCloseTo(10e-6, 15);
    expect(at(win, 'dear')).toBeCloseTo(910e-6, 15);
    // The chosen model's length; each candidate carries its own and where it came from.
    expect(win).toMatchObject({ chosen: 'dear', estimatedTokens: { input: 1, output: 90 } });
    expect(win.candidates.map((c) => [c.model, c.outputTokens, c.outputTokensBasis])).toEqual([['cheap', 9, 'default'], ['dear', 90, 'model']]);
    // λ between the hopeless and the winnable break-even prices, at their geometric mean, on dear's own length.
    expect(win.lambda).toBeCloseTo(Math.sqrt(0.05 * 0.55) / 900e-6, 6);
    // max_tokens caps dear's 90 and replaces cheap's default.
    const capped = await router.route({ prompt: 'win', maxTokens: 50 });
    expect(at(capped, 'cheap')).toBeCloseTo(51e-6, 15);
    expect(at(capped, 'dear')).toBeCloseTo(510e-6, 15);
    expect(capped.estimatedTokens).toEqual({ input: 1, output: 50 });
  });

  it('a length learned from the log prices the models that have none configured, and re-prices the reference λ when it changes', async () => {
    let learned: ReadonlyMap<string, number> = new Map();
    const classifier = fakeClassifier(REFERENCE);
    const router = createRouter({
      models: MODELS, minSuccess: 0.5, policy: 'average', expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => classifier,
      average: { trafficWindow: 0, minTraffic: 1, refreshMs: 0 }, answerLengths: () => learned,
    });
    const before = await router.route({ prompt: 'win' });
    expect(before.lambda).toBeCloseTo(Math.sqrt(0.05 * 0.55) / 90e-6, 6);
    // dear learned at 90 tokens: the same prices and λ as when it is configured at 90 (the test above).
    learned = new Map([['dear', 90]]);
    const after = await router.route({ prompt: 'win' });
    expect(at(after, 'dear')).toBeCloseTo(910e-6, 15);
    expect(after.candidates.find((c) => c.model === 'dear')).toMatchObject({ outputTokens: 90, outputTokensBasis: 'learned' });
    expect(after.lambda).toBeCloseTo(Math.sqrt(0.05 * 0.55) / 900e-6, 6);
    // max_tokens caps a learned length as it caps a configured one.
    expect((await router.route({ prompt: 'win', maxTokens: 50 })).candidates.find((c) => c.model === 'dear')).toMatchObject({ outputTokens: 50, outputTokensBasis: 'max_tokens' });
    // A configured length wins over a learned one.
    const configured = createRouter({
      models: [MODELS[0], { ...MODELS[1], expectedOutputTokens: 20 }], minSuccess: 0.5, expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => classifier,
      answerLengths: () => new Map([['cheap', 30], ['dear', 90]]),
    });
    const chosen = await configured.route({ prompt: 'win' });
    expect(chosen.candidates.map((c) => [c.model, c.outputTokens, c.outputTokensBasis])).toEqual([['cheap', 30, 'learned'], ['dear', 20, 'model']]);
  });

  it('the context window must hold the expected answer, or max_tokens when the request sets it', async () => {
    const models: ModelConfig[] = [MODELS[0], { ...MODELS[1], expectedOutputTokens: 2000, contextWindow: 2100 }];
    const router = createRouter({ models, minSuccess: 0.5, expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => null });
    const prompt = 'word '.repeat(100); // 125 tokens: 125 + 2000 > 2100
    const long = await router.route({ prompt });
    expect(long.candidates.find((c) => c.model === 'dear')).toMatchObject({ eligible: false, excludedBecause: 'context-window' });
    const short = await router.route({ prompt, maxTokens: 100 });
    expect(short.candidates.find((c) => c.model === 'dear')).toMatchObject({ eligible: true });
    // 1,500 CJK characters take some 1,500 tokens, not the 375 that four characters a token would say:
    // with max_tokens 100 they no longer fit a 1,024-token window, while 1,500 ASCII characters still do.
    const windowed: ModelConfig[] = [MODELS[0], { ...MODELS[1], contextWindow: 1024 }];
    const small = createRouter({ models: windowed, minSuccess: 0.5, expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => null });
    const cjk = await small.route({ prompt: '漢'.repeat(1500), maxTokens: 100 });
    expect(cjk.candidates.find((c) => c.model === 'dear')).toMatchObject({ eligible: false, excludedBecause: 'context-window' });
    expect(cjk.estimatedTokens.input).toBe(375); // prices still rank by the shared estimate
    const ascii = await small.route({ prompt: 'a'.repeat(1500), maxTokens: 100 });
    expect(ascii.candidates.find((c) => c.model === 'dear')).toMatchObject({ eligible: true });
    // When no model can take the request, the error names the field to change.
    const only = createRouter({ models: [{ ...MODELS[1], contextWindow: 1024 }], minSuccess: 0.5, expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => null });
    await expect(only.route({ prompt: 'a'.repeat(1500), maxTokens: 5000 })).rejects.toMatchObject({ code: 'no_eligible_model', param: 'max_tokens' });
    await expect(only.route({ prompt: 'a b '.repeat(3000), maxTokens: 10, promptField: 'prompt' })).rejects.toMatchObject({ code: 'no_eligible_model', param: 'prompt' });
    await expect(only.route({ prompt: 'a b '.repeat(3000) })).rejects.toMatchObject({ code: 'no_eligible_model', param: 'messages' });
  });
});

describe('router: configured models the classifier does not know', () => {
  const models: ModelConfig[] = [...MODELS, { id: 'newbie', provider: 'sim', price: price(5), timeouts: { connectMs: 1000, totalMs: 1000 } }];
  const router = createRouter({ models, minSuccess: 0.5, expectedOutputTokens: 9, embedder: createFakeEmbedder(), classifier: () => fakeClassifier(null) });

  it('beside models it knows, they are left out of the choice and tried only after every model it knows', async () => {
    const d = await router.route({ prompt: 'win' });
    expect(d.candidates.find((c) => c.model === 'newbie')).toMatchObject({ eligible: false, excludedBecause: 'unknown-to-classifier', pSuccess: null });
    // A failed upstream may still fail over to it: a configured model that answers beats a failed request.
    expect([d.chosen, ...d.fallbacks]).toEqual(['dear', 'cheap', 'newbie']);
    const narrowed = await router.route({ prompt: 'win', models: ['cheap', 'newbie'] });
    expect([narrowed.chosen, ...narrowed.fallbacks]).toEqual(['cheap', 'newbie']);
  });

  it('asked for alone (added since the last retrain), they are routed in the cold-start order, not refused', async () => {
    const d = await router.route({ prompt: 'win', models: ['newbie'] });
    expect(d).toMatchObject({ chosen: 'newbie', fallbacks: [], reason: 'no-known-candidates', policy: null });
    expect(d.candidates.find((c) => c.model === 'newbie')).toMatchObject({ eligible: true, pSuccess: null });
  });
});
