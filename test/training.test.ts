import { fitNetwork, forwardLogits, maskedLogLoss } from '../training/network';
import { fitWords, lbfgs, wordLogits } from '../training/words';
import { applyJoint, applyStack, fitJoint, fitStack, plattTargets, stackLogits } from '../training/calibrate';
import { fitKnn, knnLogitsFromNeighbours, nearestNeighbours } from '../training/knn';
import { hashString, mixedHash, seededRandom, selectRows, sigmoid } from '../training/matrix';
import { countSentences, promptStats, promptStatsV2, PROMPT_STAT_NAMES, PROMPT_STAT_V2_NAMES } from '../src/routing/prompt-stats';
import type { TrainMatrix } from '../training/matrix';
import { type FoldRunner, fitComponent, runFold } from '../training/component-recipes';
import { pairedMeanOverSe } from '../training/learner-selection';
import { trainClassifier } from '../training/train-classifier';
import { logisticRows } from './support/synthetic-rows';
import { type LabelledRow, buildMatrix, splitKey, stratifiedSplit } from '../training/dataset';

/** x0 drives model 0 (+3), x1 drives model 1 (−2); x2 and x3 are noise. */
const data = (n: number, seed: number): TrainMatrix => logisticRows(n, 4, seed, [(x) => 3 * x[0], (x) => -2 * x[1]]);

