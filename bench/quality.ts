// Routing quality on the public outcome data, measured the way RouteLLM and RouterBench measure it:
// 5-fold cross-validation (folds stratified by source), one classifier per dataset family, metrics on the
// pooled out-of-fold predictions (and, under each line, the mean of the folds each scored on its own rows). Prints each metric next to its target.
//   npm run bench:quality -- [--data-dir ../shared/data] [--only mmlu,gsm8k: also routellm, both files in one store, scored per file; all, every family in one store] [--folds 5] [--seed 1] [--learner NAME]
//     [--features KIND] [--policy per-request|near-best|average: the policy that chooses learners and meets the targets] [--ensemble N: members of the small ensemble, 0 = off]
//     [--significance Z: standard errors of the paired per-fold gain a more complex learner needs, 0 = the margin only; default 1 on sets under 3,000 rows, else 0] [--margin X: routing score a more complex learner must add, default 0.005] [--repeats N: draws of the inner folds (default 3 when rows × models < 10,000, else 1)] [--interval N: bootstrap resamples for each line's 95% interval, default 200, 0 = off] [--dump DIR: per dataset, the feature rows, out-of-fold probabilities, folds, outcomes
//     and costs, for analysis outside the project; never inside the repository, as it holds the data's prompts]
//     [--workers N: threads for the inner folds (default: the cores, at most 4; 1: in process); the figures do not depend on it]
//     [--as-served: each fold trained as retrain serves it] [--kmeans-experts K: experiment, one classifier per k-means cluster of the prompts] [--no-experts: one classifier even on a mix of kinds]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteStore } from '../src/store/sqlite-store';
import { createTransformersEmbedder, ensureDefaultEmbedder } from '../src/embedding/transformers-embedder';
import { readOutcomeFile } from '../training/outcome-file';
import { type LabelledRow, buildMatrix, featureMatrix, modelsOf, splitKey, stratifiedSplit } from '../training/dataset';
import { DEFAULT_FEATURE_KIND } from '../src/routing/features';
import { costMatrix, evaluate, evaluateRows, type Evaluation, headlineIntervals, type PriceTable, randomRouterReading, routingCosts } from '../training/evaluate';
import { DEFAULT_RESAMPLES, intervalLine, isResampleCount, resampleCountError } from '../training/bootstrap';
import { hashString, mixedHash, putRows, selectRows } from '../training/matrix';
import { predictSpec } from '../training/classifier-spec';
import { IN_PROCESS_FOLDS } from '../training/component-recipes';
import { isSmallSet } from '../training/learner-selection';
import { type TrainOptions, trainClassifier } from '../training/train-classifier';
import { foldPoolOrNull } from '../training/fold-pool';
import { trainRouterClassifier } from '../training/experts';
import { POLICY_KINDS, formatMetricsTable } from '../training/metrics';
import { type PolicyKind, parsePolicyKind } from '../src/routing/policy';
import { readPriceFile } from '../training/prices';
import { DATA_HELP, resolveDataDir } from './data-dir';
import { kMeans, nearestCentroid } from './kmeans';
import { shiftTable } from './shift-table';
import { GSM8K, LLMROUTER, MMLU, type Part, ROUTERBENCH, type Target, describeTarget, meets, metricValue } from './targets';

interface Dataset {
  name: string;
  /** Price files, merged (a later file's model wins). */
  prices: string[];
  /** One classifier is trained on all the parts' rows; each part is scored on its own rows against its targets. */
  parts: Part[];
  /** Run only when named in --only. */
  optIn?: boolean;
}

const DATASETS: Dataset[] = [
  { name: 'mmlu', prices: ['routellm/models.json'], parts: [MMLU] },
  { name: 'gsm8k', prices: ['routellm/models.json'], parts: [GSM8K] },
  { name: 'routerbench', prices: ['routerbench/models.json'], parts: [ROUTERBENCH] },
  { name: 'llmrouter', prices: ['llmrouter/models.json'], parts: [LLMROUTER] },
  // What a deployment that serves both kinds of traffic trains on: MMLU and GSM8K in one store.
  { name: 'routellm', prices: ['routellm/models.json'], parts: [MMLU, GSM8K], optIn: true },
  // Every family in one store: kinds that record different models (2, 11 and 9 of them), one classifier each.
  { name: 'all', prices: ['routellm/models.json', 'routerbench/models.json', 'llmrouter/models.json'], parts: [MMLU, GSM8K, ROUTERBENCH, LLMROUTER], optIn: true },
];

