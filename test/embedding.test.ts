// The local embedder end to end: building the model folder from word vectors, loading it through
// transformers.js + onnxruntime, and the ONNX builder the classifier export shares.
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildDefaultEmbedder } from '../src/embedding/build-default-embedder';
import { createTransformersEmbedder, ensureDefaultEmbedder, resolveEmbedderDir } from '../src/embedding/transformers-embedder';
import { ConfigError } from '../src/errors';
import { attr, buildModel, floatTensor, node, parseModel, serializeModel, valueInfo } from '../src/onnx/onnx-builder';

const DIM = 16;
let tmp: string;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'switchyard-embedding-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** A deterministic generator so the fake vectors are the same on every run. */
function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** A small file in wink's format: frequency-ordered words, vectors as [...dims, l2norm, index]. */
async function writeFakeVectors(file: string, count = 300): Promise<string[]> {
  const rnd = seeded(7);
  const special = ['the', ',', '.', '"', '\\', 'of', 'well-known', 'Paris', 'zero', 'one', 'two', 'three', 'cake', 'chocolate', 'calculus'];
  const words = [...special];
  for (let i = 0; words.length < count; i++) {
    words.push(String.fromCharCode(97 + (i % 26)) + String.fromCharCode(97 + Math.floor(i / 26) % 26) + 'x');
  }
  const vectors: Record<string, number[]> = {};
  words.forEach((w, index) => {
    if (w === 'calculus') return; // listed without a vector: must be dropped, not crash
    const v = Array.from({ length: DIM }, () => Number(rnd().toFixed(5)) + 0.3);
    vectors[w] = [...v, Math.hypot(...v), index];
  });
  const data = { precision: 5, l2NormIndex: DIM, wordIndex: DIM + 1, size: words.length, dimensions: DIM, words, vectors, unkVector: [] };
  await fs.writeFile(file, JSON.stringify(data));
  return words;
}

const norm = (v: Float32Array): number => Math.hypot(...v);
const cosine = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i], 0);

async function readFolder(dir: string): Promise<Record<string, Buffer>> {
  const files = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'];
  return Object.fromEntries(await Promise.all(files.map(async (f) => [f, await fs.readFile(path.join(dir, f))] as const)));
}

