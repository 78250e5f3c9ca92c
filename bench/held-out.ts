// What an outside check of the router reads: a share of a public file's prompts held out, the rest
// imported and trained on through the CLI as a user would (`import`, `retrain`), `score` run on the
// held-out prompts alone (id and prompt), and the held-out outcomes scored from `score`'s output under
// each policy. Repeated over splits, because one held-out set of a few hundred rows moves by hundredths.
// The split hashes each prompt with the split's number, so copies of a prompt stay on one side.
//   npm run bench:held-out -- [--data-dir ../shared/data] [--only gsm8k,mmlu,routerbench,llmrouter]
//     [--splits 5] [--fraction 0.3] [--policy per-request|near-best|average: routing.policy, which the learner is chosen for]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type PolicyKind, parsePolicyKind } from '../src/routing/policy';
import type { LabelledRow } from '../training/dataset';
import { type Evaluation, type PriceTable, evaluate, randomRouterReading } from '../training/evaluate';
import { mixedHash } from '../training/matrix';
import { POLICY_KINDS } from '../training/metrics';
import { readOutcomeFile } from '../training/outcome-file';
import { readPriceFile } from '../training/prices';
import { wholeNumber } from './args';
import { runCliQuietly } from './cli';
import { DATA_HELP, resolveDataDir } from './data-dir';
import { GSM8K, LLMROUTER, MMLU, type Part, ROUTERBENCH, describeTarget, meets, metricValue } from './targets';

const ROOT = path.resolve(__dirname, '..', '..');
const FILES: readonly (Part & { prices: string })[] = [
  { ...GSM8K, prices: 'routellm/models.json' },
  { ...MMLU, prices: 'routellm/models.json' },
  { ...ROUTERBENCH, prices: 'routerbench/models.json' },
  { ...LLMROUTER, prices: 'llmrouter/models.json' },
];

interface SplitResult {
  held: number;
  trained: number;
  retrainSeconds: number;
  /** Per policy, the figure of each of the file's targets. */
  figures: Record<PolicyKind, number[]>;
  randomApgr: number | null;
  /** Two models: the served policy's APGR and CPT(50%) on its reached points alone (no envelope). */
  reached: [number, number] | null;
}

const writeJsonl = (file: string, rows: readonly object[]): void => fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