/**
 * Each fold's rows scored on their own and the figures averaged (the usual k-fold estimate): what a held-out
 * set of a fold's size reads one classifier at, as an external check scoring a held-out file does. The
 * envelope reads more noise in its favour the fewer the rows, so on two models the line also says what a
 * random router reads on sets that size (the cheap model's p drawn at random and the dear one's set to 1, so
 * the bar upgrades prompts in random order), on a fold and on the pooled rows. Printed beside the pooled
 * headline, not instead of it: the pooled one reads least noise.
 */
function perFoldLine(
  models: string[], P: Float32Array, rows: LabelledRow[], foldOfRow: readonly number[], k: number,
  prices: PriceTable, policy: PolicyKind, targets: readonly Target[], seed: number, pooled: Evaluation,
): string {
  const folds = Array.from({ length: k }, (_, f) => foldOfRow.flatMap((g, i) => (g === f ? [i] : []))).filter((idx) => idx.length > 0);
  const evaluations = folds.map((idx) => evaluateRows(models, P, rows, idx, prices, undefined, policy));
  const stats = targets.map((t) => {
    const v = evaluations.map((e) => metricValue(e, t.metric));
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return `${t.metric} ${mean.toFixed(3)} (${Math.min(...v).toFixed(3)} to ${Math.max(...v).toFixed(3)})`;
  });
  // What a router with no signal reads, on average over sets of a fold's size and on all the rows.
  const randomOn = (sets: readonly (readonly number[])[], of: readonly Evaluation[]): string | null => {
    const reads = sets.map((idx, j) => randomRouterReading(models, idx.map((i) => rows[i]), prices, undefined, of[j], seed));
    const mean = (key: 'apgr' | 'cpt50'): number => reads.reduce((a, r) => a + (r?.[key] ?? NaN), 0) / reads.length;
    return reads.every((r) => r !== null) ? `apgr ${mean('apgr').toFixed(3)}, cpt50 ${mean('cpt50').toFixed(3)}` : null;
  };
  const onFold = randomOn(folds, evaluations);
  const random = onFold === null ? '' : `; a random router reads ${onFold} on a fold, ${randomOn([rows.map((_, i) => i)], [pooled])} on all ${rows.length} rows`;
  return `mean of the ${folds.length} folds, each scored on its own rows (as a held-out set of ${Math.round(rows.length / folds.length)} rows reads one classifier): ${stats.join('; ')}${random}`;
}

/**
 * Each row's fold key: the id of the first row that carries the same prompt. A prompt stored twice (MMLU
 * holds 54 questions under two subjects each) is then one key, so its copies share an outer and an inner
 * fold, as `retrain`'s split keyed by the prompt has them; a row whose prompt is unique keeps its own id,
 * so sets without repeated prompts are split exactly as before.
 */
function promptFoldKeys(rows: readonly { id: string; prompt: string }[]): string[] {
  const first = new Map<string, string>();
  return rows.map((r) => {
    const known = first.get(r.prompt);
    if (known !== undefined) return known;
    first.set(r.prompt, r.id);
    return r.id;
  });
}

/**
 * Fold per row: within each source, rows ordered by a seeded hash and dealt round-robin; then a repeated
 * prompt's later copies join its first copy's fold (they may sit under another source), so no prompt is
 * both trained on and scored.
 */