describe('buildDefaultEmbedder on a small vectors file', () => {
  let vectorsPath: string;
  beforeAll(async () => {
    vectorsPath = path.join(tmp, 'fake-vectors.json');
    await writeFakeVectors(vectorsPath);
  });

  test('builds byte-identical folders from the same input, with [PAD]/[UNK] and only reachable words', async () => {
    // A build killed before its rename left its temporary folder: the next build clears it.
    await fs.mkdir(path.join(tmp, 'a.tmp-2147483646-0badc0de', 'onnx'), { recursive: true });
    const a = await buildDefaultEmbedder({ vectorsPath, outDir: path.join(tmp, 'a'), vocabSize: 200 });
    expect(existsSync(path.join(tmp, 'a.tmp-2147483646-0badc0de'))).toBe(false);
    const b = await buildDefaultEmbedder({ vectorsPath, outDir: path.join(tmp, 'b'), vocabSize: 200 });
    expect(a).toEqual(b);
    expect(a.embedderId).toMatch(/^switchyard-glove-sif-16d@[0-9a-f]{12}$/);
    expect(a.dimension).toBe(DIM);
    const filesA = await readFolder(path.join(tmp, 'a'));
    const filesB = await readFolder(path.join(tmp, 'b'));
    for (const f of Object.keys(filesA)) expect(filesA[f].equals(filesB[f])).toBe(true);

    const tokenizer = JSON.parse(filesA['tokenizer.json'].toString('utf8')) as { model: { type: string; vocab: Record<string, number> } };
    const vocab = tokenizer.model.vocab;
    expect(tokenizer.model.type).toBe('WordLevel');
    expect(vocab['[PAD]']).toBe(0);
    expect(vocab['[UNK]']).toBe(1);
    expect(Object.keys(vocab)).toHaveLength(a.vocabSize + 2);
    // Digits borrow number words; punctuation (even JSON-escaped) is kept.
    for (const t of ['0', '1', '2', '3', ',', '"', '\\', 'cake']) expect(vocab[t]).toEqual(expect.any(Number));
    // The tokenizer can never produce these, and 'calculus' had no vector.
    for (const t of ['well-known', 'Paris', 'calculus', '4']) expect(vocab[t]).toBeUndefined();

    const model = parseModel(filesA['onnx/model.onnx']);
    expect(model.graph?.input?.map((i) => i.name)).toEqual(['input_ids', 'attention_mask']);
    expect(model.graph?.output?.map((o) => o.name)).toEqual(['last_hidden_state']);
    expect(model.graph?.initializer?.[0].dims?.map(Number)).toEqual([a.vocabSize + 2, DIM]);
    const config = JSON.parse(filesA['config.json'].toString('utf8')) as { model_type: string; switchyard: { embedderId: string } };
    expect(config.model_type).toBe('bert');
    expect(config.switchyard.embedderId).toBe(a.embedderId);
  });

  test('skips an up-to-date folder and rebuilds when the parameters change', async () => {
    const outDir = path.join(tmp, 'idempotent');
    const first = await buildDefaultEmbedder({ vectorsPath, outDir, vocabSize: 100 });
    const before = (await fs.stat(path.join(outDir, 'onnx/model.onnx'))).mtimeMs;
    const messages: string[] = [];
    const again = await buildDefaultEmbedder({ vectorsPath, outDir, vocabSize: 100, onProgress: (m) => messages.push(m) });
    expect(again).toEqual(first);
    expect(messages.join('\n')).toMatch(/up to date/);
    expect((await fs.stat(path.join(outDir, 'onnx/model.onnx'))).mtimeMs).toBe(before);

    const bigger = await buildDefaultEmbedder({ vectorsPath, outDir, vocabSize: 150 });
    expect(bigger.vocabSize).toBe(150);
    expect(bigger.embedderId).not.toBe(first.embedderId);
  });

  test('a build that fails part-way leaves no folder behind, and keeps an existing one intact', async () => {
    const failAtWrite = (m: string): void => {
      if (m.startsWith('writing')) throw new Error('interrupted');
    };
    const outDir = path.join(tmp, 'interrupted');
    await expect(buildDefaultEmbedder({ vectorsPath, outDir, onProgress: failAtWrite })).rejects.toThrow('interrupted');
    expect(existsSync(outDir)).toBe(false);

    const kept = await buildDefaultEmbedder({ vectorsPath, outDir, vocabSize: 50 });
    const before = await readFolder(outDir);
    await expect(buildDefaultEmbedder({ vectorsPath, outDir, vocabSize: 60, onProgress: failAtWrite })).rejects.toThrow();
    const after = await readFolder(outDir);
    for (const f of Object.keys(before)) expect(after[f].equals(before[f])).toBe(true);
    const config = JSON.parse(after['config.json'].toString('utf8')) as { switchyard: { embedderId: string } };
    expect(config.switchyard.embedderId).toBe(kept.embedderId);
    expect((await fs.readdir(tmp)).filter((f) => f.includes('.tmp-') || f.includes('.old-'))).toEqual([]);
  });

  test('a missing or malformed vectors file is a ConfigError', async () => {
    await expect(buildDefaultEmbedder({ vectorsPath: path.join(tmp, 'nope.json'), outDir: path.join(tmp, 'x') })).rejects.toMatchObject({
      code: 'embedder_source_missing',
    });
    const bad = path.join(tmp, 'bad.json');
    await fs.writeFile(bad, '{"dimensions": 4, "words": ["a"], "vectors": {"a": [1, 2]}}');
    await expect(buildDefaultEmbedder({ vectorsPath: bad, outDir: path.join(tmp, 'y') })).rejects.toBeInstanceOf(ConfigError);
    expect(existsSync(path.join(tmp, 'y'))).toBe(false);
  });

  test('runs through transformers.js and onnxruntime: unit vectors, finite for unknown and empty prompts', async () => {
    const outDir = path.join(tmp, 'e2e');
    const built = await buildDefaultEmbedder({ vectorsPath, outDir, vocabSize: 200 });
    const embedder = createTransformersEmbedder({ model: outDir, modelsDir: tmp });
    expect(() => embedder.dimension).toThrow(ConfigError);
    await expect(embedder.load()).resolves.toEqual({ id: built.embedderId, dimension: DIM });
    expect(embedder.id).toBe(built.embedderId);

    const texts = ['The chocolate cake, of course.', 'qqqq zzzz wwww', '', 'Cake costs 3 "dollars"'];
    const vectors = await embedder.embed(texts);
    expect(vectors).toHaveLength(texts.length);
    for (const v of vectors) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v).toHaveLength(DIM);
      expect(v.every(Number.isFinite)).toBe(true);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
    // Batching pads; padding must not change any text's vector.
    for (const [i, t] of texts.entries()) {
      const [single] = await embedder.embed([t]);
      expect(cosine(single, vectors[i])).toBeCloseTo(1, 5);
    }
    // Case and accents do not matter; word order does not either (bag of words).
    const [x, y] = await embedder.embed(['CHOCOLATE cáke', 'cake chocolate']);
    expect(cosine(x, y)).toBeCloseTo(1, 5);
    await embedder.dispose();
    await embedder.dispose();
  });

  test('a failed load reports a ConfigError and is retried on the next call', async () => {
    const outDir = path.join(tmp, 'late');
    const embedder = createTransformersEmbedder({ model: outDir, modelsDir: tmp });
    await expect(embedder.embed(['hello'])).rejects.toMatchObject({ code: 'embedder_missing' });
    await buildDefaultEmbedder({ vectorsPath, outDir, vocabSize: 80 });
    const [v] = await embedder.embed(['the cake']);
    expect(norm(v)).toBeCloseTo(1, 5);
    await embedder.dispose();
  });
});

