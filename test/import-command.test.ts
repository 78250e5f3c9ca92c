import fs from 'node:fs';
import path from 'node:path';
import { importCommand, type CommandContext } from '../src/cli/commands';
import { SqliteStore } from '../src/store/sqlite-store';
import { InvalidInputError } from '../src/errors';
import { makeTempDir } from './support/temp-dir';
import { IN_PROCESS_FOLDS } from '../training/component-recipes';

describe('switchyard import', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let store: SqliteStore;
  let logs: string[];
  let ctx: CommandContext;
  beforeEach(() => {
    tmp = makeTempDir();
    store = new SqliteStore({ path: path.join(tmp.dir, 'db.sqlite') });
    logs = [];
    ctx = {
      store: () => store,
      existingStore: () => store,
      embedder: () => Promise.reject(new Error('import must not embed')),
      classifierDir: path.join(tmp.dir, 'router'),
      // The models of these tests and of the shipped examples are configured.
      prices: Object.fromEntries(['m', 'n', 'sim-small', 'sim-medium', 'sim-large'].map((m) => [m, { inputPerMTok: 1, outputPerMTok: 1 }])),
      configuredModels: ['m', 'n', 'sim-small', 'sim-medium', 'sim-large'],
      expectedOutputTokens: 256,
      answerLengths: () => new Map(),
      policy: 'per-request',
      readPrices: () => ({}),
      foldRunner: () => IN_PROCESS_FOLDS,
      log: (m) => logs.push(m),
      report: (m) => logs.push(m),
    };
  });
  afterEach(() => {
    store.close();
    tmp.cleanup();
  });

  const write = (name: string, lines: string[]): string => {
    const file = path.join(tmp.dir, name);
    fs.writeFileSync(file, lines.join('\n'));
    return file;
  };

  it('imports the shipped example file, and a second import changes nothing', async () => {
    const file = path.join(__dirname, '..', 'data', 'examples', 'outcomes.jsonl');
    await importCommand([file], ctx);
    const first = store.countSamples();
    expect(first.samples).toBe(40);
    await importCommand([file], ctx);
    expect(store.countSamples()).toEqual(first);
    expect(logs[1]).toMatch(/0 new, 0 updated, 40 unchanged/);
  });

  it.each([
    ['broken JSON', '{"id": "c", "prompt": "x", "outcomes": {', /line 3: not valid JSON/],
    ['an outcome outside [0,1]', '{"id": "c", "prompt": "x", "outcomes": {"m": 2}}', /line 3: invalid row:\n.*outcomes\.m: outcomes must be in \[0,1\]/],
    ['no outcomes', '{"id": "c", "prompt": "x", "outcomes": {}}', /line 3: invalid row/],
    ['a missing prompt', '{"id": "c", "outcomes": {"m": 1}}', /line 3: invalid row:\n.*prompt/],
    ['an id that is neither a string nor an integer', '{"id": true, "prompt": "x", "outcomes": {"m": 1}}', /line 3: invalid row:\n.*id: a non-empty string or an integer is expected/],
    ['half a character in the prompt', '{"id": "c", "prompt": "bad \\ud800 half", "outcomes": {"m": 1}}', /line 3: invalid row:\n.*prompt: holds half of a UTF-16 surrogate pair/],
  ])('rejects a file with %s, naming the line, and writes nothing', async (_what, bad, message) => {
    store.importSamples([{ id: 'existing', prompt: 'p', source: null, outcomes: { m: 1 }, costs: {}, origin: 'import' }]);
    const file = write('bad.jsonl', [
      '{"id": "a", "prompt": "first", "outcomes": {"m": 1}}',
      '{"id": "b", "prompt": "second", "outcomes": {"m": 0}}',
      bad,
      '{"id": "d", "prompt": "fourth", "outcomes": {"m": 1}}',
    ]);
    const err = await importCommand([file], ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain('bad.jsonl');
    expect(store.listSamples().map((s) => s.id)).toEqual(['existing']);
  });

  it("refuses a row whose id is a rated decision's feedback row, naming the line, and writes nothing", async () => {
    // Rated decisions exported by id and imported again would otherwise replace the clients' ratings.
    store.importSamples([{ id: 'dec_01M8FVCBSJ93C4120HPT7M2820', prompt: 'Capital of France?', source: 'feedback', outcomes: { m: 0.5 }, costs: {}, origin: 'feedback' }]);
    const file = write('taken.jsonl', [
      '{"id": "a", "prompt": "first", "outcomes": {"m": 1}}',
      '{"id": "dec_01M8FVCBSJ93C4120HPT7M2820", "prompt": "unrelated", "outcomes": {"m": 1}}',
    ]);
    await expect(importCommand([file], ctx)).rejects.toThrow(/taken\.jsonl: line 2: id "dec_01M8FVCBSJ93C4120HPT7M2820" is the feedback row of a rated decision; imported rows need ids of their own; nothing was imported/);
    expect(store.listSamples().map((s) => [s.id, s.prompt, s.origin])).toEqual([['dec_01M8FVCBSJ93C4120HPT7M2820', 'Capital of France?', 'feedback']]);
  });

  it('keeps the last row of a repeated id, as an upsert would, and says which lines repeat', async () => {
    const file = write('dups.jsonl', [
      '{"id": "a", "prompt": "first", "outcomes": {"m": 1}}',
      '{"id": "b", "prompt": "second", "outcomes": {"m": 0}}',
      '{"id": "a", "prompt": "first, corrected", "outcomes": {"m": 0}}',
    ]);
    await importCommand([file], ctx);
    expect(store.listSamples().map((s) => [s.id, s.prompt, s.outcomes.m])).toEqual([['a', 'first, corrected', 0], ['b', 'second', 0]]);
    expect(logs.join('\n')).toMatch(/id "a" appears on lines 1, 3; the last one is kept/);
  });

  it('refuses a file that is not UTF-8, naming the line, and writes nothing', async () => {
    const file = path.join(tmp.dir, 'latin1.jsonl');
    fs.writeFileSync(
      file,
      Buffer.concat([Buffer.from('{"id": "a", "prompt": "ok", "outcomes": {"m": 1}}\n{"id": "b", "prompt": "caf'), Buffer.from([0xe9]), Buffer.from('", "outcomes": {"m": 1}}\n')]),
    );
    await expect(importCommand([file], ctx)).rejects.toThrow(/latin1\.jsonl: line 2: not valid UTF-8/);
    expect(store.countSamples().samples).toBe(0);
  });

  it('warns about fields it ignores and costs it cannot store, naming them', async () => {
    const file = write('typos.jsonl', [
      '{"id": "a", "prompt": "first", "outcomes": {"m": 1}, "cost": {"m": 0.1}}',
      '{"id": "b", "prompt": "second", "outcomes": {"m": 1}, "costs": {"n": 0.2}, "cost": {}, "meta": 1}',
    ]);
    await importCommand([file], ctx);
    expect(store.countSamples().samples).toBe(2);
    const text = logs.join('\n');
    expect(text).toMatch(/typos\.jsonl: ignored fields "cost" \(first on line 1\), "meta" \(first on line 2\); a row has id, prompt, source, outcomes, costs/);
    expect(text).toMatch(/typos\.jsonl: 1 row \(first: id "b"\) give costs for models without an outcome; those costs are not stored/);
  });

  it('warns about models the config does not know, and stores their outcomes all the same', async () => {
    const file = write('solo.jsonl', ['{"id": "a", "prompt": "first", "outcomes": {"m": 1, "solo-model": 1}}', '{"id": "b", "prompt": "second", "outcomes": {"sim-smal": 0}}']);
    await importCommand([file], ctx);
    expect(store.countSamples()).toMatchObject({ samples: 2, outcomes: 3 });
    expect(logs[0]).toMatch(/^warning: .*solo\.jsonl: outcomes of models not in the config: sim-smal, solo-model \(configured: m, n, sim-small, sim-medium, sim-large\); stored/);
    expect(logs).toHaveLength(2);
  });

  it('says so when a file holds no rows', async () => {
    await importCommand([write('empty.jsonl', ['', '  '])], ctx);
    expect(logs[0]).toMatch(/^warning: .*empty\.jsonl: no rows \(the file is empty or holds only blank lines\)$/);
    expect(store.countSamples().samples).toBe(0);
  });

  it('takes one file: a second one would otherwise go unread', async () => {
    const a = write('a.jsonl', ['{"id": "a", "prompt": "first", "outcomes": {"m": 1}}']);
    const b = write('b.jsonl', ['{"id": "b", "prompt": "second", "outcomes": {"m": 1}}']);
    await expect(importCommand([a, b], ctx)).rejects.toThrow(/one file at a time, got 2/);
    expect(store.countSamples().samples).toBe(0);
  });

  it('says which file it cannot read', async () => {
    await expect(importCommand([path.join(tmp.dir, 'missing.jsonl')], ctx)).rejects.toThrow(/cannot read .*missing\.jsonl/);
  });
});