describe('masked multi-output training', () => {
  it('ignores outcomes whose mask is 0, whatever the label says', () => {
    const a = data(300, 1);
    // Hide a third of model 1's outcomes, and put opposite garbage under the mask in a copy.
    for (let i = 0; i < a.n; i += 3) a.mask[i * 2 + 1] = 0;
    const b = { ...a, Y: Float32Array.from(a.Y) };
    for (let i = 0; i < a.n; i += 3) b.Y[i * 2 + 1] = 1 - a.Y[i * 2 + 1];
    const pa = fitNetwork(a, { hiddenUnits: 0, seed: 4, epochs: 10 });
    const pb = fitNetwork(b, { hiddenUnits: 0, seed: 4, epochs: 10 });
    expect(Array.from(pb.out.W)).toEqual(Array.from(pa.out.W));
    expect(Array.from(pb.out.b)).toEqual(Array.from(pa.out.b));
    expect(maskedLogLoss(Float32Array.from([0.9, 0.1]), Float32Array.from([1, 1]), Float32Array.from([1, 0]))).toBeCloseTo(-Math.log(0.9), 6);
  });

  it('learns the generating weights (logistic) and uses soft labels as given', () => {
    const d = data(3000, 2);
    const p = fitNetwork(d, { hiddenUnits: 0, seed: 1, epochs: 40, l2: 0 });
    // W is [d × m]: x0 drives model 0 (+3), x1 drives model 1 (−2).
    expect(p.out.W[0 * 2 + 0]).toBeGreaterThan(2);
    expect(p.out.W[1 * 2 + 1]).toBeLessThan(-1.3);
    expect(Math.abs(p.out.W[2 * 2 + 0])).toBeLessThan(0.4);
    // All-0.5 soft labels: nothing to learn but the midpoint.
    const soft = { ...d, Y: new Float32Array(d.Y.length).fill(0.5) };
    const q = forwardLogits(fitNetwork(soft, { hiddenUnits: 0, seed: 1, epochs: 20 }), d.X, d.n);
    for (const z of q) expect(Math.abs(sigmoid(z) - 0.5)).toBeLessThan(0.1);
  });

  it('calibration maps over-confident logits back to observed rates', () => {
    const random = seededRandom(5);
    const n = 4000;
    const z = new Float32Array(n);
    const Y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const t = random() * 4 - 2;
      z[i] = 5 * t; // five times too confident
      Y[i] = random() < sigmoid(t) ? 1 : 0;
    }
    const mask = new Float32Array(n).fill(1);
    const stack = fitStack([z], Y, mask, 1);
    expect(stack.weights[0][0]).toBeCloseTo(0.2, 1);
    expect(maskedLogLoss(applyStack([z], stack, 1), Y, mask)).toBeLessThan(maskedLogLoss(z.map(sigmoid), Y, mask));
  });

  it("Platt's targets: (N₊ + 1)/(N₊ + 2) for a success, 1/(N₋ + 2) for a failure, per model, unknowns untouched", () => {
    // Two models; model 0: successes 1, 1, 1, failure 0 (N₊ 3, N₋ 1); model 1: 0.5, unknown, 1, 0 (N₊ 1.5, N₋ 1.5).
    const Y = Float32Array.from([1, 0.5, 1, 0, 1, 1, 0, 0]);
    const mask = Float32Array.from([1, 1, 1, 0, 1, 1, 1, 1]);
    const T = plattTargets(Y, mask, 2);
    const hi1 = 2.5 / 3.5;
    const lo1 = 1 / 3.5;
    const want = [4 / 5, lo1 + 0.5 * (hi1 - lo1), 4 / 5, 0, 4 / 5, hi1, 1 / 3, lo1];
    want.forEach((w, i) => expect(T[i]).toBeCloseTo(w, 6));
    // Three draws' rows pooled hold each outcome three times; with copies = 3 each counts once.
    const thrice = (a: Float32Array): Float32Array => Float32Array.from([...a, ...a, ...a]);
    const pooled = plattTargets(thrice(Y), thrice(mask), 2, 3);
    want.forEach((w, i) => [0, 8, 16].forEach((at) => expect(pooled[at + i]).toBeCloseTo(w, 6)));
    expect(plattTargets(thrice(Y), thrice(mask), 2)[0]).toBeCloseTo(10 / 11, 6);
  });

  it('a calibration fitted on 30 rows a component separates perfectly is not certain', () => {
    // 27 successes at z = +4, 3 failures at z = −4: unsmoothed, the fit runs to p → 1 and p → 0.
    const z = Float32Array.from({ length: 30 }, (_, i) => (i < 27 ? 4 : -4));
    const Y = Float32Array.from({ length: 30 }, (_, i) => (i < 27 ? 1 : 0));
    const mask = new Float32Array(30).fill(1);
    const p = applyStack([z], fitStack([z], Y, mask, 1), 1);
    expect(p[0]).toBeLessThan(28 / 29 + 0.005);
    expect(p[0]).toBeGreaterThan(0.9);
    expect(p[29]).toBeGreaterThan(1 / 5 - 0.01);
    expect(p[29]).toBeLessThan(0.3);
  });

  it('a model with under MIN_STACK_OUTCOMES known outcomes gets its smoothed success rate on every prompt', () => {
    // Model 1 has one outcome (a success) among 40 rows; its component is as sure as one row can make it.
    // Its stack used to pass that through (p ≈ 0.99 everywhere): now (1 + 1)/(1 + 2) on every row.
    const n = 40;
    const z = Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? (i % 4 === 0 ? 3 : -3) : 8));
    const Y = Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? (i % 4 === 0 ? 1 : 0) : i === 1 ? 1 : 0));
    const mask = Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 || i === 1 ? 1 : 0));
    const stack = fitStack([z], Y, mask, 2);
    const p = applyStack([z], stack, 2);
    for (let r = 0; r < n; r++) expect(p[2 * r + 1]).toBeCloseTo(2 / 3, 5);
    expect(p[0]).toBeGreaterThan(0.8); // model 0, with 40 outcomes, is still stacked
    const joint = fitJoint(stackLogits([z], stack, 2), Y, mask, 2);
    const q = applyJoint(stackLogits([z], stack, 2), joint, 2).map(sigmoid);
    for (let r = 0; r < n; r++) expect(q[2 * r + 1]).toBeCloseTo(2 / 3, 5);
    // The same with three draws pooled: copies count once.
    const thrice = (a: Float32Array): Float32Array => Float32Array.from([...a, ...a, ...a]);
    expect(applyStack([thrice(z)], fitStack([thrice(z)], thrice(Y), thrice(mask), 2, undefined, 3), 2)[1]).toBeCloseTo(2 / 3, 5);
  });

  it('kNN success rates follow the neighbours and shrink towards the base rate', async () => {
    // Two keys per cluster; model 0 succeeds on cluster A only.
    const keys = Float32Array.from([1, 0, 1, 0, 0, 1, 0, 1]);
    const Y = Float32Array.from([1, 1, 0, 0]);
    const mask = Float32Array.from([1, 1, 1, 1]);
    const params = fitKnn(keys, 4, 2, Y, mask, 1, { k: 2, temperature: 0.1, alpha: 1 });
    const queries = Float32Array.from([1, 0, 0, 1]);
    const [a, b] = knnLogitsFromNeighbours(params, await nearestNeighbours(params, queries, 2, 2), 2).map(sigmoid);
    // (2 neighbours × 1 + 1 × prior 0.5) / 3 = 0.8333 and (0 + 0.5) / 3 = 0.1667.
    expect(a).toBeCloseTo(2.5 / 3, 4);
    expect(b).toBeCloseTo(0.5 / 3, 4);
  });
});