describe('resolveEmbedderDir', () => {
  test('maps default, hub ids and paths to folders', () => {
    expect(resolveEmbedderDir('default', '/m')).toBe(path.resolve('/m/default'));
    expect(resolveEmbedderDir('Xenova/all-MiniLM-L6-v2', '/m')).toBe(path.resolve('/m/Xenova/all-MiniLM-L6-v2'));
    expect(resolveEmbedderDir('./my/model', '/m')).toBe(path.resolve('my/model'));
    expect(resolveEmbedderDir('/abs/model', '/m')).toBe(path.resolve('/abs/model'));
  });
});

describe('the real GloVe embedder', () => {
  const repoDefault = path.resolve(__dirname, '..', 'models', 'embedder', 'default');

  test('puts similar prompts closer than unrelated ones', async () => {
    let dir = repoDefault;
    if (!existsSync(path.join(repoDefault, 'config.json'))) {
      await ensureDefaultEmbedder({ modelsDir: tmp });
      dir = path.join(tmp, 'default');
    }
    const embedder = createTransformersEmbedder({ model: dir, modelsDir: tmp });
    const { id, dimension } = await embedder.load();
    expect(id).toMatch(/^switchyard-glove-sif-100d@/);
    expect(dimension).toBe(100);
    const [cake, dessert, derivative, integral, poem] = await embedder.embed([
      'How do I bake chocolate cake?',
      'What is a good recipe for a chocolate dessert?',
      'Explain the derivative of x squared in calculus',
      'What is the integral of sin(x) from 0 to pi?',
      'Write a short poem about the autumn leaves',
    ]);
    expect(cosine(cake, dessert)).toBeGreaterThan(cosine(cake, derivative) + 0.3);
    expect(cosine(derivative, integral)).toBeGreaterThan(cosine(derivative, cake));
    expect(cosine(derivative, integral)).toBeGreaterThan(cosine(derivative, dessert));
    expect(cosine(derivative, integral)).toBeGreaterThan(cosine(derivative, poem));
    // A prompt past the prefix tokenised first (8,192 tokens × 16 characters) embeds as one tokenised
    // whole that keeps the same first 8,192 tokens (100,000 characters: about 20,000 tokens).
    const long = 'the quick brown fox jumps over the lazy dog '.repeat(4000);
    const [whole, kept] = await embedder.embed([long, long.slice(0, 100_000)]);
    expect(Array.from(whole)).toEqual(Array.from(kept));
    await embedder.dispose();
  }, 180_000);

  test("a copied folder whose config.json names no id is known by its name and its files' digest, wherever it lies", async () => {
    const source = existsSync(path.join(repoDefault, 'config.json')) ? repoDefault : path.join(tmp, 'default');
    if (!existsSync(path.join(source, 'config.json'))) await ensureDefaultEmbedder({ modelsDir: tmp });
    const copy = async (where: string): Promise<string> => {
      const dir = path.join(tmp, where, 'glove');
      await fs.cp(source, dir, { recursive: true });
      const config = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8'));
      delete config.switchyard;
      await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
      return dir;
    };
    const [a, b] = [await copy('here'), await copy('there')];
    const ids: string[] = [];
    for (const dir of [a, b]) {
      const embedder = createTransformersEmbedder({ model: dir, modelsDir: tmp });
      ids.push((await embedder.load()).id);
      await embedder.dispose();
    }
    expect(ids[0]).toMatch(/^glove@[0-9a-f]{12}$/);
    expect(ids[1]).toBe(ids[0]);
    // Files missing from a folder are named, not a parse error from inside transformers.js.
    await fs.rm(path.join(b, 'tokenizer_config.json'));
    await expect(createTransformersEmbedder({ model: b, modelsDir: tmp }).load()).rejects.toThrow(/lacks tokenizer_config\.json \(it has config\.json\)/);
  }, 180_000);
});

