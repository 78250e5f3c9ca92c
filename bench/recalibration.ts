// What routing.recalibration does to the per-request bar, measured with the router's own code: a
// classifier is trained (as `retrain` trains it) on all but a held-out fifth of one file; then, for each
// traffic set — that fifth (prompts like the training ones) and each other file (another kind of prompt) —
// the first half is routed and every answer rated with its recorded outcome, each model's shift is fitted
// on those ratings, and the second half is routed without and with the shifts. For each target it prints
// the mean predicted success of the chosen models beside the realised one: the bar holds when they agree.
//   npm run bench:recalibration -- [--data-dir ../shared/data] [--train routellm/mmlu.train.jsonl]
//     [--traffic routellm/gsm8k.train.jsonl,...] [--prices routellm/models.json] [--min-ratings 100]
//     [--policy per-request|near-best] (the average policy reads no shifts)
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ClassifierRegistry } from '../src/routing/classifier-registry';
import { type Decision, createRouter } from '../src/routing/router';
import { type RatedAnswer, shiftsFrom } from '../src/routing/recalibration';
import { promptHash } from '../src/store/prompt-hash';
import type { LabelledRow } from '../training/dataset';
import { readOutcomeFile } from '../training/outcome-file';
import { readPriceFile } from '../training/prices';
import { retrain } from '../training/retrain';
import { parsePolicyKind } from '../src/routing/policy';
import { resolveDataDir } from './data-dir';
import { loadDefaultEmbedder, withImportedStore } from './setup';

const TARGETS = [0.6, 0.7, 0.8, 0.9];

/** The model chosen, its outcome, and the success the policy read for it. */
function answered(d: Decision, row: LabelledRow): { model: string; outcome: number; read: number; own: number } | null {
  const outcome = row.outcomes[d.chosen];
  const c = d.candidates.find((x) => x.model === d.chosen);
  if (outcome === undefined || outcome === null || !c || c.pSuccess === null) return null;
  return { model: d.chosen, outcome, read: c.pSuccess, own: c.pClassifier ?? c.pSuccess };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' }, train: { type: 'string' }, traffic: { type: 'string' }, prices: { type: 'string' },
      'min-ratings': { type: 'string' }, 'models-dir': { type: 'string' }, policy: { type: 'string' },
    },
  });
  const dataDir = resolveDataDir(values['data-dir'], process.env);
  if (!dataDir) {
    console.log('No outcome data: pass --data-dir or set SWITCHYARD_DATA_DIR (see README "Benchmarks").');
    return;
  }
  const trainFile = values.train ?? 'routellm/mmlu.train.jsonl';
  const trafficFiles = (values.traffic ?? 'routellm/gsm8k.train.jsonl').split(',');
  const prices = readPriceFile(path.join(dataDir, values.prices ?? 'routellm/models.json'));
  const minRatings = Number(values['min-ratings'] ?? 100);
  const policy = parsePolicyKind(values.policy ?? 'per-request', '--policy');
  if (policy === 'average') throw new Error('--policy average: that policy reads no shifts (see README "Recalibration by ratings")');
  const all = readOutcomeFile(path.join(dataDir, trainFile));
  // A fifth held out by the prompt's hash, so copies of one prompt fall on one side.
  const heldOut = (r: LabelledRow): boolean => parseInt(promptHash(r.prompt).slice(0, 8), 16) % 5 === 0;
  const train = all.filter((r) => !heldOut(r));
  const sets: [string, LabelledRow[]][] = [
    [`${trainFile}, held-out fifth`, all.filter(heldOut)],
    ...trafficFiles.map((f): [string, LabelledRow[]] => [f, readOutcomeFile(path.join(dataDir, f))]),
  ];

  const embedder = await loadDefaultEmbedder(values['models-dir']);
  try {
    await withImportedStore(train, async (store, tmp) => {
      const report = await retrain({ store, embedder, classifierDir: path.join(tmp, 'router'), prices, log: () => {} }, { seed: 1 });
      console.log(`classifier: ${report.learner}, served as retrain serves it, from the ${train.length} rows of ${trainFile} outside its held-out fifth; ${policy} policy`);
      const registry = new ClassifierRegistry({ dir: path.join(tmp, 'router'), expectEmbedderId: embedder.id });
      await registry.refresh();
      const models = registry.current()!.models;
      // A router per pass: the average policy's λ follows the traffic it has routed, which must be this pass's.
      const routerWith = (shifts: ReadonlyMap<string, number>) => createRouter({
        models: models.map((id) => ({ id, provider: 'sim' as const, price: prices[id] ?? { inputPerMTok: 1, outputPerMTok: 1 }, timeouts: { connectMs: 1000, totalMs: 1000 } })),
        minSuccess: 0.7,
        expectedOutputTokens: 256,
        embedder,
        classifier: () => registry.current(),
        policy,
        recalibration: () => shifts,
      });
      for (const [name, rows] of sets) {
        const half = Math.floor(rows.length / 2);
        console.log(`\n${name}: ${half} prompts routed and rated, ${rows.length - half} routed after`);
        for (const target of TARGETS) {
          const unshifted = routerWith(new Map());
          const ratings: RatedAnswer[] = [];
          for (const row of rows.slice(0, half)) {
            const a = answered(await unshifted.route({ prompt: row.prompt, minSuccess: target }), row);
            if (a) ratings.push({ model: a.model, predicted: a.own, rated: a.outcome });
          }
          const fitted = shiftsFrom(ratings, minRatings);
          const line = async (label: string, use: ReadonlyMap<string, number>): Promise<string> => {
            const router = routerWith(use);
            let read = 0;
            let realised = 0;
            let n = 0;
            const share = new Map<string, number>();
            for (const row of rows.slice(half)) {
              const a = answered(await router.route({ prompt: row.prompt, minSuccess: target }), row);
              if (!a) continue;
              n++;
              read += a.read;
              realised += a.outcome;
              share.set(a.model, (share.get(a.model) ?? 0) + 1);
            }
            const mix = [...share].sort().map(([m, c]) => `${m} ${((100 * c) / n).toFixed(1)}%`).join(', ');
            return `    ${label}: predicted ${(read / n).toFixed(3)}, realised ${(realised / n).toFixed(3)} (${mix})`;
          };
          const described = [...fitted].map(([m, s]) => `${m} ${s >= 0 ? '+' : '−'}${Math.abs(s).toFixed(2)}`).join(', ') || 'none passes its test';
          console.log(`  target ${target}: shifts from ${ratings.length} ratings: ${described}`);
          console.log(await line('without', new Map()));
          if (fitted.size > 0) console.log(await line('with   ', fitted));
        }
      }
      await registry.dispose();
    });
  } finally {
    await embedder.dispose();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