async function runSplit(file: Part & { prices: string }, rows: LabelledRow[], prices: PriceTable, split: number, fraction: number, policy: PolicyKind): Promise<SplitResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-held-out-'));
  try {
    const isHeld = (r: LabelledRow): boolean => mixedHash(r.prompt, split) / 2 ** 32 < fraction;
    const held = rows.filter(isHeld);
    const train = rows.filter((r) => !isHeld(r));
    writeJsonl(path.join(tmp, 'train.jsonl'), train.map((r) => ({ id: r.id, source: r.source ?? undefined, prompt: r.prompt, outcomes: r.outcomes, costs: r.costs })));
    writeJsonl(path.join(tmp, 'held-out.jsonl'), held.map((r) => ({ id: r.id, prompt: r.prompt })));
    const models = Object.entries(prices).map(
      ([id, p]) =>
        `  - { id: ${JSON.stringify(id)}, provider: sim, price: { inputPerMTok: ${p.inputPerMTok}, outputPerMTok: ${p.outputPerMTok} }` +
        `${p.expectedOutputTokens === undefined ? '' : `, expectedOutputTokens: ${p.expectedOutputTokens}`} }`,
    );
    const config = path.join(tmp, 'switchyard.yaml');
    fs.writeFileSync(
      config,
      `storage: { path: store.db }\nembedding: { model: default, modelsDir: ${JSON.stringify(path.join(ROOT, 'models', 'embedder'))} }\n` +
        `routing: { classifierDir: router, policy: ${policy} }\nmodels:\n${models.join('\n')}\n`,
    );
    await runCliQuietly(['import', path.join(tmp, 'train.jsonl'), '--config', config]);
    const started = process.hrtime.bigint();
    await runCliQuietly(['retrain', '--config', config]);
    const retrainSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    await runCliQuietly(['score', '--data', path.join(tmp, 'held-out.jsonl'), '--out', path.join(tmp, 'scores.jsonl'), '--config', config]);

    const scored = new Map<string, Record<string, number>>();
    for (const line of fs.readFileSync(path.join(tmp, 'scores.jsonl'), 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as { id: string; p_success: Record<string, number> };
      scored.set(r.id, r.p_success);
    }
    const classifierModels = Object.keys(scored.values().next().value ?? {});
    const P = new Float32Array(held.length * classifierModels.length);
    held.forEach((r, i) => {
      const p = scored.get(r.id);
      if (!p) throw new Error(`score wrote no line for ${r.id}`);
      classifierModels.forEach((m, j) => (P[i * classifierModels.length + j] = p[m]));
    });
    const byPolicy = Object.fromEntries(POLICY_KINDS.map((kind) => [kind, evaluate(classifierModels, P, held, prices, undefined, kind)])) as Record<PolicyKind, Evaluation>;
    const random = randomRouterReading(classifierModels, held, prices, undefined, byPolicy[policy]);
    const served = byPolicy[policy].routing?.twoModel?.reached;
    return {
      held: held.length,
      trained: train.length,
      retrainSeconds,
      figures: Object.fromEntries(POLICY_KINDS.map((kind) => [kind, file.targets.map((t) => metricValue(byPolicy[kind], t.metric))])) as Record<PolicyKind, number[]>,
      randomApgr: random?.apgr ?? null,
      reached: served ? [served.apgr, served.cpt50] : null,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'data-dir': { type: 'string' }, only: { type: 'string' }, splits: { type: 'string' }, fraction: { type: 'string' }, policy: { type: 'string' } },
  });
  const dataDir = resolveDataDir(values['data-dir'], process.env);
  if (!dataDir) throw new Error(DATA_HELP);
  const splits = wholeNumber(values.splits, 5, '--splits');
  const fraction = values.fraction === undefined ? 0.3 : Number(values.fraction);
  if (!(fraction > 0 && fraction < 1)) throw new Error(`--fraction must be between 0 and 1, got "${values.fraction}"`);
  const policy = parsePolicyKind(values.policy ?? 'per-request', '--policy');
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((name) => !FILES.some((f) => f.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`--only: unknown ${unknown.join(', ')} (known: ${FILES.map((f) => f.name).join(', ')})`);
  const files = FILES.filter((f) => !only || only.includes(f.name)).filter((f) => fs.existsSync(path.join(dataDir, f.file)));

  const summary: string[] = [];
  for (const file of files) {
    const rows = readOutcomeFile(path.join(dataDir, file.file));
    const prices = readPriceFile(path.join(dataDir, file.prices));
    const results: SplitResult[] = [];
    for (let split = 1; split <= splits; split++) {
      const r = await runSplit(file, rows, prices, split, fraction, policy);
      results.push(r);
      const figures = POLICY_KINDS.map((kind) => `${kind} ${file.targets.map((t, i) => `${t.metric} ${r.figures[kind][i].toFixed(3)}`).join(', ')}`).join('; ');
      console.log(
        `${file.name} split ${split}: ${r.held} held out, ${r.trained} trained on (retrain ${r.retrainSeconds.toFixed(1)} s): ${figures}` +
          (r.reached === null ? '' : `; ${policy} on its reached points alone: apgr ${r.reached[0].toFixed(3)}, cpt50 ${r.reached[1].toFixed(3)}`) +
          (r.randomApgr === null ? '' : `; a random router: apgr ${r.randomApgr.toFixed(3)}`),
      );
    }
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    for (const kind of POLICY_KINDS) {
      const parts = file.targets.map((t, i) => {
        const v = results.map((r) => r.figures[kind][i]);
        const passing = v.filter((x) => meets(x, t)).length;
        return `${t.metric} ${mean(v).toFixed(3)} (${Math.min(...v).toFixed(3)} to ${Math.max(...v).toFixed(3)}; target ${describeTarget(t)} met on ${passing} of ${v.length})`;
      });
      summary.push(`${file.name.padEnd(12)} ${kind.padEnd(12)} ${parts.join('; ')}${kind === policy ? '  (served)' : ''}`);
    }
    const reached = results.flatMap((r) => (r.reached === null ? [] : [r.reached]));
    if (reached.length) {
      summary.push(`${''.padEnd(12)} ${policy} on its reached points alone, no two mixed: apgr ${mean(reached.map((r) => r[0])).toFixed(3)}; cpt50 ${mean(reached.map((r) => r[1])).toFixed(3)}`);
    }
    const randoms = results.flatMap((r) => (r.randomApgr === null ? [] : [r.randomApgr]));
    const held = mean(results.map((r) => r.held));
    summary.push(
      `${''.padEnd(12)} ${results.length} splits, ${Math.round(held)} rows held out on average; retrain ${mean(results.map((r) => r.retrainSeconds)).toFixed(1)} s on average` +
        (randoms.length ? `; a random router reads apgr ${mean(randoms).toFixed(3)} on sets that size` : ''),
    );
  }
  console.log(`\nHeld out ${fraction * 100}% per split, classifier trained for the ${policy} policy, data ${dataDir}\n${summary.join('\n')}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