describe('onnx-builder', () => {
  function classifier(): Uint8Array {
    return serializeModel(
      buildModel({
        name: 'tiny',
        inputs: [valueInfo('x', 'float32', ['batch', 3])],
        outputs: [valueInfo('p', 'float32', ['batch', 2])],
        initializers: [floatTensor('W', [3, 2], [1, -1, 0.5, 0, -2, 1]), floatTensor('b', [2], [0.25, -0.25])],
        nodes: [node('Gemm', ['x', 'W', 'b'], ['logits'], { alpha: attr.float(1), transB: attr.int(0) }), node('Sigmoid', ['logits'], ['p'])],
        metadata: { b: '2', a: '1' },
      }),
    );
  }

  test('builds a model onnxruntime runs, with the same bytes every time', async () => {
    const bytes = classifier();
    expect(Buffer.from(classifier()).equals(Buffer.from(bytes))).toBe(true);
    const session = await ort.InferenceSession.create(bytes);
    const { p } = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 0, 0, 0]), [2, 3]) });
    const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
    const expected = [sigmoid(1 + 1 - 6 + 0.25), sigmoid(-1 + 0 + 3 - 0.25), sigmoid(0.25), sigmoid(-0.25)];
    Array.from(p.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    await session.release();
  });

  test('rejects a graph that reads a value nothing produces', () => {
    expect(() =>
      buildModel({
        name: 'broken',
        inputs: [valueInfo('x', 'float32', [1])],
        outputs: [valueInfo('y', 'float32', [1])],
        nodes: [node('Add', ['x', 'missing'], ['y'])],
      }),
    ).toThrow(/reads "missing"/);
  });
});
