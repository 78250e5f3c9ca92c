// A local stand-in for an LLM: canned or echoed answers with configurable latency and a seeded
// failure rate, so the default config, demos and load tests run with no network and no keys.
import type { ModelConfig } from '../config/schema';
import { seededRandom } from '../util/seeded-random';
import {
  UpstreamError,
  type CallContext,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatMessage,
  type ChatProvider,
  type ChatRequest,
  type Usage,
} from './types';

export type SimOptions = NonNullable<ModelConfig['sim']>;

export interface SimProviderOptions {
  modelId: string;
  /** Missing fields take the config schema's defaults. */
  options?: Partial<SimOptions>;
  /** Epoch milliseconds; used for `created`. */
  now?: () => number;
  /** Must reject when the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * The model's configured timeouts: a latency beyond totalMs times out as a slow upstream would (tests of
   * timeout failover run on sim models). A simulated model has no connection, so connectMs never fires.
   */
  timeouts?: { connectMs: number; totalMs: number };
}

/** Splits the answer into this many stream chunks at most, so streaming clients see several deltas. */
const STREAM_PIECES = 4;

export function createSimProvider({ modelId, options = {}, now = Date.now, sleep = abortableSleep, timeouts }: SimProviderOptions): ChatProvider {
  const latencyMs = options.latencyMs ?? 0;
  const limit = timeouts ? timeouts.totalMs : Infinity;
  const errorRate = options.errorRate ?? 0;
  // One generator per provider: a given seed yields the same sequence of failures run after run.
  const random = seededRandom(options.seed ?? 1);
  let counter = 0;

  /** Everything that happens before an answer exists: abort check, latency, simulated failure. */
  const prepare = async (req: ChatRequest, signal: AbortSignal) => {
    const fails = random() < errorRate; // drawn first so the sequence does not depend on aborts
    if (signal.aborted) throw aborted(modelId);
    if (latencyMs > 0) {
      try {
        await sleep(Math.min(latencyMs, limit), signal);
      } catch {
        throw aborted(modelId);
      }
      if (latencyMs > limit) {
        throw new UpstreamError(`model "${modelId}" (simulated) did not finish within ${limit} ms`, { kind: 'timeout', modelId });
      }
    }
    if (fails) {
      throw new UpstreamError(`model "${modelId}" (simulated) answered HTTP 500: simulated failure`, {
        kind: 'server',
        modelId,
        upstreamStatus: 500,
      });
    }
    counter += 1;
    const text = options.reply ?? lastUserText(req.messages);
    const promptTokens = estimateTokens(req.messages.map(messageText).join('\n'));
    const completionTokens = options.completionTokens ?? estimateTokens(text);
    const usage: Usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    return { id: `chatcmpl-sim-${modelId}-${counter}`, created: Math.floor(now() / 1000), text, usage };
  };

  const complete = async (req: ChatRequest, ctx: CallContext): Promise<ChatCompletion> => {
    const { id, created, text, usage } = await prepare(req, ctx.signal);
    return {
      id,
      object: 'chat.completion',
      created,
      model: modelId,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage,
    };
  };

  async function* stream(req: ChatRequest, ctx: CallContext): AsyncGenerator<ChatCompletionChunk> {
    const { id, created, text, usage } = await prepare(req, ctx.signal);
    const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finish: string | null): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: modelId,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    // Same shape as OpenAI: role first, content pieces, an empty delta with finish_reason, then usage.
    yield chunk({ role: 'assistant', content: '' }, null);
    for (const piece of splitText(text, STREAM_PIECES)) {
      if (ctx.signal.aborted) throw aborted(modelId);
      yield chunk({ content: piece }, null);
    }
    yield chunk({}, 'stop');
    if (req.stream_options?.include_usage) {
      yield { id, object: 'chat.completion.chunk', created, model: modelId, choices: [], usage };
    }
  }

  return { modelId, complete, stream };
}

function aborted(modelId: string): UpstreamError {
  return new UpstreamError(`request to model "${modelId}" was aborted by the client`, { kind: 'aborted', modelId });
}

function messageText(message: ChatMessage): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (typeof part.text === 'string' ? part.text : '')).join('');
}

function lastUserText(messages: readonly ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message.role === 'user') return messageText(message);
  }
  return '';
}

/** The usual rule of thumb for English with OpenAI tokenizers: about four characters per token. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** At most `pieces` parts at word boundaries whose concatenation is exactly `text`. */
function splitText(text: string, pieces: number): string[] {
  const words = text.match(/\S+\s*|\s+/g) ?? [];
  const size = Math.ceil(words.length / pieces);
  const parts: string[] = [];
  for (let i = 0; i < words.length; i += size) parts.push(words.slice(i, i + size).join(''));
  return parts;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
