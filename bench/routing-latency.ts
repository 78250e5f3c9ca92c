// Routing-decision latency (embed + classify + policy) over 1,000 varied prompts of 20–2,000 characters,
// with the real default embedder and a classifier trained here on real outcome data (or the shipped
// examples when no data directory is found). Target on 2 cores: p50 ≤ 1 ms, p99 ≤ 3 ms.
//   npm run bench:latency -- [--data-dir ../shared/data] [--dataset routerbench/train.jsonl; comma-separated files are one store] [--rounds 5] [--learner NAME] [--policy per-request|near-best|average]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { ClassifierRegistry } from '../src/routing/classifier-registry';
import { createRouter } from '../src/routing/router';
import { parsePolicyKind } from '../src/routing/policy';
import { readOutcomeFile } from '../training/outcome-file';
import { retrain } from '../training/retrain';
import { seededRandom } from '../training/matrix';
import { resolveDataDir } from './data-dir';
import { loadDefaultEmbedder, withImportedStore } from './setup';

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Prompts of log-uniform length in [20, 2000] characters, cut from or stitched together out of real prompts. */
function variedPrompts(source: string[], count: number, seed: number): string[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const length = Math.round(20 * 100 ** random());
    let text = '';
    while (text.length < length) text += `${source[Math.floor(random() * source.length)]}\n`;
    return text.slice(0, length);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' }, dataset: { type: 'string' }, rounds: { type: 'string' }, 'models-dir': { type: 'string' }, features: { type: 'string' },
      learner: { type: 'string', multiple: true }, policy: { type: 'string' },
    },
  });
  const policy = parsePolicyKind(values.policy ?? 'per-request', '--policy');
  const dataDir = resolveDataDir(values['data-dir'], process.env);
  // Several files, comma-separated, are one store: two kinds of prompt with enough rows get the gated classifier.
  const files = dataDir ? (values.dataset ?? 'routellm/mmlu.train.jsonl').split(',').map((f) => path.join(dataDir, f)) : [path.resolve('data/examples/outcomes.jsonl')];
  const file = files.map((f) => path.basename(f)).join(' + ');
  const rows = files.flatMap((f) => readOutcomeFile(f));
  const embedder = await loadDefaultEmbedder(values['models-dir']);
  try {
    await withImportedStore(rows, async (store, tmp) => {
      const models = [...new Set(rows.flatMap((r) => Object.keys(r.outcomes)))].sort();
      const prices = Object.fromEntries(models.map((m, i) => [m, { inputPerMTok: 0.1 * (i + 1), outputPerMTok: 0.3 * (i + 1) }]));
      const t0 = Date.now();
      const report = await retrain(
        { store, embedder, classifierDir: path.join(tmp, 'router'), prices, log: () => {} },
        // By default the heaviest learner the trainer can deploy: every component, kNN over every training row.
        { featureKind: values.features, learners: values.learner ?? ['stats+logistic+words+knn'] },
      );
      console.log(`classifier: ${report.learner} trained on ${report.trainRows} rows of ${file} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const registry = new ClassifierRegistry({ dir: path.join(tmp, 'router'), expectEmbedderId: embedder.id });
      await registry.refresh();
      const router = createRouter({
        models: models.map((id) => ({ id, provider: 'sim' as const, price: prices[id], timeouts: { connectMs: 1000, totalMs: 1000 } })),
        minSuccess: 0.7,
        policy,
        expectedOutputTokens: 256,
        embedder,
        classifier: () => registry.current(),
      });
      const prompts = variedPrompts(rows.map((r) => r.prompt), 1000, 7);
      // The server never trains in-process; drop training's garbage so its collection is not timed here.
      (globalThis as { gc?: () => void }).gc?.();
      for (const p of prompts.slice(0, 200)) await router.route({ prompt: p });
      const rounds = Number(values.rounds ?? 5);
      const all: number[] = [];
      const parts = { embed: [] as number[], classify: [] as number[] };
      for (let r = 0; r < rounds; r++) {
        for (const p of prompts) {
          const start = performance.now();
          const d = await router.route({ prompt: p });
          all.push(performance.now() - start);
          parts.embed.push(d.timings.embedMs);
          parts.classify.push(d.timings.classifyMs);
        }
      }
      const fmt = (xs: number[]): string => {
        const s = [...xs].sort((a, b) => a - b);
        return `p50 ${percentile(s, 0.5).toFixed(3)} ms, p99 ${percentile(s, 0.99).toFixed(3)} ms, max ${s[s.length - 1].toFixed(3)} ms`;
      };
      console.log(`routing decision over ${prompts.length} prompts × ${rounds} rounds (20–2,000 chars), ${models.length} models, ${policy} policy:`);
      console.log(`  total    ${fmt(all)}   (target p50 ≤ 1 ms, p99 ≤ 3 ms)`);
      console.log(`  embed    ${fmt(parts.embed)}`);
      console.log(`  classify ${fmt(parts.classify)}`);
      console.log(`  rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
      await registry.dispose();
    });
  } finally {
    await embedder.dispose();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
