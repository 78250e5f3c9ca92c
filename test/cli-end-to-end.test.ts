// The learning loop through the real CLI entry, the real default embedder (GloVe → ONNX, run by
// transformers.js on onnxruntime-node) and real files: import → retrain → score → eval.
import fs from 'node:fs';
import path from 'node:path';
import { loadOnnxClassifier } from '../src/routing/onnx-classifier';
import { runCli } from '../src/main';
import { SqliteStore } from '../src/store/sqlite-store';
import { DecisionStore } from '../src/store/decision-store';
import { makeTempDir } from './support/temp-dir';
import { loggedDecision } from './support/logged-decision';

const ROOT = path.join(__dirname, '..');
const SHARED = path.resolve(ROOT, '..', 'shared', 'data', 'routellm');

function config(dir: string, models: string): string {
  const file = path.join(dir, 'switchyard.yaml');
  fs.writeFileSync(
    file,
    `storage: { path: db.sqlite }
embedding: { model: default, modelsDir: ${JSON.stringify(path.join(ROOT, 'models', 'embedder'))} }
routing: { classifierDir: router }
models:
${models}`,
  );
  return file;
}

const SIM_MODELS = ['sim-small', 'sim-medium', 'sim-large']
  .map((id, i) => `  - { id: ${id}, provider: sim, price: { inputPerMTok: ${[0.15, 1, 5][i]}, outputPerMTok: ${[0.6, 3, 15][i]} } }`)
  .join('\n');

