// `switchyard score` on a large file: wall time and peak memory of the command alone, run in a child
// process. A classifier is first trained here (import + retrain through the CLI, on GSM8K by default or the
// shipped examples when no data directory is found); the file to score holds `--prompts` distinct prompts
// stitched from the data's prompts, and `--repeat` copies of each under other ids.
//   npm run bench:score -- [--data-dir ../shared/data] [--dataset routellm/gsm8k.train.jsonl] [--prompts 100000] [--repeat 1]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readOutcomeFile } from '../training/outcome-file';
import { seededRandom } from '../training/matrix';
import { wholeNumber } from './args';
import { runCliQuietly } from './cli';
import { resolveDataDir } from './data-dir';

const ROOT = path.resolve(__dirname, '..', '..');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'data-dir': { type: 'string' }, dataset: { type: 'string' }, prompts: { type: 'string' }, repeat: { type: 'string' } },
  });
  const distinct = wholeNumber(values.prompts, 100_000, '--prompts');
  const repeat = wholeNumber(values.repeat, 1, '--repeat');
  const dataDir = resolveDataDir(values['data-dir'], process.env);
  const source = dataDir ? path.join(dataDir, values.dataset ?? 'routellm/gsm8k.train.jsonl') : path.join(ROOT, 'data', 'examples', 'outcomes.jsonl');

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-score-'));
  try {
    const config = path.join(tmp, 'switchyard.yaml');
    fs.writeFileSync(
      config,
      `storage: { path: bench.db }\nembedding: { model: default, modelsDir: ${JSON.stringify(path.join(ROOT, 'models', 'embedder'))} }\n` +
        // The classifier knows the data's models; the config needs one model of its own to be valid.
        'routing: { classifierDir: router }\nmodels:\n  - { id: sim, provider: sim, price: { inputPerMTok: 1, outputPerMTok: 1 } }\n',
    );
    // The classifier is trained through the CLI; its output is shown only if that fails.
    await runCliQuietly(['import', source, '--config', config]);
    await runCliQuietly(['retrain', '--config', config, '--workers', '1']);

    // Distinct prompts: two to four of the data's prompts stitched together, numbered.
    const pieces = readOutcomeFile(source).map((r) => r.prompt);
    const random = seededRandom(7);
    const input = path.join(tmp, 'prompts.jsonl');
    const out = fs.openSync(input, 'w');
    for (let i = 0; i < distinct; i++) {
      const parts = Array.from({ length: 2 + Math.floor(random() * 3) }, () => pieces[Math.floor(random() * pieces.length)]);
      const line = JSON.stringify({ prompt: `${parts.join('\n')}\n(${i})` });
      for (let k = 0; k < repeat; k++) fs.writeSync(out, `{"id": "p${i}-${k}", ${line.slice(1)}\n`);
    }
    fs.closeSync(out);

    // The child runs only `score` and reports its own peak resident memory.
    const script =
      `require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'main.js'))}).runCli(process.argv.slice(1))` +
      '.then((code) => { console.log(JSON.stringify({ code, maxRssKb: process.resourceUsage().maxRSS })); });';
    const started = process.hrtime.bigint();
    const child = spawnSync(process.execPath, ['-e', script, 'score', '--data', input, '--out', path.join(tmp, 'scores.jsonl'), '--config', config], { encoding: 'utf8' });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const report = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as { code?: number; maxRssKb?: number };
    if (child.status !== 0 || report.code !== 0) throw new Error(`score failed:\n${child.stderr}`);
    const lines = fs.readFileSync(path.join(tmp, 'scores.jsonl'), 'utf8').split('\n').filter(Boolean).length;
    console.log(`classifier trained on ${path.relative(process.cwd(), source)}`);
    console.log(
      `score: ${lines} rows (${distinct} distinct prompts × ${repeat}) in ${seconds.toFixed(1)} s, ` +
        `${Math.round(lines / seconds)} rows/s, peak RSS ${Math.round((report.maxRssKb ?? 0) / 1024)} MiB`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
