// Inner folds on worker threads: the same classifier wherever the folds run, and a pool that reports a
// failed fold and goes on. The pool runs the compiled worker (dist/, built by `npm install`); its tests
// skip, saying so, when no build is there.
import fs from 'node:fs';
import path from 'node:path';
import { createFoldPool, foldPoolOrNull } from '../training/fold-pool';
import { type FoldJob, type FoldRunner, fitComponent, IN_PROCESS_FOLDS, runFold } from '../training/component-recipes';
import { trainClassifier } from '../training/train-classifier';
import { logisticRows } from './support/synthetic-rows';

const WORKER = path.join(__dirname, '..', 'dist', 'training', 'fold-worker.js');
const built = fs.existsSync(WORKER);
if (!built) console.warn(`fold-pool tests skipped: ${WORKER} is not built (npm run build)`);
const withBuild = built ? it : it.skip;

/** 600 rows: an 8-wide "embedding" and 4 extra columns; x0 drives the weak model, x9 the strong one. */
function rows() {
  return logisticRows(600, 12, 21, [(x) => 2.5 * x[0] - 0.5, (x) => 1.5 * x[9] + 1]);
}
const costsFor = (n: number) => {
  const c = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) c.set([1, 10], i * 2);
  return c;
};
const train = (runner: FoldRunner) => {
  const data = rows();
  // Networks over both column sets and the neighbours (onnxruntime, in the worker too), with their stacks.
  const learners = ['logistic', 'stats', 'knn', 'stats+knn', 'stats+logistic+knn'];
  return trainClassifier(data, { models: ['weak', 'strong'], embeddingDim: 8, seed: 5, costs: costsFor(data.n), learners, foldRunner: runner });
};

describe('inner folds', () => {
  it('a runner with two slots is given every fold once and the classifier is the in-process one', async () => {
    const jobs: FoldJob[] = [];
    let running = 0;
    let most = 0;
    const fits: string[] = [];
    const twoAtOnce: FoldRunner = {
      slots: 2,
      async fit(job) {
        fits.push(job.recipe);
        return fitComponent(job);
      },
      async run(job) {
        jobs.push(job);
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 5));
        try {
          return await runFold(job);
        } finally {
          running--;
        }
      },
    };
    const [a, b] = [await train(IN_PROCESS_FOLDS), await train(twoAtOnce)];
    expect(jobs).toHaveLength(15); // 600 rows × 2 models: three draws of five inner folds
    expect(most).toBe(2);
    expect(jobs.reduce((n, j) => n + j.test.n, 0)).toBe(3 * 600);
    expect(b.learner).toBe(a.learner);
    expect(b.selection).toEqual(a.selection);
    expect(Buffer.from(b.outOfFold.buffer).equals(Buffer.from(a.outOfFold.buffer))).toBe(true);
    // The chosen learner's components were fitted through the runner, and the served specs are equal.
    expect(fits).toEqual(b.spec.components.map((c) => c.name));
    expect(b.spec).toEqual(a.spec);
    expect(await b.refit({ rows: rows() })).toEqual(await a.refit({ rows: rows() }));
  });

  it('a failing fold fails the training with its message', async () => {
    const failing: FoldRunner = { slots: 2, run: () => Promise.reject(new Error('out of memory in fold')), fit: () => Promise.reject(new Error('unused')) };
    await expect(train(failing)).rejects.toThrow('out of memory in fold');
  });

  it('names the component variant it does not know', async () => {
    const data = rows();
    const job: FoldJob = { layout: { embeddingDim: 8, wordSlots: 0, wordBuckets: 0 }, seed: 1, recipes: ['nope(l2=1)'], train: data, test: data };
    await expect(runFold(job)).rejects.toThrow('no component variant named nope(l2=1)');
  });
});

describe('fold pool on worker threads', () => {
  withBuild('gives byte-identical out-of-fold predictions and the same learner as folds run in process', async () => {
    const pool = createFoldPool({ workers: 2, script: WORKER });
    try {
      const [a, b] = [await train(IN_PROCESS_FOLDS), await train(pool)];
      expect(b.learner).toBe(a.learner);
      expect(b.selection).toEqual(a.selection);
      expect(Buffer.from(b.outOfFold.buffer).equals(Buffer.from(a.outOfFold.buffer))).toBe(true);
      // The components fitted in the workers come back whole: the same specs, here and refitted.
      expect(b.spec).toEqual(a.spec);
      expect(await b.refit({ rows: rows() })).toEqual(await a.refit({ rows: rows() }));
    } finally {
      await pool.close();
    }
  });

  withBuild('reports a fold that fails in a worker and serves the next one; after close it refuses work', async () => {
    const pool = createFoldPool({ workers: 1, script: WORKER });
    const data = rows();
    const job = (recipes: string[]): FoldJob => ({
      layout: { embeddingDim: 8, wordSlots: 0, wordBuckets: 0 }, seed: 1, recipes, train: logisticRows(60, 12, 3, [() => 0, () => 1]), test: { n: data.n, d: data.d, X: data.X.slice() },
    });
    try {
      await expect(pool.run(job(['nope(l2=1)']))).rejects.toThrow('fold worker: no component variant named nope(l2=1)');
      await expect(pool.fit({ ...job([]), recipe: 'nope(l2=2)' })).rejects.toThrow('fold worker: no component variant named nope(l2=2)');
      const logits = await pool.run(job(['logistic(l2=0.001)']));
      expect(logits['logistic(l2=0.001)']).toHaveLength(data.n * 2);
    } finally {
      await pool.close();
    }
    await expect(pool.run(job(['logistic(l2=0.001)']))).rejects.toThrow('fold pool is closed');
  });

  it('rejects the job of a worker that dies, runs the next ones on a new worker, and rejects what is running at close', async () => {
    const pool = createFoldPool({ workers: 1, script: path.join(__dirname, 'support', 'stand-in-fold-worker.js') });
    const job = (recipe: string) => ({ layout: { embeddingDim: 1, wordSlots: 0, wordBuckets: 0 }, seed: 1, recipe, train: logisticRows(3, 2, 1, [() => 0]) });
    try {
      expect(await pool.fit(job('a'))).toEqual({ name: 'a', rows: 3 });
      await expect(pool.fit(job('crash'))).rejects.toThrow('fold worker exited with code 3');
      expect(await pool.fit(job('b'))).toEqual({ name: 'b', rows: 3 });
      // A job queued behind one that crashes its worker still runs.
      const [crash, after] = [pool.fit(job('crash')), pool.fit(job('c'))];
      await expect(crash).rejects.toThrow('fold worker exited with code 3');
      expect(await after).toEqual({ name: 'c', rows: 3 });
      const hanging = expect(pool.fit(job('hang'))).rejects.toThrow('fold pool is closed');
      await new Promise((r) => setTimeout(r, 50));
      await pool.close();
      await hanging;
    } finally {
      await pool.close();
    }
  });

  it('is not started for one worker or without the compiled worker script', () => {
    expect(foldPoolOrNull(1, WORKER)).toBeNull();
    expect(foldPoolOrNull(2, path.join(__dirname, 'no-such-worker.js'))).toBeNull();
  });
});
