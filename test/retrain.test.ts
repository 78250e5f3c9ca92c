import fs from 'node:fs';
import path from 'node:path';
import { SqliteStore } from '../src/store/sqlite-store';
import { readCurrentVersion, listVersions } from '../src/routing/classifier-registry';
import { readSidecar } from '../src/routing/onnx-classifier';
import { readReference } from '../src/routing/classifier-reference';
import { retrain } from '../training/retrain';
import { readOutcomeFile } from '../training/outcome-file';
import { splitKey, stratifiedSplit } from '../training/dataset';
import { mixedHash } from '../training/matrix';
import { createFakeEmbedder } from './support/fake-embedder';
import { makeTempDir } from './support/temp-dir';

const EXAMPLES = path.join(__dirname, '..', 'data', 'examples', 'outcomes.jsonl');
const PRICES = {
  'sim-small': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  'sim-medium': { inputPerMTok: 1, outputPerMTok: 3 },
  'sim-large': { inputPerMTok: 5, outputPerMTok: 15 },
};

describe('retrain', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let store: SqliteStore;
  const logs: string[] = [];
  beforeEach(() => {
    tmp = makeTempDir();
    store = new SqliteStore({ path: path.join(tmp.dir, 'db.sqlite') });
    logs.length = 0;
  });
  afterEach(() => {
    store.close();
    tmp.cleanup();
  });

  const deps = (embedder = createFakeEmbedder()) => ({
    store, embedder, classifierDir: path.join(tmp.dir, 'router'), prices: PRICES, log: (m: string) => logs.push(m),
  });
  const rows = () => readOutcomeFile(EXAMPLES).map((r) => ({ ...r, origin: 'import' as const }));

  it('trains, reports metrics, writes a version and makes it current; embeddings are cached', async () => {
    store.importSamples(rows());
    const embedder = createFakeEmbedder();
    const report = await retrain(deps(embedder), { seed: 1 });
    expect(report).toMatchObject({ version: 'v0001', promoted: true, why: 'no current classifier' });
    expect(report.trainRows + report.validationRows).toBe(40);
    expect(readCurrentVersion(path.join(tmp.dir, 'router'))).toBe('v0001');
    const sidecar = readSidecar(path.join(tmp.dir, 'router', 'v0001'));
    expect(sidecar.models).toEqual(['sim-large', 'sim-medium', 'sim-small']);
    expect(sidecar.embedder).toEqual({ id: 'fake-bow-32', dimension: 32 });
    expect(sidecar.validation?.rows).toBe(report.validationRows);
    // It serves a classifier trained on all 40 rows, its learner chosen again there (a small store); the twin
    // fitted without the validation rows, which the validation figures measure and the next retrain
    // compares with, sits in holdout/.
    expect(sidecar.training).toMatchObject({ rows: 40, refit: { heldOutTwin: 'holdout', trainRows: report.trainRows, validationRows: report.validationRows, learnerChosenAgain: true } });
    const twin = readSidecar(path.join(tmp.dir, 'router', 'v0001', 'holdout'));
    expect(twin.training?.rows).toBe(report.trainRows);
    expect(twin.validation).toEqual(sidecar.validation);
    const bytes = (dir: string) => fs.readFileSync(path.join(dir, 'model.onnx'));
    expect(bytes(path.join(tmp.dir, 'router', 'v0001')).equals(bytes(path.join(tmp.dir, 'router', 'v0001', 'holdout')))).toBe(false);
    expect(logs.join('\n')).toMatch(/Refitted on all 40 rows to serve/);
    // The average policy's reference: the served model's out-of-fold predictions. Its learner was chosen
    // afresh on every row (a small store), so they cover every prompt, not the twin's training rows.
    const reference = readReference(path.join(tmp.dir, 'router', 'v0001'), sidecar.models)!;
    expect(reference.p).toHaveLength(40);
    expect(reference.inputTokens).toHaveLength(40);
    for (const row of reference.p) for (const v of row) expect(v).toBeGreaterThanOrEqual(0);
    expect(logs.join('\n')).toMatch(/sim-small: AUC/);
    expect(logs.join('\n')).toMatch(/Router vs Zero router/);
    // Three models: the N-model metrics get the validation set's bootstrap interval, which holds the figure.
    const gain = report.intervals!.gainVsZero!;
    expect(gain.lo).toBeLessThanOrEqual(report.evaluation.routing!.nModel.gainVsZero + 1e-12);
    expect(gain.hi).toBeGreaterThanOrEqual(report.evaluation.routing!.nModel.gainVsZero - 1e-12);
    // The sidecar keeps them beside the figures, as the twin's does.
    expect(sidecar.validation?.routingIntervals?.gainVsZero).toEqual(gain);
    expect(twin.validation?.routingIntervals).toEqual(sidecar.validation?.routingIntervals);
    expect(logs.join('\n')).toMatch(new RegExp(`95% interval \\(200 bootstrap resamples of these ${report.validationRows} rows[^)]*\\): gain vs Zero`));
    expect(embedder.calls).toBe(40);

    // The comparison reads the current version's twin, not the served file (which has seen the rows):
    // with the served file unreadable it still compares.
    fs.writeFileSync(path.join(tmp.dir, 'router', 'v0001', 'model.onnx'), 'not onnx');
    const again = createFakeEmbedder();
    const second = await retrain(deps(again), { seed: 1 });
    // Same data, same seed: the same model, so not worse: promoted; and no prompt embedded twice.
    expect(second).toMatchObject({ version: 'v0002', promoted: true });
    expect(second.why).toMatch(/^validation log loss [\d.]+ ≤ current v0001's [\d.]+$/);
    expect(second.newLogLoss).toBeCloseTo(second.currentLogLoss!, 6);
    expect(again.calls).toBe(0);
    expect(listVersions(path.join(tmp.dir, 'router'))).toEqual(['v0001', 'v0002']);
  });

  it('reports validation per kind of source when the store holds more than one', async () => {
    // The examples' sources are examples/chat, examples/math, …: one kind at the first segment, so no report.
    store.importSamples(rows());
    await retrain(deps(), { seed: 1, sourceReportRows: 1 });
    expect(logs.join('\n')).not.toMatch(/Validation by source/);
    // The same rows as five kinds (chat, math, …).
    store.importSamples(rows().map((r) => ({ ...r, source: r.source!.split('/')[1] })));
    logs.length = 0;
    const report = await retrain(deps(), { seed: 1, sourceReportRows: 1, intervalResamples: 0 });
    expect(report.intervals).toBeNull();
    const text = logs.join('\n');
    expect(text).not.toMatch(/95% interval/);
    expect(text).toMatch(/Validation by source \(the first segment of each row's source, groups of 1 rows or more\):/);
    const lines = [...text.matchAll(/^ {2}(chat|code|math|reasoning|writing) \((\d+) rows\): .*AUC sim-large/gm)];
    expect(new Set(lines.map((l) => l[1]))).toEqual(new Set(['chat', 'code', 'math', 'reasoning', 'writing']));
    expect(lines.reduce((n, l) => n + Number(l[2]), 0)).toBe(report.validationRows);
    // The sidecar keeps the figures per kind too; the first run, of one kind, kept none.
    const sidecar = (v: string) => JSON.parse(fs.readFileSync(path.join(tmp.dir, 'router', v, 'classifier.json'), 'utf8'));
    expect(sidecar('v0001').validation.routingBySource).toBeUndefined();
    const bySource = sidecar(report.version).validation.routingBySource;
    expect(Object.keys(bySource).sort()).toEqual(['chat', 'code', 'math', 'reasoning', 'writing']);
    expect(Object.keys(bySource.chat)).toEqual(Object.keys(sidecar(report.version).validation.routing));
    // With a bar no kind clears, nothing is listed.
    logs.length = 0;
    await retrain(deps(), { seed: 1 });
    expect(logs.join('\n')).not.toMatch(/Validation by source/);
  });

  it('on two models, says what a random router reads on the same validation rows', async () => {
    const two = ['sim-small', 'sim-large'];
    store.importSamples(rows().map((r) => ({ ...r, outcomes: Object.fromEntries(Object.entries(r.outcomes).filter(([m]) => two.includes(m))) })));
    await retrain({ ...deps(), prices: Object.fromEntries(two.map((m) => [m, PRICES[m as keyof typeof PRICES]])) }, { seed: 1 });
    const text = logs.join('\n');
    expect(text).toMatch(/Two models \(weak sim-small, strong sim-large\): APGR/);
    expect(text).toMatch(/\n {2}a random router on these \d+ rows reads APGR (0\.[5-9]\d\d|1\.000), CPT\(50%\) [\d.]+% \(reached points: APGR [\d.]+; 20 random orders\)/);
  });

  it('refuses to promote a model that is worse on the same validation rows, unless forced', async () => {
    const good = rows();
    store.importSamples(good);
    await retrain(deps(), { seed: 1 });
    // Flip every training row's outcomes; the validation rows (same ids, same seed) keep the truth.
    const { train } = stratifiedSplit(good, 0.2, 1, mixedHash, splitKey);
    const flipped = train.map((i) => ({
      ...good[i],
      outcomes: Object.fromEntries(Object.entries(good[i].outcomes).map(([m, v]) => [m, 1 - v])),
    }));
    store.importSamples(flipped);
    const worse = await retrain(deps(), { seed: 1 });
    expect(worse.promoted).toBe(false);
    expect(worse.why).toMatch(/worse than current v0001/);
    // v0001 was split as this retrain splits, so there is nothing to warn about.
    expect(worse.why).not.toMatch(/split by id/);
    expect(worse.newLogLoss).toBeGreaterThan(worse.currentLogLoss!);
    expect(readCurrentVersion(path.join(tmp.dir, 'router'))).toBe('v0001');
    // The rejected version is kept for inspection.
    expect(fs.existsSync(path.join(tmp.dir, 'router', 'v0002', 'model.onnx'))).toBe(true);
    expect(logs.join('\n')).toMatch(/NOT promoted/);

    // A current version from before the split was keyed by prompt: the refusal says the comparison favours it.
    const v1 = path.join(tmp.dir, 'router', 'v0001', 'classifier.json');
    const sidecar = JSON.parse(fs.readFileSync(v1, 'utf8'));
    delete sidecar.training.split;
    fs.writeFileSync(v1, JSON.stringify(sidecar));
    const older = await retrain(deps(), { seed: 1 });
    expect(older.promoted).toBe(false);
    expect(older.why).toMatch(/v0001 was split by id, not by prompt.*--force promotes/);
    // Split by prompt, but with another seed: its twin trained on most of these validation rows.
    fs.writeFileSync(v1, JSON.stringify({ ...sidecar, training: { ...sidecar.training, split: 'prompt-mixed-hash', seed: 7 } }));
    const reseeded = await retrain(deps(), { seed: 1 });
    expect(reseeded.promoted).toBe(false);
    expect(reseeded.why).toMatch(/v0001 was split with --seed 7, not 1, .*--force promotes/);

    const forced = await retrain(deps(), { seed: 1, force: true });
    expect(forced.promoted).toBe(true);
    expect(readCurrentVersion(path.join(tmp.dir, 'router'))).toBe('v0005');
  });

  it('promotes a classifier that adds a newly rated model when on the models both know it is within noise of the current one', async () => {
    // v0001 is trained before sim-medium was configured; then its outcomes arrive (rated answers).
    const all = rows();
    store.importSamples(all.map((r) => ({ ...r, outcomes: Object.fromEntries(Object.entries(r.outcomes).filter(([m]) => m !== 'sim-medium')) })));
    const first = await retrain(deps(), { seed: 1 });
    expect(readSidecar(path.join(tmp.dir, 'router', first.version)).models).toEqual(['sim-large', 'sim-small']);
    store.importSamples(all);
    const second = await retrain(deps(), { seed: 1 });
    // Over all outcomes, sim-medium's included (v0001 at sim-medium's smoothed training rate), the new one
    // is worse on these 8 validation rows; on the two models both know it trails by less than 2 standard
    // errors, and v0001 cannot route to sim-medium at all: promoted, saying why.
    expect(second.newLogLoss).toBeGreaterThan(second.currentLogLoss!);
    expect(second.promoted).toBe(true);
    expect(second.why).toMatch(/^it predicts sim-medium, which current v0001 cannot route to, and on the models both know its validation log loss is within 2 standard errors of v0001's \(\+\d\.\d{4}, standard error \d\.\d{4}\)$/);
    // A classifier clearly worse is still refused, however many models it adds.
    // (The training rows' outcomes flipped, the validation rows' kept, and every row rating a sim-extra.)
    const { train } = stratifiedSplit(all, 0.2, 1, mixedHash, splitKey);
    const flipped = new Set(train);
    store.importSamples(
      all.map((r, i) => ({
        ...r,
        outcomes: { ...Object.fromEntries(Object.entries(r.outcomes).map(([m, v]) => [m, flipped.has(i) ? 1 - v : v])), 'sim-extra': 1 },
      })),
    );
    const worse = await retrain(deps(), { seed: 1 });
    expect(worse.promoted).toBe(false);
    expect(worse.why).toMatch(/far worse than predicting each model's training success rate/);
  });

  it('does not promote a first classifier far worse than base rates; nearly certain base rates leave room', async () => {
    // Two kinds of prompt, each half the rows: in training "apple" prompts always succeed and "pear" ones
    // always fail; validation holds the opposite. Base rates (0.5) lose ln 2; a classifier that learned
    // the training rows is confidently wrong on every validation row.
    const base = Array.from({ length: 60 }, (_, i) => ({
      id: `q-${i}`,
      prompt: `${i % 2 ? 'apple' : 'pear'} question number ${i}`,
      source: null,
      outcomes: {} as Record<string, number>,
      costs: {},
      origin: 'import' as const,
    }));
    const { validation } = stratifiedSplit(base, 0.2, 1, mixedHash, splitKey);
    const held = new Set(validation);
    const swapped = base.map((r, i) => {
      const ok = (r.prompt.startsWith('apple') ? 1 : 0) ^ (held.has(i) ? 1 : 0);
      return { ...r, outcomes: { 'sim-small': ok, 'sim-large': ok } };
    });
    store.importSamples(swapped);
    const wrong = await retrain(deps(), { seed: 1 });
    expect(wrong.promoted).toBe(false);
    expect(wrong.why).toMatch(/far worse than predicting each model's training success rate/);
    expect(readCurrentVersion(path.join(tmp.dir, 'router'))).toBeNull();
  });

  it('promotes a first classifier on a tiny store where every model always succeeded', async () => {
    // Base rates of 1 score a log loss of about 0; a classifier a hair above that is not "far worse".
    store.importSamples(rows().slice(0, 12).map((r) => ({ ...r, outcomes: Object.fromEntries(Object.keys(r.outcomes).map((m) => [m, 1])) })));
    const result = await retrain(deps(), { seed: 1 });
    expect(result.promoted).toBe(true);
    expect(readCurrentVersion(path.join(tmp.dir, 'router'))).toBe('v0001');
  });

  it('runs one at a time per classifier folder: a second run is refused at once, a dead run\'s lock is taken over', async () => {
    store.importSamples(rows());
    const dir = path.join(tmp.dir, 'router');
    fs.mkdirSync(dir, { recursive: true });
    // A live process holds the lock (this test's parent stands in for a running retrain).
    fs.writeFileSync(path.join(dir, '.retrain.lock'), `${process.ppid}\n`);
    await expect(retrain(deps(), { seed: 1 })).rejects.toThrow(`another retrain (pid ${process.ppid}) is writing to ${dir}: wait for it to finish`);
    expect(fs.readdirSync(dir)).toEqual(['.retrain.lock']);
    // Killed mid-run: its pid is gone, so the lock is stale.
    fs.writeFileSync(path.join(dir, '.retrain.lock'), '2147483646\n');
    const report = await retrain(deps(), { seed: 1 });
    expect(report.promoted).toBe(true);
    expect(fs.existsSync(path.join(dir, '.retrain.lock'))).toBe(false);
  });

  it('measures and patches a version before it is in place: every version folder carries its validation figures', async () => {
    store.importSamples(rows());
    const dir = path.join(tmp.dir, 'router');
    const seen: string[][] = [];
    // Looks at the folder once the version is written, before its validation is measured.
    const log = (m: string): void => {
      if (m.startsWith('Refitted')) seen.push(fs.readdirSync(dir).sort());
    };
    const report = await retrain({ ...deps(), log }, { seed: 1 });
    expect(seen).toEqual([['.retrain.lock', `.v0001.${process.pid}.tmp`]]);
    expect(fs.readdirSync(dir).sort()).toEqual(['CURRENT', 'v0001']);
    expect(readSidecar(path.join(dir, report.version)).validation?.logLoss).toBe(report.newLogLoss);
  });

  it('refuses a classifier folder that is a file before training', async () => {
    store.importSamples(rows());
    const file = path.join(tmp.dir, 'router');
    fs.writeFileSync(file, 'not a folder');
    await expect(retrain(deps())).rejects.toThrow(/classifier folder .*router \(routing\.classifierDir\) is a file/);
    expect(logs).toEqual([]);
  });

  it('says what to do when the store is empty', async () => {
    await expect(retrain(deps())).rejects.toThrow(/at least 4 prompts.*switchyard import/);
  });

  it('refuses a store whose outcomes name one model (cold-start feedback), writing nothing', async () => {
    // Rated cold-start traffic records only the model that answered: a classifier of it would send every
    // request there, and the other models would never get the traffic to be learnt from.
    store.importSamples(rows().slice(0, 12).map((r) => ({ ...r, outcomes: { 'sim-large': r.outcomes['sim-large'] ?? 1 } })));
    await expect(retrain(deps())).rejects.toThrow(/two models at least.*record only sim-large.*by name/);
    expect(fs.existsSync(path.join(tmp.dir, 'router'))).toBe(false);
  });

  it('names the configured models the store holds no outcome of', async () => {
    store.importSamples(rows().slice(0, 12).map((r) => ({ ...r, outcomes: { 'sim-small': 1, 'sim-large': r.outcomes['sim-large'] ?? 1 } })));
    await retrain({ ...deps(), configuredModels: ['sim-small', 'sim-medium', 'sim-large'] }, { seed: 1, intervalResamples: 0 });
    expect(logs).toContainEqual(expect.stringMatching(/^warning: no outcomes in the store for configured model sim-medium: the classifier will not choose it \(only as last fallbacks\)/));
  });
});