describe('prompt statistics', () => {
  it('has one value per documented name and reacts to what it claims to measure', () => {
    const plain = promptStats('Say hello to my friend.');
    expect(plain).toHaveLength(PROMPT_STAT_NAMES.length);
    const math = promptStats('A shop sells 3 apples for $2.50 each; 15% tax applies to 1/3 of them. What is the total?');
    const at = (name: (typeof PROMPT_STAT_NAMES)[number]) => PROMPT_STAT_NAMES.indexOf(name);
    expect(math[at('log_numbers')]).toBeGreaterThan(plain[at('log_numbers')]);
    expect(math[at('has_percent')]).toBe(1);
    expect(math[at('has_decimal')]).toBe(1);
    expect(math[at('has_fraction')]).toBe(1);
    expect(math[at('has_currency')]).toBe(1);
    const mc = promptStats('Which is NOT a mammal?\nA. dog\nB. cat\nC. trout\nD. whale\nAnswer:');
    expect(mc[at('answer_options')]).toBe(1);
    expect(mc[at('negated_question')]).toBe(1);
    expect(Array.from(promptStats(''))).toEqual(Array.from(promptStats('')).map((v) => (Number.isFinite(v) ? v : NaN)));
    // A compact JSON array reads as one 600-digit number: the largest finite one, not Infinity, which
    // made the column NaN for every training row.
    const list = `What is the sum of this JSON array? [${Array.from({ length: 200 }, (_, i) => 100 + i).join(',')}]`;
    expect(Array.from(promptStatsV2(list)).every(Number.isFinite)).toBe(true);
    expect(promptStats(list)[at('log_largest_number')]).toBeCloseTo(Math.log10(Number.MAX_VALUE) / 3, 5);
    expect(promptStats('It costs 1,250 dollars.')[at('log_largest_number')]).toBeCloseTo(Math.log10(1251) / 3, 5);
  });

  it('counts sentences as the split it replaced did, and a long run of dots in one pass', () => {
    // The statistics are versioned: the single pass must count exactly what the regex split counted.
    const split = (p: string) => p.split(/[.!?]+(?:\s|$)/).filter((s) => s.trim() !== '').length;
    const alphabet = ['.', '!', '?', ' ', '\n', '\t', 'a', 'b', '3', '\u00a0', '\u2003', '\u3000', '\ufeff', '\u2028', '\u200b', '\u0085'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let n = 0; n < 20000; n++) {
      const text = Array.from({ length: Math.floor(next() * 14) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
      expect([text, countSentences(text)]).toEqual([text, split(text)]);
    }
    // Every UTF-16 code unit after a full stop: white space by /\s/ exactly.
    const mismatched: number[] = [];
    for (let c = 0; c < 0x10000; c++) {
      const text = `a.${String.fromCharCode(c)}b`;
      if (countSentences(text) !== split(text)) mismatched.push(c);
    }
    expect(mismatched).toEqual([]);
    expect(countSentences('Hi. How are you?! Fine...  3.5 apples.')).toBe(4);
    // The split backtracked over such a run from every position in it (a 1 MB body: about half an hour).
    expect(countSentences(`${'.'.repeat(1_000_000)}x`)).toBe(1);
    expect(countSentences(`a${'?!'.repeat(500_000)} b`)).toBe(2);
  });

  it('v2 keeps v1 as its prefix and measures names, word variety and the answer options', () => {
    const at = (name: (typeof PROMPT_STAT_V2_NAMES)[number]) => PROMPT_STAT_V2_NAMES.indexOf(name);
    const story = 'Tom gives Anna 3 apples. Then Anna gives Ben half of hers. How many does Ben have?';
    const v2 = promptStatsV2(story);
    expect(v2).toHaveLength(PROMPT_STAT_V2_NAMES.length);
    expect(Array.from(v2.subarray(0, PROMPT_STAT_NAMES.length))).toEqual(Array.from(promptStats(story)));
    // Anna, Then, Anna, Ben, How, Ben: the opening "Tom" is not counted (every prompt starts with a capital).
    expect(v2[at('log_capitalised_words')]).toBeCloseTo(Math.log1p(6), 6);
    expect(promptStatsV2('the the the the')[at('distinct_word_share')]).toBeCloseTo(0.25, 6);
    const mc = promptStatsV2('What is 2 + 2?\nA. 3\nB. four\nC. 22\nD. 5\nAnswer:');
    expect(mc[at('numeric_option_share')]).toBeCloseTo(0.75, 6);
    expect(mc[at('log_option_length')]).toBeCloseTo(Math.log1p((1 + 4 + 2 + 1) / 4), 6);
    expect(mc[at('option_word_overlap')]).toBe(0);
    // As sets: {true}, {false}, {true, false} twice; the six pairs overlap 0, ½, ½, ½, ½ and 1.
    const tf = promptStatsV2('Statement 1 | … Statement 2 | …\nA. True, True\nB. False, False\nC. True, False\nD. False, True\nAnswer:');
    expect(tf[at('option_word_overlap')]).toBeCloseTo((0 + 0.5 + 0.5 + 0.5 + 0.5 + 1) / 6, 6);
    // Blank lines and indentation before an option (the regex no longer rescans runs of blank lines).
    const spaced = promptStatsV2('Pick one.\n\n\n  A. red car\n\n\u00a0B. blue car\n\nAnswer:');
    expect(spaced[at('answer_options')]).toBe(2 / 4);
    expect(spaced[at('option_word_overlap')]).toBeCloseTo(1 / 3, 6);
    // Only the last 48 options are compared: 10 disjoint ones, then 48 identical ones.
    const many = [...Array.from({ length: 10 }, (_, i) => `A. w${i}`), ...Array.from({ length: 48 }, () => 'B. same')].join('\n');
    expect(promptStatsV2(many)[at('option_word_overlap')]).toBe(1);
    const none = promptStatsV2('');
    expect(Array.from(none.subarray(PROMPT_STAT_NAMES.length))).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('words component and L-BFGS', () => {
  it('L-BFGS finds the minimum of an ill-conditioned quadratic', () => {
    // f(x) = Σ a_i (x_i − c_i)^2 with curvatures spanning four orders of magnitude.
    const a = [1e-2, 1, 10, 100];
    const c = [3, -1, 0.5, 2];
    const x = new Float64Array(4);
    const loss = lbfgs(x, (v, g) => {
      let f = 0;
      for (let i = 0; i < 4; i++) {
        f += a[i] * (v[i] - c[i]) ** 2;
        g[i] = 2 * a[i] * (v[i] - c[i]);
      }
      return f;
    }, 100);
    expect(loss).toBeLessThan(1e-8);
    c.forEach((ci, i) => expect(x[i]).toBeCloseTo(ci, 3));
  });

  it('treats masked outcomes as unknown and graded outcomes as soft labels', () => {
    const slots = 4;
    const buckets = 64;
    const n = 400;
    const d = 2 * slots;
    const X = new Float32Array(n * d);
    const Y = new Float32Array(n);
    const mask = new Float32Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      // Bucket 5 on even rows, bucket 9 on odd rows; weight 1.
      X[i * d] = i % 2 === 0 ? 5 : 9;
      X[i * d + slots] = 1;
      // Even rows: a graded 0.8. Odd rows: 0.2, except every fourth row, hidden with a garbage label.
      Y[i] = i % 2 === 0 ? 0.8 : 0.2;
      if (i % 4 === 1) {
        mask[i] = 0;
        Y[i] = 1;
      }
    }
    const params = fitWords({ n, d, m: 1, X, Y, mask }, { start: 0, slots, buckets }, { l2: 1e-6, iterations: 200 });
    const z = wordLogits(params, X, 2, d);
    expect(sigmoid(z[0])).toBeCloseTo(0.8, 2);
    expect(sigmoid(z[1])).toBeCloseTo(0.2, 2);
    // Buckets never seen in training carry no weight.
    expect(params.W[7]).toBe(0);
  });

  it('refuses a slot that holds no bucket id', () => {
    const X = new Float32Array([2.5, 0, 1, 0]);
    expect(() => fitWords({ n: 1, d: 4, m: 1, X, Y: new Float32Array([1]), mask: new Float32Array([1]) }, { start: 0, slots: 2, buckets: 8 }, { l2: 1e-3, iterations: 5 })).toThrow(
      /bucket 2.5/,
    );
  });
});

describe('joint layer over the stack logits', () => {
  it('recovers a product term between two models and ignores unknown outcomes', () => {
    const random = seededRandom(21);
    const n = 6000;
    const m = 2;
    const Z = new Float32Array(n * m);
    const Y = new Float32Array(n * m);
    const mask = new Float32Array(n * m).fill(1);
    const gauss = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    for (let r = 0; r < n; r++) {
      const z0 = gauss();
      const z1 = gauss();
      Z.set([z0, z1], r * m);
      // Model 0's true logit: z0 + 0.8·z0·z1 − 0.5·z1 + 0.2; model 1's: z1 alone.
      Y[r * m] = random() < sigmoid(z0 + 0.8 * z0 * z1 - 0.5 * z1 + 0.2) ? 1 : 0;
      Y[r * m + 1] = random() < sigmoid(z1) ? 1 : 0;
      // A third of model 0's outcomes are unknown and stored as 1: counted, they would bias the bias.
      if (r % 3 === 0) {
        mask[r * m] = 0;
        Y[r * m] = 1;
      }
    }
    const p = fitJoint(Z, Y, mask, m, 1e-4);
    expect(p.linear[0]).toBeCloseTo(1, 0);
    expect(p.linear[1]).toBeCloseTo(-0.5, 0);
    expect(p.quadratic[1]).toBeCloseTo(0.8, 0);
    expect(p.bias[0]).toBeCloseTo(0.2, 0);
    expect(Math.abs(p.bias[0] - 0.2)).toBeLessThan(0.15);
    expect(Math.abs(p.quadratic[1] - 0.8)).toBeLessThan(0.15);
    expect(p.linear[3]).toBeCloseTo(1, 0);
    // applyJoint computes the fitted logit.
    const z = applyJoint(Float32Array.from([1, 2]), p, m);
    expect(z[0]).toBeCloseTo(p.bias[0] + p.linear[0] * 1 + p.linear[1] * 2 + p.quadratic[0] * 1 * 1 + p.quadratic[1] * 1 * 2, 5);
  });
});

describe('learner selection: paired per-fold differences', () => {
  it('is the mean paired difference over its standard error', () => {
    // d = [0.01, 0.02, −0.01, 0.01, 0.01]: mean 0.008, sample sd √(4.8e-4 / 4), se = sd / √5.
    const t = pairedMeanOverSe([0.7, 0.72, 0.68, 0.71, 0.69], [0.69, 0.7, 0.69, 0.7, 0.68]);
    expect(t).toBeCloseTo(0.008 / (Math.sqrt(4.8e-4 / 4) / Math.sqrt(5)), 6);
    expect(t).toBeCloseTo(1.633, 3);
    // Swapping the sides flips the sign; equal scores are no evidence either way.
    expect(pairedMeanOverSe([0.69, 0.7, 0.69, 0.7, 0.68], [0.7, 0.72, 0.68, 0.71, 0.69])).toBeCloseTo(-t, 6);
    expect(pairedMeanOverSe([0.5, 0.6], [0.5, 0.6])).toBe(0);
    // The same gain on every fold is unbounded evidence; a gain on one fold and a loss on another is not.
    expect(pairedMeanOverSe([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])).toBeGreaterThan(1e6);
    expect(pairedMeanOverSe([0.75, 0.75], [0.5, 0.5])).toBe(Infinity);
    expect(pairedMeanOverSe([0.9, 0.5], [0.5, 0.6])).toBeLessThan(1);
    // A fold no learner can be scored on (−∞ both sides) is left out, not a NaN that fails every challenger.
    expect(pairedMeanOverSe([0.7, -Infinity, 0.72, 0.68, 0.71, 0.69], [0.69, -Infinity, 0.7, 0.69, 0.7, 0.68])).toBeCloseTo(t, 6);
    expect(pairedMeanOverSe([-Infinity], [-Infinity])).toBe(Infinity);
  });

  it("with Nadeau and Bengio's correction the variance of the mean is s²·(1/J + held/fit)", () => {
    // The same five differences from 5-fold CV (held/fit = 1/4): se = s·√(1/5 + 1/4), a t of 1.633·√(0.2/0.45).
    const a = [0.7, 0.72, 0.68, 0.71, 0.69];
    const b = [0.69, 0.7, 0.69, 0.7, 0.68];
    const t = pairedMeanOverSe(a, b, 1 / 4);
    expect(t).toBeCloseTo(0.008 / (Math.sqrt(4.8e-4 / 4) * Math.sqrt(1 / 5 + 1 / 4)), 6);
    expect(t).toBeCloseTo(1.089, 3);
    // Three draws of the same folds triple J but not the evidence: the correction keeps t from growing by √3.
    const t3 = pairedMeanOverSe([...a, ...a, ...a], [...b, ...b, ...b], 1 / 4);
    expect(t3).toBeLessThan(t * 1.3);
    expect(pairedMeanOverSe([...a, ...a, ...a], [...b, ...b, ...b])).toBeGreaterThan(t * 2.5);
  });
});

describe('draws of the inner folds', () => {
  /** A runner that records, per job, which rows (by their first feature, a row number) were held out. */
  const spy = (): { runner: FoldRunner; held: number[][] } => {
    const held: number[][] = [];
    const runner: FoldRunner = {
      slots: 1,
      run: async (job) => {
        held.push(Array.from({ length: job.test.n }, (_, i) => job.test.X[i * job.test.d]));
        return runFold(job);
      },
      fit: async (job) => fitComponent(job),
    };
    return { runner, held };
  };
  /** Row i's first feature is i, so a job's held rows can be named; model 0 follows x1. */
  const numbered = (n: number): TrainMatrix => {
    const rows = logisticRows(n, 3, 7, [(x) => 3 * x[1], (x) => -2 * x[2]]);
    for (let i = 0; i < n; i++) rows.X[i * rows.d] = i;
    return rows;
  };
  const options = { models: ['a', 'b'], embeddingDim: 2, seed: 3, learners: ['stats', 'sparse'] };

  it('small sets are cross-validated three times over different folds, each draw holding every row out once', async () => {
    const rows = numbered(200);
    const { runner, held } = spy();
    const three = await trainClassifier(rows, { ...options, foldRunner: runner });
    expect(held).toHaveLength(15);
    const draws = [held.slice(0, 5), held.slice(5, 10), held.slice(10, 15)];
    for (const draw of draws) expect(draw.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // The draws differ: no fold of the second draw is a fold of the first.
    const first = new Set(draws[0].map((f) => [...f].sort((x, y) => x - y).join(',')));
    for (const f of draws[1]) expect(first.has([...f].sort((x, y) => x - y).join(','))).toBe(false);
    // One draw, asked for, is the first draw alone; the choice is deterministic either way.
    const one = spy();
    await trainClassifier(rows, { ...options, foldRunner: one.runner, repeats: 1 });
    expect(one.held).toEqual(draws[0]);
    const again = await trainClassifier(rows, { ...options, foldRunner: spy().runner });
    expect(again.selection).toEqual(three.selection);
    expect(again.outOfFold).toEqual(three.outOfFold);
  });

  it('large sets (rows × models ≥ 10,000) are cross-validated once', async () => {
    const { runner, held } = spy();
    await trainClassifier(numbered(5000), { ...options, learners: ['stats'], foldRunner: runner });
    expect(held).toHaveLength(4);
  });

  /** Model a costs 1, b 10, on every row; keys name the rows. */
  const costsOf = (n: number): Float64Array => Float64Array.from({ length: n * 2 }, (_, k) => (k % 2 === 0 ? 1 : 10));
  const keysOf = (n: number): string[] => Array.from({ length: n }, (_, i) => `q-${i}`);

  it('refitting a small set chooses its learner afresh on the new rows when asked; otherwise the choice and its stack are kept', async () => {
    const all = numbered(200);
    const part = selectRows(all, Array.from({ length: 120 }, (_, i) => i));
    const first = await trainClassifier(part, { ...options, costs: costsOf(120), foldKeys: keysOf(120) });
    const fresh = await trainClassifier(all, { ...options, costs: costsOf(200), foldKeys: keysOf(200) });
    // What retrain serves is then what training on every row gives, choice, stack and calibration alike.
    expect(await first.refit({ rows: all, costs: costsOf(200), foldKeys: keysOf(200), rechoose: true })).toEqual({ spec: fresh.spec, learner: fresh.learner, rechosen: true, outOfFold: fresh.outOfFold });
    expect(fresh.spec.stack).not.toEqual(first.spec.stack);
    // Not asked to, or without the new rows' costs (no routing choice can be made): the components are
    // refitted, the rest kept.
    for (const input of [{ rows: all, costs: costsOf(200), foldKeys: keysOf(200) }, { rows: all, rechoose: true }]) {
      const kept = await first.refit(input);
      expect(kept).toMatchObject({ learner: first.learner, rechosen: false });
      expect(kept.spec.stack).toEqual(first.spec.stack);
      expect(kept.spec.components.map((c) => c.name)).toEqual(first.spec.components.map((c) => c.name));
      expect(kept.spec.components).not.toEqual(first.spec.components);
    }
  });

  it('refitting a large set keeps its choice and stack and runs no inner folds', async () => {
    const { runner, held } = spy();
    const big = numbered(5000);
    const trained = await trainClassifier(big, { ...options, learners: ['stats'], costs: costsOf(5000), foldKeys: keysOf(5000), foldRunner: runner });
    const refitted = await trained.refit({ rows: big, costs: costsOf(5000), foldKeys: keysOf(5000), rechoose: true });
    expect(held).toHaveLength(4);
    expect(refitted.learner).toBe(trained.learner);
    expect(refitted.spec.stack).toEqual(trained.spec.stack);
  });
});

describe('feature rows', () => {
  it('a non-finite feature stops training with the stored prompt that gave it', () => {
    const rows: LabelledRow[] = ['a', 'b'].map((id) => ({ id, prompt: id, source: null, outcomes: { m: 1 }, costs: {} }));
    expect(buildMatrix(Float32Array.from([0, 1, 2, 3]), 2, rows, ['m']).n).toBe(2);
    expect(() => buildMatrix(Float32Array.from([0, 1, 2, NaN]), 2, rows, ['m'])).toThrow('the features of stored prompt b hold NaN at column 1 (of 2)');
  });
});

describe('the validation split retrain uses', () => {
  const row = (id: string, prompt: string): LabelledRow => ({ id, prompt, source: null, outcomes: { m: 1 }, costs: {} });

  it('holds out about the fraction asked for when ids differ only at the end (q-0001, q-0002, …)', () => {
    for (const n of [100, 1000]) {
      const rows = Array.from({ length: n }, (_, i) => row(`q-${String(i + 1).padStart(4, '0')}`, `question ${i + 1}`));
      const byPrompt = stratifiedSplit(rows, 0.2, 1, mixedHash, splitKey).validation.length / n;
      expect(byPrompt).toBeGreaterThan(0.12);
      expect(byPrompt).toBeLessThan(0.28);
      // Keyed by id, the mixed hash spreads them too; FNV's top bits alone put almost none of the first 100 in validation.
      expect(stratifiedSplit(rows, 0.2, 1, mixedHash).validation.length / n).toBeGreaterThan(0.12);
      if (n === 100) expect(stratifiedSplit(rows, 0.2, 1, hashString).validation.length).toBeLessThan(5);
    }
  });

  it('puts every copy of a prompt on one side, whatever its ids', () => {
    const rows = Array.from({ length: 300 }, (_, i) => row(`id-${i}`, `prompt ${i % 100}`));
    const { validation } = stratifiedSplit(rows, 0.2, 1, mixedHash, splitKey);
    const held = new Set(validation.map((i) => rows[i].prompt));
    for (const [i, r] of rows.entries()) expect(validation.includes(i)).toBe(held.has(r.prompt));
    expect(held.size).toBeGreaterThan(5);
  });
});