describe('CLI end to end with the real embedder', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());
  // Progress and warnings (stderr) and reports (stdout: eval's) in the order printed; `stdout` alone too.
  let stderr: string[] = [];
  let stdout: string[] = [];
  let write: typeof process.stderr.write;
  let writeOut: typeof process.stdout.write;
  beforeEach(() => {
    stderr = [];
    stdout = [];
    write = process.stderr.write.bind(process.stderr);
    writeOut = process.stdout.write.bind(process.stdout);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    process.stdout.write = ((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      stdout.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
  });
  afterEach(() => {
    process.stderr.write = write;
    process.stdout.write = writeOut;
  });

  it('import → retrain → score → eval on the shipped examples', async () => {
    const cfg = config(tmp.dir, SIM_MODELS);
    expect(await runCli(['import', path.join(ROOT, 'data', 'examples', 'outcomes.jsonl'), '--config', cfg])).toBe(0);
    expect(await runCli(['retrain', '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/promoted to current/);
    // Validation names what the policies not configured would score on the same rows.
    expect(stderr.join('')).toMatch(
      /The other policies on the same predictions \(routing\.policy serves one, router\.policy a request\); the learner was chosen for per-request:\n {2}near-best: gain vs Zero [+-]\d\.\d{4}, .*\n {2}average: gain vs Zero [+-]\d\.\d{4}, /,
    );
    const sidecar = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'router', 'v0001', 'classifier.json'), 'utf8'));
    expect(sidecar.embedder.id).toMatch(/^switchyard-glove-sif-100d@/);
    expect(sidecar.features).toMatchObject({ kind: 'embedding+prompt-stats-v2+words', dimension: 100 + 25 + 2 * 512 });

    const input = path.join(tmp.dir, 'prompts.jsonl');
    fs.writeFileSync(input, '{"id": "a", "prompt": "What is 2+2?"}\n{"id": 7, "prompt": "Prove that sqrt(2) is irrational.", "extra": true}\n');
    const out = path.join(tmp.dir, 'out', 'scores.jsonl');
    expect(await runCli(['score', '--data', input, '--out', out, '--config', cfg])).toBe(0);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // Ids come back as given (7 stays a number), so the scores join back to the input on them.
    expect(lines.map((l) => l.id)).toEqual(['a', 7]);
    for (const l of lines) {
      expect(Object.keys(l.p_success).sort()).toEqual(['sim-large', 'sim-medium', 'sim-small']);
      for (const p of Object.values(l.p_success) as number[]) expect(p).toBeGreaterThan(0);
    }

    // The rows a classifier of each feature kind reads: fed to the served classifier, they give score's p.
    const vectors = path.join(tmp.dir, 'out', 'features.jsonl');
    expect(await runCli(['features', '--data', input, '--out', vectors, '--config', cfg])).toBe(0);
    const plain = fs.readFileSync(vectors, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: unknown; features: number[] });
    expect(plain.map((l) => [l.id, l.features.length])).toEqual([['a', 100], [7, 100]]);
    expect(await runCli(['features', '--data', input, '--out', vectors, '--features', sidecar.features.kind, '--config', cfg])).toBe(0);
    const kindRows = fs.readFileSync(vectors, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: unknown; features: number[] });
    expect(kindRows[0].features.slice(0, 100)).toEqual(plain[0].features);
    const served = await loadOnnxClassifier(path.join(tmp.dir, 'router', 'v0001'));
    try {
      const P = await served.predict(Float32Array.from(kindRows.flatMap((l) => l.features)), kindRows.length);
      served.models.forEach((m, j) => {
        expect(P[j]).toBeCloseTo(lines[0].p_success[m], 6);
        expect(P[served.models.length + j]).toBeCloseTo(lines[1].p_success[m], 6);
      });
    } finally {
      await served.dispose();
    }
    expect(await runCli(['features', '--data', input, '--out', vectors, '--features', 'bogus', '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/--features: unknown feature kind "bogus" \(known: /);

    const svg = path.join(tmp.dir, 'chart.svg');
    stdout = [];
    expect(await runCli(['eval', '--data', path.join(ROOT, 'data', 'examples', 'outcomes.jsonl'), '--svg', svg, '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/Router vs Zero router: gain/);
    // The report is stdout (`eval … > report.txt` keeps it); progress is not.
    expect(stdout.join('')).toMatch(/^Classifier v0001 on .*outcomes\.jsonl \(40 rows\)[\s\S]*Router vs Zero router: gain[\s\S]*Chart: /);
    expect(stdout.join('')).not.toMatch(/embedded \d+\/\d+/);
    // How far the figures could move on another set of 40 rows, under the table.
    expect(stderr.join('')).toMatch(
      /95% interval \(200 bootstrap resamples of these 40 rows: the noise of a set this size, predictions held fixed\): gain vs Zero [-+]\d\.\d{3} to [-+]\d\.\d{3}/,
    );
    // Every row of that file was imported, so the figures are the training rows' own.
    expect(stderr.join('')).toMatch(/warning: 40 of 40 prompts are in the outcome store, which retrain trains on: if v0001 was trained after they were stored, these figures are optimistic/);
    expect(fs.readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*sim-large[\s\S]*<\/svg>\s*$/);
    expect(fs.existsSync(path.join(tmp.dir, 'router', 'v0001', 'reference.json'))).toBe(true);

    stderr = [];
    const unseen = path.join(tmp.dir, 'unseen.jsonl');
    const outcomes = '"outcomes": {"sim-small": 0, "sim-medium": 1, "sim-large": 1}';
    fs.writeFileSync(unseen, ['Name three rivers in Peru.', 'Factor x^2 - 5x + 6.', 'Write a haiku about rain.'].map((p, i) => `{"id": "u${i}", "prompt": "${p}", ${outcomes}}`).join('\n'));
    expect(await runCli(['eval', '--data', unseen, '--svg', svg, '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/Router vs Zero router: gain/);
    expect(stderr.join('')).not.toMatch(/outcome store/);
    expect(stderr.join('')).not.toMatch(/record per-prompt costs/);
    // A file that records what each answer cost: eval says which cost chooses and which is charged.
    stderr = [];
    fs.writeFileSync(unseen, fs.readFileSync(unseen, 'utf8').replace(/}}/g, '}, "costs": {"sim-small": 0.01}}'));
    expect(await runCli(['eval', '--data', unseen, '--svg', svg, '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/Costs: rows record per-prompt costs: the policy chooses by price × estimated tokens[\s\S]*Router vs Zero router/);
    // The router has learned from the log how long sim-large's answers run: eval costs it the same way.
    stderr = [];
    const store = new SqliteStore({ path: path.join(tmp.dir, 'db.sqlite') });
    new DecisionStore(store.db).insertMany(
      Array.from({ length: 50 }, (_, i) => loggedDecision(`d${i}`, 'sim-large', { 'sim-large': 0.9 }, { usage: { promptTokens: 10, completionTokens: 1234 } })),
    );
    store.close();
    expect(await runCli(['eval', '--data', unseen, '--svg', svg, '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/Answer lengths learned from the decision log \(as the router costs them\): sim-large 1200 tokens\./);
    // A classifier brought in from elsewhere, with no store beside it: eval reads none and creates none.
    const elsewhere = fs.mkdtempSync(path.join(tmp.dir, 'elsewhere-'));
    fs.cpSync(path.join(tmp.dir, 'router'), path.join(elsewhere, 'router'), { recursive: true });
    expect(await runCli(['eval', '--data', path.join(ROOT, 'data', 'examples', 'outcomes.jsonl'), '--svg', svg, '--config', config(elsewhere, SIM_MODELS)])).toBe(0);
    expect(stderr.join('')).not.toMatch(/outcome store/);
    expect(fs.existsSync(path.join(elsewhere, 'db.sqlite'))).toBe(false);

    // Each run names the two policies it did not use, scored on the same predictions: what `--policy`
    // (or routing.policy) would print for them.
    const examples = path.join(ROOT, 'data', 'examples', 'outcomes.jsonl');
    const gains: Record<string, { own: number; others: Record<string, number> }> = {};
    for (const policy of ['per-request', 'near-best', 'average']) {
      stderr = [];
      expect(await runCli(['eval', '--data', examples, '--svg', svg, '--policy', policy, '--interval', '0', '--config', cfg])).toBe(0);
      const text = stderr.join('');
      const block = text.match(/The other policies on the same predictions \(routing\.policy serves one, router\.policy a request\):\n((?: {2}[a-z-]+: .*\n)+)/);
      expect(block).not.toBeNull();
      const others = Object.fromEntries(
        block![1].trimEnd().split('\n').map((line) => {
          const m = line.match(/^ {2}([a-z-]+): gain vs Zero ([+-]\d\.\d{4}), saving at 95% of best (?:\d+\.\d%|n\/a)$/);
          expect(m).not.toBeNull();
          return [m![1], Number(m![2])];
        }),
      );
      expect(Object.keys(others)).toEqual(['per-request', 'near-best', 'average'].filter((p) => p !== policy));
      gains[policy] = { own: Number(text.match(/Router vs Zero router: gain ([-+]?\d\.\d{4})/)![1]), others };
    }
    for (const [policy, { others }] of Object.entries(gains)) {
      for (const [other, gain] of Object.entries(others)) expect({ policy, other, gain }).toEqual({ policy, other, gain: gains[other].own });
    }
    stderr = [];
    expect(await runCli(['eval', '--data', path.join(ROOT, 'data', 'examples', 'outcomes.jsonl'), '--svg', svg, '--policy', 'average', '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/average policy[\s\S]*Router vs Zero router: gain/);
    expect(await runCli(['eval', '--data', path.join(ROOT, 'data', 'examples', 'outcomes.jsonl'), '--policy', 'cheapest', '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/--policy: unknown policy "cheapest" \(known: per-request, near-best, average\)/);
    stderr = [];
    expect(await runCli(['eval', '--data', path.join(ROOT, 'data', 'examples', 'outcomes.jsonl'), '--svg', svg, '--policy', 'near-best', '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/near-best policy[\s\S]*Router vs Zero router: gain/);

    // Model names the classifier does not know: refused, not a table of n/a; some unknown: a warning.
    stderr = [];
    const typo = path.join(tmp.dir, 'typo.jsonl');
    fs.writeFileSync(typo, '{"id": "t1", "prompt": "Name a river.", "outcomes": {"sim-smal": 1, "sim-larg": 0}}\n');
    expect(await runCli(['eval', '--data', typo, '--svg', svg, '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/typo\.jsonl: none of its models \(sim-larg, sim-smal\) is one classifier v0001 predicts \(sim-large, sim-medium, sim-small\)/);
    fs.writeFileSync(typo, fs.readFileSync(unseen, 'utf8').replace(/"sim-small": 0/g, '"sim-small": 0, "sim-tiny": 1'));
    stdout = [];
    expect(await runCli(['eval', '--data', typo, '--svg', svg, '--config', cfg])).toBe(0);
    // A warning about what the figures cover is part of the report, on stdout.
    expect(stdout.join('')).toMatch(/^Classifier v0001 on .*typo\.jsonl \(\d+ rows\), per-request policy\nwarning: classifier v0001 does not predict sim-tiny; their outcomes are left out/);
    // An output that is a directory: refused before anything is written, and no temporary file left.
    stderr = [];
    expect(await runCli(['score', '--data', input, '--out', tmp.dir, '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/--out .* is a directory; give a file name/);
    expect(fs.readdirSync(path.dirname(tmp.dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // A disk that fills mid-write: half the scores reach the temporary file, then ENOSPC. The previous
    // output stays whole, and the temporary file is removed.
    const previous = fs.readFileSync(out, 'utf8');
    const realWrite = fs.writeFileSync;
    const full = jest.spyOn(fs, 'writeFileSync').mockImplementation((file, content, ...rest) => {
      if (typeof file !== 'string' || !file.endsWith('.tmp')) return realWrite(file, content, ...rest);
      realWrite(file, String(content).slice(0, String(content).length / 2));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    stderr = [];
    let failed: number;
    let tmpWrites: number;
    try {
      failed = await runCli(['score', '--data', input, '--out', out, '--config', cfg]);
      tmpWrites = full.mock.calls.filter(([file]) => String(file).endsWith('.tmp')).length;
    } finally {
      full.mockRestore();
    }
    expect(failed).toBe(1);
    expect(tmpWrites).toBe(1);
    expect(stderr.join('')).toMatch(/cannot write --out .*scores\.jsonl: ENOSPC: no space left on device/);
    expect(fs.readFileSync(out, 'utf8')).toBe(previous);
    expect(fs.readdirSync(path.dirname(out)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // Per source: each group of the file's sources on its own rows; groups under the minimum pooled.
    stderr = [];
    expect(await runCli(['eval', '--data', examples, '--svg', svg, '--by-source', '2', '--min-source-rows', '8', '--config', cfg])).toBe(0);
    const report = stderr.join('').split('By source (the first 2 segments')[1];
    expect(report.match(/^ {2}\S.*$/gm)).toEqual([
      // Each figure with its 95% interval over the group's own rows.
      expect.stringMatching(
        /^ {2}examples\/chat \(10 rows\): gain vs Zero [+-]\d\.\d{4} \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\], saving at 95% of best .+; AUC sim-large (\d\.\d{3}|n\/a), sim-medium (\d\.\d{3}|n\/a), sim-small/,
      ),
      expect.stringMatching(/^ {2}examples\/code \(8 rows\)/),
      expect.stringMatching(/^ {2}examples\/math \(8 rows\)/),
      expect.stringMatching(/^ {2}examples\/writing \(8 rows\)/),
      expect.stringMatching(/^ {2}1 source under 8 rows, pooled \(6 rows\)/),
    ]);
    stderr = [];
    expect(await runCli(['eval', '--data', examples, '--svg', svg, '--by-source', '1', '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/By source \(the first segment[^\n]*\n {2}1 source under 50 rows, pooled \(40 rows\)/);
    stderr = [];
    expect(await runCli(['eval', '--data', examples, '--svg', svg, '--interval', '0', '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/Router vs Zero router: gain/);
    expect(stderr.join('')).not.toMatch(/95% interval/);
    expect(stderr.join('')).not.toMatch(/By source/);
    // Two kinds that record different models: the pooled figures mix them, so the lines by kind come unasked.
    const kinds = path.join(tmp.dir, 'kinds.jsonl');
    const halves = fs.readFileSync(examples, 'utf8').trim().split('\n').map((line, i) => {
      const row = JSON.parse(line);
      delete row.outcomes[i % 2 ? 'sim-small' : 'sim-medium'];
      return JSON.stringify({ ...row, source: i % 2 ? 'right' : 'left' });
    });
    fs.writeFileSync(kinds, `${halves.join('\n')}\n`);
    stderr = [];
    expect(await runCli(['eval', '--data', kinds, '--svg', svg, '--interval', '0', '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/note: most rows record different sets of models[\s\S]*By source \(the first segment/);
    for (const [flags, message] of [
      [['--by-source', '0'], /--by-source must be how many leading segments of a row's source to group by \(1 to 16\), got "0"/],
      [['--by-source', 'mmlu'], /--by-source must be .*got "mmlu"/],
      [['--by-source', '1', '--min-source-rows', '0'], /--min-source-rows must be a whole number ≥ 1, got "0"/],
      [['--min-source-rows', '5'], /--min-source-rows needs --by-source/],
      [['--interval', '5'], /--interval must be 0 \(no interval\) or a whole number of bootstrap resamples from 20 to 100000, got "5"/],
      [['--interval', 'all'], /--interval must be .*got "all"/],
    ] as const) {
      stderr = [];
      expect(await runCli(['eval', '--data', examples, '--svg', svg, ...flags, '--config', cfg])).toBe(1);
      expect(stderr.join('')).toMatch(message);
    }
  });

  it('a malformed score input names the line and leaves no output file', async () => {
    const cfg = config(tmp.dir, SIM_MODELS);
    const input = path.join(tmp.dir, 'bad.jsonl');
    fs.writeFileSync(input, '{"id": "a", "prompt": "ok"}\n{"id": "b"}\n');
    const out = path.join(tmp.dir, 'never.jsonl');
    expect(await runCli(['score', '--data', input, '--out', out, '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/bad\.jsonl: line 2: invalid row/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('score and eval refuse an output that is their input; retrain refuses a store that does not exist, creating none', async () => {
    const dir = path.join(tmp.dir, 'refusals');
    fs.mkdirSync(dir);
    const cfg = config(dir, SIM_MODELS);
    const input = path.join(dir, 'prompts.jsonl');
    fs.writeFileSync(input, '{"id": "a", "prompt": "ok"}\n');
    stderr = [];
    expect(await runCli(['score', '--data', input, '--out', path.join(dir, '.', 'prompts.jsonl'), '--config', cfg])).toBe(1);
    expect(await runCli(['eval', '--data', input, '--svg', input, '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/--out .*prompts\.jsonl is the --data file; writing there would replace it[\s\S]*--svg .*is the --data file/);
    expect(fs.readFileSync(input, 'utf8')).toBe('{"id": "a", "prompt": "ok"}\n');
    // Under a file: refused up front with a message, not a raw ENOTDIR once every prompt is embedded.
    stderr = [];
    expect(await runCli(['score', '--data', input, '--out', path.join(input, 'x.jsonl'), '--config', cfg])).toBe(1);
    expect(await runCli(['eval', '--data', input, '--svg', path.join(input, 'sub', 'x.svg'), '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/error: cannot write --out .*x\.jsonl: .*prompts\.jsonl is a file, not a directory[\s\S]*error: cannot write --svg/);
    stderr = [];
    expect(await runCli(['retrain', '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/the store \(storage\.path\) does not exist yet: nothing to train on/);
    expect(fs.existsSync(path.join(dir, 'db.sqlite'))).toBe(false);
  });

  it('retrain --features picks the feature kind; an unknown kind is refused before anything is written', async () => {
    const dir = fs.mkdtempSync(path.join(tmp.dir, 'features-'));
    const cfg = config(dir, SIM_MODELS);
    expect(await runCli(['import', path.join(ROOT, 'data', 'examples', 'outcomes.jsonl'), '--config', cfg])).toBe(0);
    expect(await runCli(['retrain', '--features', 'embedding+words', '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/unknown feature kind "embedding\+words" \(known: embedding, embedding\+prompt-stats, /);
    expect(fs.existsSync(path.join(dir, 'router', 'v0001'))).toBe(false);
    expect(await runCli(['retrain', '--workers', '0', '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/--workers must be a whole number from 1 to 64, got "0"/);
    expect(await runCli(['retrain', '--interval', '19', '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/--interval must be 0 \(no interval\) or a whole number of bootstrap resamples from 20 to 100000, got "19"/);
    expect(await runCli(['retrain', '--learner', 'logistic', '--learner', 'bogus', '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/--learner: unknown learner "bogus" \(known: sparse, logistic, /);
    expect(await runCli(['retrain', '--seed', '', '--config', cfg])).toBe(1);
    expect(stderr.join('')).toMatch(/--seed must be an integer, got ""/);
    expect(fs.existsSync(path.join(dir, 'router', 'v0001'))).toBe(false);
    stderr = [];
    expect(await runCli(['retrain', '--features', 'embedding+prompt-stats', '--interval', '50', '--config', cfg])).toBe(0);
    expect(stderr.join('')).toMatch(/95% interval \(50 bootstrap resamples of these \d+ rows/);
    const sidecar = JSON.parse(fs.readFileSync(path.join(dir, 'router', 'v0001', 'classifier.json'), 'utf8'));
    expect(sidecar.features).toMatchObject({ kind: 'embedding+prompt-stats', dimension: 120 });
    // Upgrading: the next default retrain (v2 statistics) is compared with v0001 on v0001's own feature rows.
    expect(await runCli(['retrain', '--force', '--config', cfg])).toBe(0);
    // Forced, so promoted whichever way the comparison on v0001's own feature rows went.
    expect(stderr.join('')).toMatch(/Wrote .*v0002; promoted to current: .*validation log loss [\d.]+ (≤|>|is worse than) current v0001's [\d.]+/);
    const next = JSON.parse(fs.readFileSync(path.join(dir, 'router', 'v0002', 'classifier.json'), 'utf8'));
    expect(next.features).toMatchObject({ kind: 'embedding+prompt-stats-v2+words', dimension: 100 + 25 + 2 * 512 });
  });

  it('bad flags and config files are usage errors with a clear message', async () => {
    expect(await runCli(['score', '--nope'])).toBe(2);
    expect(await runCli(['frobnicate'])).toBe(2);
    // Two places to build into: refused, not one of them silently winning.
    expect(await runCli(['build-embedder', '--models-dir', tmp.dir, '--config', path.join(tmp.dir, 'none.yaml')])).toBe(2);
    expect(stderr.join('')).toMatch(/build-embedder takes --models-dir or --config, not both/);
    const broken = path.join(tmp.dir, 'broken.yaml');
    fs.writeFileSync(broken, 'models:\n  - id: a\n    provider: openai\n    baseUrl: localhost:11434/v1\n    price: { inputPerMTok: -1, outputPerMTok: 1 }\nrouting: { minSuccess: 2, policy: cheapest, average: { trafficWindow: -5, feedback: { enabled: yes-please, minRatings: 1 } }, recalibration: { window: 0, minRating: 5 }, answerLengths: { refreshMs: 10, windw: 5 } }\n');
    expect(await runCli(['retrain', '--config', broken])).toBe(1);
    const text = stderr.join('');
    expect(text).toMatch(/models\.0\.price\.inputPerMTok/);
    expect(text).toMatch(/models\.0\.baseUrl: must be an http:\/\/ or https:\/\/ URL/);
    expect(text).toMatch(/routing\.minSuccess/);
    expect(text).toMatch(/routing\.policy/);
    expect(text).toMatch(/routing\.average\.trafficWindow/);
    expect(text).toMatch(/routing\.average\.feedback\.enabled/);
    expect(text).toMatch(/routing\.average\.feedback\.minRatings/);
    expect(text).toMatch(/routing\.recalibration\.window/);
    expect(text).toMatch(/routing\.recalibration: Unrecognized key: "minRating"/);
    expect(text).toMatch(/routing\.answerLengths\.refreshMs/);
    expect(text).toMatch(/routing\.answerLengths: Unrecognized key: "windw"/);
    // Checks across fields are reported beside the type errors, not after they are fixed.
    stderr = [];
    const crossed = path.join(tmp.dir, 'crossed.yaml');
    fs.writeFileSync(crossed, 'models:\n  - { id: a, provider: sim, price: 5 }\n  - { id: a, provider: openai, price: { inputPerMTok: 1, outputPerMTok: 1 } }\n  - { id: auto, provider: sim, price: { inputPerMTok: 1, outputPerMTok: 1 } }\n  - { id: "llama–3", provider: sim, price: { inputPerMTok: 1, outputPerMTok: 1 } }\nrouting: { coldStart: zz }\n');
    expect(await runCli(['retrain', '--config', crossed])).toBe(1);
    const crossedText = stderr.join('');
    expect(crossedText).toMatch(/models\.0\.price/);
    expect(crossedText).toMatch(/models\.1\.id: duplicate model id "a"/);
    expect(crossedText).toMatch(/models\.1\.baseUrl: required for provider "openai"/);
    expect(crossedText).toMatch(/models\.2\.id: "auto" asks for routing \(auto, switchyard\/auto\); give the model another id/);
    expect(crossedText).toMatch(/routing\.coldStart: "zz" is not a configured model/);
    // An en dash pasted from a web page: sent back in a header, it failed every request with a 500.
    expect(crossedText).toMatch(/models\.3\.id: model ids must be printable ASCII \(they are sent back in the x-switchyard-model header\)/);
    // Node's timers wrap past 2^31 − 1 ms and fire after 1 ms: such a timeout would fail every call at once.
    stderr = [];
    const long = path.join(tmp.dir, 'long.yaml');
    fs.writeFileSync(long, 'server: { shutdownGraceMs: 3000000000 }\nmodels:\n  - { id: a, provider: openai, baseUrl: "http://127.0.0.1:1/v1", price: { inputPerMTok: 1, outputPerMTok: 1 }, timeouts: { totalMs: 3000000000 } }\n');
    expect(await runCli(['retrain', '--config', long])).toBe(1);
    expect(stderr.join('')).toMatch(/models\.0\.timeouts\.totalMs: at most 2147483647 ms/);
    expect(stderr.join('')).toMatch(/server\.shutdownGraceMs: at most 2147483647 ms/);
  });

  (fs.existsSync(SHARED) ? it : it.skip)('learns something real from the public GSM8K outcomes (skipped without ../shared/data)', async () => {
    const cfg = config(
      fs.mkdtempSync(path.join(tmp.dir, 'gsm8k-')),
      `  - { id: mixtral-8x7b-instruct, provider: sim, price: { inputPerMTok: 0.6, outputPerMTok: 0.6 } }
  - { id: gpt-4-1106-preview, provider: sim, price: { inputPerMTok: 10, outputPerMTok: 30 } }`,
    );
    expect(await runCli(['import', path.join(SHARED, 'gsm8k.train.jsonl'), '--config', cfg])).toBe(0);
    expect(await runCli(['retrain', '--config', cfg])).toBe(0);
    const sidecar = JSON.parse(fs.readFileSync(path.join(path.dirname(cfg), 'router', 'v0001', 'classifier.json'), 'utf8'));
    // Served: refitted on all 923 rows; the validation figures are its twin's, fitted on the rest.
    expect(sidecar.training.rows).toBe(923);
    expect(sidecar.training.refit.trainRows + sidecar.validation.rows).toBe(923);
    expect(sidecar.training.refit.learnerChosenAgain).toBe(true);
    // Better than chance on held-out rows, for the weak model whose failures routing must predict.
    expect(sidecar.validation.perModel['mixtral-8x7b-instruct'].auc).toBeGreaterThan(0.55);
    expect(sidecar.validation.routing.apgr).toBeGreaterThan(0.5);
    // Two trainings of a 923-row set (the twin's, then the served one's) on a loaded 2-core machine.
  }, 180_000);
});