function stratifiedFolds(rows: readonly { id: string; source: string | null }[], keys: readonly string[], k: number, seed: number): number[] {
  const fold = new Array<number>(rows.length);
  const groups = new Map<string, number[]>();
  rows.forEach((r, i) => groups.set(r.source ?? '', [...(groups.get(r.source ?? '') ?? []), i]));
  let offset = 0;
  for (const key of [...groups.keys()].sort()) {
    const idx = groups.get(key)!.sort((a, b) => hashString(rows[a].id, seed) - hashString(rows[b].id, seed));
    idx.forEach((r, j) => (fold[r] = (j + offset) % k));
    offset += idx.length;
  }
  const foldOfKey = new Map<string, number>();
  rows.forEach((r, i) => {
    const first = foldOfKey.get(keys[i]);
    if (first === undefined) foldOfKey.set(keys[i], fold[i]);
    else fold[i] = first;
  });
  return fold;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' }, only: { type: 'string' }, folds: { type: 'string' }, seed: { type: 'string' },
      learner: { type: 'string', multiple: true }, features: { type: 'string' }, 'models-dir': { type: 'string' }, cache: { type: 'string' }, verbose: { type: 'boolean' }, 'select-by-loss': { type: 'boolean' }, dump: { type: 'string' }, ensemble: { type: 'string' }, policy: { type: 'string' },
      significance: { type: 'string' }, margin: { type: 'string' }, repeats: { type: 'string' }, interval: { type: 'string' }, workers: { type: 'string' }, 'as-served': { type: 'boolean' }, 'kmeans-experts': { type: 'string' }, 'no-experts': { type: 'boolean' },
    },
  });
  const dataDir = resolveDataDir(values['data-dir'], process.env);
  if (!dataDir) {
    console.log(DATA_HELP);
    return;
  }
  const ensembleTop = values.ensemble === undefined ? undefined : Number(values.ensemble);
  if (ensembleTop !== undefined && !(Number.isInteger(ensembleTop) && ensembleTop >= 0)) {
    throw new Error(`--ensemble must be a whole number ≥ 0, got "${values.ensemble}"`);
  }
  const repeats = values.repeats === undefined ? undefined : Number(values.repeats);
  if (repeats !== undefined && !(Number.isInteger(repeats) && repeats >= 1)) throw new Error(`--repeats must be a whole number ≥ 1, got "${values.repeats}"`);
  const significance = values.significance === undefined ? undefined : Number(values.significance);
  const margin = values.margin === undefined ? undefined : Number(values.margin);
  if (margin !== undefined && !(Number.isFinite(margin) && margin >= 0)) throw new Error(`--margin must be a number ≥ 0, got "${values.margin}"`);
  if (significance !== undefined && !(Number.isFinite(significance) && significance >= 0)) {
    throw new Error(`--significance must be a number ≥ 0, got "${values.significance}"`);
  }
  // Bootstrap resamples for each line's 95% interval: the noise of a set that size (training/bootstrap.ts).
  const resamples = values.interval === undefined ? DEFAULT_RESAMPLES : Number(values.interval);
  if (!isResampleCount(resamples)) throw new Error(resampleCountError(values.interval ?? ''));
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1)) {
    throw new Error(`--workers must be a whole number ≥ 1, got "${values.workers}"`);
  }
  const policy = parsePolicyKind(values.policy ?? 'per-request', '--policy');
  const k = Number(values.folds ?? 5);
  const seed = Number(values.seed ?? 1);
  const only = values.only?.split(',');
  const asServed = values['as-served'] ?? false;
  const experts = Number(values['kmeans-experts'] ?? 1);
  const modelsDir = path.resolve(values['models-dir'] ?? 'models/embedder');
  await ensureDefaultEmbedder({ modelsDir, onProgress: (m) => console.error(m) });
  const embedder = createTransformersEmbedder({ model: 'default', modelsDir });
  await embedder.load();
  // Embeddings are cached across runs (the cache is keyed by embedder id, so a rebuilt embedder misses).
  const cache = new SqliteStore({ path: path.resolve(values.cache ?? 'data/bench-cache.db') });
  const pool = foldPoolOrNull(workers);
  const summary: string[] = [];
  try {
    for (const ds of DATASETS.filter((d) => (only ? only.includes(d.name) : !d.optIn))) {
      const started = Date.now();
      const partRows = ds.parts.map((part) => readOutcomeFile(path.join(dataDir, part.file)));
      const rows = partRows.flat();
      const prices = Object.assign({}, ...ds.prices.map((file) => readPriceFile(path.join(dataDir, file))));
      const models = modelsOf(rows);
      const prompts = rows.map((r) => r.prompt);
      const { X, d, embeddingDim, wordSlots, wordBuckets } = await featureMatrix(values.features ?? DEFAULT_FEATURE_KIND, embedder, prompts, cache);
      const embedSeconds = (Date.now() - started) / 1000;
      const all = buildMatrix(X, d, rows, models);
      const foldKeyOfRow = promptFoldKeys(rows);
      const fold = stratifiedFolds(rows, foldKeyOfRow, k, seed);
      const P = new Float32Array(rows.length * models.length);
      const learners: Record<string, number> = {};
      let trainSeconds = 0;
      // What every fit here shares; the rows decide the fold keys and the routing costs.
      const trainOptions = (fitIdx: readonly number[]): TrainOptions => ({
        models, embeddingDim, wordSlots, wordBuckets, seed, foldKeys: fitIdx.map((i) => foldKeyOfRow[i]), learners: values.learner, ensembleTop, policy, significance, margin, repeats,
        foldRunner: pool ?? IN_PROCESS_FOLDS,
        ...(values['select-by-loss'] ? {} : routingCosts(fitIdx.map((i) => rows[i]), models, prices)),
      });
      for (let f = 0; f < k; f++) {
        const trainIdx = fold.flatMap((g, i) => (g === f ? [] : [i]));
        const testIdx = fold.flatMap((g, i) => (g === f ? [i] : []));
        const t0 = Date.now();
        if (experts > 1) {
          // Experiment (--kmeans-experts): one classifier per k-means cluster of the fold's training prompts; a test row gets
          // its nearest centroid's.
          const C = kMeans(all.X, all.d, trainIdx, embeddingDim, experts, seed);
          const groupOf = (r: number): number => nearestCentroid(all.X, all.d, r, C, embeddingDim, experts);
          for (let c = 0; c < experts; c++) {
            const fitIdx = trainIdx.filter((r) => groupOf(r) === c);
            const held = testIdx.filter((r) => groupOf(r) === c);
            if (held.length === 0) continue;
            const result = await trainClassifier(selectRows(all, fitIdx), trainOptions(fitIdx));
            learners[`[${fitIdx.length}] ${result.learner}`] = (learners[`[${fitIdx.length}] ${result.learner}`] ?? 0) + 1;
            const test = selectRows(all, held);
            const p = await predictSpec(result.spec, test.X, test.n);
            putRows(P, p, held, models.length);
          }
          trainSeconds += (Date.now() - t0) / 1000;
          continue;
        }
        // --as-served: what `retrain` serves — trained on 80% of the fold's rows (its stratified split), then
        // refitted on all of them (in a small store the learner chosen afresh; otherwise the components
        // refitted, the stack and calibration kept).
        const fitIdx = asServed ? stratifiedSplit(trainIdx.map((i) => rows[i]), 0.2, seed, mixedHash, splitKey).train.map((j) => trainIdx[j]) : trainIdx;
        const result = await trainRouterClassifier(selectRows(all, fitIdx), {
          ...trainOptions(fitIdx),
          sources: fitIdx.map((i) => rows[i].source), ...(values['no-experts'] ? { minExpertRows: Infinity } : {}),
          onProgress: values.verbose ? (message) => console.error(`  [fold ${f + 1}] ${message.trim()}`) : undefined,
        });
        const { foldKeys, costs, estimates } = trainOptions(trainIdx);
        const spec = asServed
          ? (await result.refit({ rows: selectRows(all, trainIdx), sources: trainIdx.map((i) => rows[i].source), foldKeys, costs, estimates, rechoose: isSmallSet(trainIdx.length, models.length) })).spec
          : result.spec;
        trainSeconds += (Date.now() - t0) / 1000;
        learners[result.learner] = (learners[result.learner] ?? 0) + 1;
        const test = selectRows(all, testIdx);
        const p = await predictSpec(spec, test.X, test.n);
        putRows(P, p, testIdx, models.length);
      }
      if (values.dump) {
        // Raw little-endian float32 matrices plus a JSON header, readable with numpy.fromfile.
        fs.mkdirSync(values.dump, { recursive: true });
        const base = path.join(values.dump, ds.name);
        fs.writeFileSync(`${base}.X.f32`, Buffer.from(all.X.buffer, all.X.byteOffset, all.X.byteLength));
        fs.writeFileSync(`${base}.P.f32`, Buffer.from(P.buffer));
        const cm = costMatrix(rows, models, prices);
        fs.writeFileSync(`${base}.json`, JSON.stringify({ n: rows.length, d, embeddingDim, models, fold, costs: cm ? Array.from(cm) : null,
          outcomes: rows.map((r) => models.map((m) => r.outcomes[m] ?? null)), sources: rows.map((r) => r.source), prompts: rows.map((r) => r.prompt) }));
      }
      const trained = `learners ${Object.entries(learners).map(([n, c]) => `${n}×${c}`).join(', ')}; embed ${embedSeconds.toFixed(1)} s, train ${(trainSeconds / k).toFixed(1)} s/fold`;
      let from = 0;
      for (const [pi, part] of ds.parts.entries()) {
        // A part's rows are a contiguous run of `rows` (files concatenated in order).
        const n = partRows[pi].length;
        const own = partRows[pi];
        const ownP = P.subarray(from * models.length, (from + n) * models.length);
        from += n;
        const evaluation = evaluate(models, ownP, own, prices, undefined, policy);
        // The other policies on the same predictions, for comparison (learners were chosen for `policy`).
        const others = POLICY_KINDS.filter((x) => x !== policy).map((kind) => ({ kind, evaluation: evaluate(models, ownP, own, prices, undefined, kind) }));
        if (values.verbose && evaluation.routing) console.log(formatMetricsTable(evaluation.routing));
        if (policy === 'average') {
          const { costs, estimates } = routingCosts(own, models, prices);
          if (costs) console.log(shiftTable(own, models, ownP, costs, estimates ?? null, seed));
        }
        const line = part.targets
          .map((t) => {
            const v = metricValue(evaluation, t.metric);
            const ok = meets(v, t);
            return `${t.metric} ${v.toFixed(3)} (target ${describeTarget(t)}) ${ok ? 'PASS' : 'MISS'}`;
          })
          .join('; ');
        const otherLine = others
          .map(({ kind, evaluation: e }) => `${kind} policy on the same predictions: ${part.targets.map((t) => `${t.metric} ${metricValue(e, t.metric).toFixed(3)}`).join('; ')}`)
          .join('; ');
        const label = ds.parts.length > 1 ? `${part.name} (trained on all of ${ds.name}: ${rows.length} rows)` : part.name;
        const reached = evaluation.routing?.twoModel?.reached;
        // What the headline reads on its policy's reached points alone, no two mixed, as RouteLLM reads curves.
        const reachedLine = reached ? `; ${policy} policy on its reached points alone: apgr ${reached.apgr.toFixed(3)}; cpt50 ${reached.cpt50.toFixed(3)}` : '';
        const text = `${label.padEnd(12)} ${n} rows, ${evaluation.routing?.models.length ?? models.length} models, ${policy} policy: ${line}  (${otherLine}${reachedLine})  [${evaluation.chargedRecordedCosts ? 'chosen by price × estimated tokens, charged the recorded costs; ' : ''}${trained}]`;
        console.log(text);
        summary.push(text);
        const foldText = `${''.padEnd(12)} ${perFoldLine(models, ownP, own, fold.slice(from - n, from), k, prices, policy, part.targets, seed, evaluation)}`;
        console.log(foldText);
        summary.push(foldText);
        if (resamples > 0) {
          const intervals = headlineIntervals(models, ownP, own, prices, { resamples, seed, policy });
          const ivText = `${''.padEnd(12)} ${intervalLine(intervals, resamples, n, part.targets.map((t) => t.metric))}`;
          console.log(ivText);
          summary.push(ivText);
        }
      }
      const sameModels = new Set(partRows.map((own) => modelsOf(own).join(','))).size === 1;
      if (ds.parts.length > 1 && !sameModels) {
        const text = `${`${ds.name} (pooled)`.padEnd(12)} no pooled line: the parts record different models, so one curve over them would mix populations`;
        console.log(text);
        summary.push(text);
      } else if (ds.parts.length > 1) {
        // The traffic such a deployment serves is the mix: its curve over every row, no target of its own.
        const pooled = evaluate(models, P, rows, prices, undefined, policy);
        const metrics = (['apgr', 'cpt50', 'gainVsZero', 'costSaving95OfBest'] as const).filter((m) => Number.isFinite(metricValue(pooled, m)));
        const text = `${`${ds.name} (pooled)`.padEnd(12)} ${rows.length} rows, ${policy} policy: ${metrics.map((m) => `${m} ${metricValue(pooled, m).toFixed(3)}`).join('; ')} (no target: the parts' lines are what the targets judge)`;
        console.log(text);
        summary.push(text);
        if (resamples > 0) {
          const ivText = `${''.padEnd(12)} ${intervalLine(headlineIntervals(models, P, rows, prices, { resamples, seed, policy }), resamples, rows.length, metrics)}`;
          console.log(ivText);
          summary.push(ivText);
        }
      }
    }
  } finally {
    cache.close();
    await embedder.dispose();
    await pool?.close();
  }
  console.log(`\n${k}-fold cross-validation, seed ${seed}${asServed ? ', each fold trained as retrain serves it (80% split, refitted on the fold)' : ''}, data ${dataDir}\n${summary.join('\n')}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
