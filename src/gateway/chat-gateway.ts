// The chat-completions path without HTTP: decide (router or explicit model), call upstreams with
// failover, and hand one decision record per request to the log. The HTTP layer only parses, writes
// bytes and reports client disconnects through the AbortSignal.
import { performance } from 'node:perf_hooks';
import type { ModelConfig } from '../config/schema';
import type { CircuitBreaker } from '../providers/circuit-breaker';
import { type StreamFailoverResult, runWithFailover, streamWithFailover } from '../providers/failover';
import {
  UpstreamError,
  type AttemptRecord,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatProvider,
  type ChatRequest,
  type Usage,
  usageTokens,
} from '../providers/types';
import { estimateCost } from '../routing/cost';
import { promptText } from '../routing/prompt-text';
import type { Router } from '../routing/router';
import type { DecisionRecord } from '../store/decision-types';
import { promptHash } from '../store/prompt-hash';
import { type RouteDecision, type RouterOptions, resolveModel } from './resolve-model';

export interface Caller {
  keyId: string;
  keyName: string;
}

export interface GatewayDeps {
  router: Router;
  models: readonly ModelConfig[];
  providers: ReadonlyMap<string, ChatProvider>;
  breakers: ReadonlyMap<string, CircuitBreaker>;
  maxAttempts: number;
  minSuccess: number;
  expectedOutputTokens: number;
  /** Learned answer lengths for a model named by the client (the router has its own). */
  answerLengths?: () => ReadonlyMap<string, number>;
  storePrompts: boolean;
  /**
   * Takes the finished record; must be cheap (it is called on the request's path). May return a promise
   * when the request must wait for the record (a full log queue): the request settles after it.
   */
  record: (row: DecisionRecord) => Promise<void> | undefined | void;
  newId: () => string;
  /** Epoch milliseconds. */
  now?: () => number;
  /** Monotonic milliseconds, for latencies. */
  clock?: () => number;
}

export interface ChatInput {
  /** The client's body without Switchyard's own `router` field. */
  request: ChatRequest;
  router?: RouterOptions;
  caller: Caller | null;
}

export interface PreparedChat {
  id: string;
  decision: RouteDecision;
  /** @internal what complete/stream need */
  readonly input: ChatInput;
  readonly prompt: string;
  readonly createdAt: number;
  readonly startedAt: number;
}

export interface GatewayStream {
  /** The model whose chunks these are. */
  model: string;
  /** Chunks as the client should see them; throws an UpstreamError if the upstream fails mid-way. */
  chunks: AsyncGenerator<ChatCompletionChunk>;
  /** Releases the upstream when `chunks` will never be iterated. */
  cancel(): Promise<void>;
}

interface Ending {
  answeredModel: string | null;
  attempts: readonly AttemptRecord[];
  usage: Usage | null;
  upstreamMs: number;
  httpStatus: number;
  error: unknown;
}

export interface ChatGateway {
  /** Routes the request; throws (before any upstream call) for unknown models and invalid options. */
  prepare(input: ChatInput): Promise<PreparedChat>;
  complete(p: PreparedChat, signal: AbortSignal): Promise<{ model: string; response: ChatCompletion }>;
  /** Resolves once some model sent its first chunk; throws (and logs) when none did. */
  stream(p: PreparedChat, signal: AbortSignal): Promise<GatewayStream>;
  /** Resolves when every request started so far has been answered and logged. */
  idle(): Promise<void>;
  /**
   * True while a stream answers this decision: its id reached the client with the first chunk, but its
   * record is logged only when the stream ends.
   */
  streaming(id: string): boolean;
}

export function createChatGateway(deps: GatewayDeps): ChatGateway {
  const now = deps.now ?? Date.now;
  const clock = deps.clock ?? (() => performance.now());
  const prices = new Map(deps.models.map((m) => [m.id, m.price]));
  const pending = new Set<Promise<unknown>>();
  const open = new Set<string>();

  const track = <T>(work: Promise<T>): Promise<T> => {
    pending.add(work);
    const forget = () => pending.delete(work);
    work.then(forget, forget);
    return work;
  };

  const finish = (p: PreparedChat, end: Ending): Promise<void> | undefined | void => {
    const price = end.answeredModel ? prices.get(end.answeredModel) : undefined;
    const usage = usageTokens(end.usage);
    const aborted = end.error instanceof UpstreamError && end.error.kind === 'aborted';
    const d = p.decision;
    return deps.record({
      id: p.id,
      createdAt: p.createdAt,
      apiKey: p.input.caller ? { id: p.input.caller.keyId, name: p.input.caller.keyName } : null,
      prompt: deps.storePrompts ? p.prompt : null,
      promptHash: promptHash(p.prompt),
      requestedModel: p.input.request.model,
      stream: p.input.request.stream === true,
      routedModel: d.chosen,
      answeredModel: end.answeredModel,
      reason: d.reason,
      target: d.target,
      policy: d.policy,
      lambda: d.lambda,
      lambdaBasis: d.lambdaBasis,
      targetCorrection: d.targetCorrection,
      classifierVersion: d.classifierVersion,
      embedderId: d.embedderId,
      candidates: d.candidates,
      fallbacks: d.fallbacks,
      attempts: deps.storePrompts ? [...end.attempts] : end.attempts.map(withheldMessage),
      estimatedTokens: d.estimatedTokens,
      usage,
      cost: usage && price ? estimateCost(price, usage.promptTokens, usage.completionTokens) : null,
      timings: { embedMs: d.timings.embedMs, classifyMs: d.timings.classifyMs, upstreamMs: end.upstreamMs, totalMs: clock() - p.startedAt },
      status: end.error === null ? 'ok' : aborted ? 'aborted' : 'error',
      httpStatus: aborted ? 499 : end.httpStatus,
      error: end.error === null ? null : deps.storePrompts ? describeError(end.error) : { code: describeError(end.error).code, message: WITHHELD },
    });
  };

  async function prepare(input: ChatInput): Promise<PreparedChat> {
    const startedAt = clock();
    const createdAt = now();
    const prompt = requestPrompt(input.request);
    const decision = await resolveModel(deps, {
      model: input.request.model,
      prompt,
      maxTokens: input.request.max_completion_tokens ?? input.request.max_tokens ?? undefined,
      router: input.router,
    });
    return { id: deps.newId(), decision, input, prompt, createdAt, startedAt };
  }

  const failoverOptions = (p: PreparedChat, request: ChatRequest, signal: AbortSignal) => ({
    models: [p.decision.chosen, ...p.decision.fallbacks],
    providers: deps.providers,
    breakers: deps.breakers,
    maxAttempts: deps.maxAttempts,
    request,
    signal,
    now,
  });

  function complete(p: PreparedChat, signal: AbortSignal): Promise<{ model: string; response: ChatCompletion }> {
    return track(
      (async () => {
        const t0 = clock();
        let result: Awaited<ReturnType<typeof runWithFailover>>;
        try {
          result = await runWithFailover(failoverOptions(p, p.input.request, signal));
        } catch (err) {
          await finish(p, { answeredModel: null, attempts: attemptsOf(err), usage: null, upstreamMs: clock() - t0, httpStatus: statusOf(err), error: err });
          throw err;
        }
        // Clients see which configured model answered, not the upstream's internal name for it.
        const response: ChatCompletion = { ...result.response, model: result.model };
        // Awaited: a full log queue holds up the request that filled it (and only that one).
        await finish(p, { answeredModel: result.model, attempts: result.attempts, usage: result.response.usage ?? null, upstreamMs: clock() - t0, httpStatus: 200, error: null });
        return { model: result.model, response };
      })(),
    );
  }

  async function stream(p: PreparedChat, signal: AbortSignal): Promise<GatewayStream> {
    const t0 = clock();
    const wantsUsage = p.input.request.stream_options?.include_usage === true;
    // Usage is always asked of the upstream so the log has tokens and cost; clients that did not ask for
    // it do not see it.
    const request: ChatRequest = { ...p.input.request, stream: true, stream_options: { ...p.input.request.stream_options, include_usage: true } };
    let started: StreamFailoverResult;
    try {
      started = await track(streamWithFailover({ ...failoverOptions(p, request, signal), streamOptionsAdded: !wantsUsage }));
    } catch (err) {
      await finish(p, { answeredModel: null, attempts: attemptsOf(err), usage: null, upstreamMs: clock() - t0, httpStatus: statusOf(err), error: err });
      throw err;
    }
    const { model, outcome } = started;
    let usage: Usage | null = null;
    open.add(p.id);
    track(
      outcome.then((o) => {
        try {
          return finish(p, { answeredModel: model, attempts: o.attempts, usage, upstreamMs: clock() - t0, httpStatus: 200, error: o.error ?? null });
        } finally {
          // Even if logging throws, the id must not answer 409 for the life of the server.
          open.delete(p.id);
        }
      }),
    );
    const upstream = started.stream;
    async function* chunks(): AsyncGenerator<ChatCompletionChunk> {
      for await (const chunk of upstream) {
        if (chunk.usage) usage = chunk.usage;
        if (wantsUsage || chunk.usage === undefined) {
          yield { ...chunk, model };
        } else if (chunk.choices.length > 0) {
          const { usage: _hidden, ...rest } = chunk;
          yield { ...rest, model };
        }
      }
    }
    return { model, chunks: chunks(), cancel: () => started.cancel() };
  }

  async function idle(): Promise<void> {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  }

  return { prepare, complete, stream, idle, streaming: (id) => open.has(id) };
}

/** The routing text of a chat body: each message's text, with non-text parts (images, audio) skipped. */
function requestPrompt(request: ChatRequest): string {
  return promptText(
    request.messages.map((m) => ({
      role: m.role,
      content: Array.isArray(m.content)
        ? m.content.map((part) => ({ type: part.type, text: typeof part.text === 'string' ? part.text : undefined }))
        : m.content,
    })),
  );
}

function attemptsOf(err: unknown): readonly AttemptRecord[] {
  return err instanceof UpstreamError ? err.attempts : [];
}

function statusOf(err: unknown): number {
  return err instanceof UpstreamError ? err.httpStatus : 500;
}

/**
 * Said in the log instead of an upstream's message when prompts are not stored: upstreams quote the
 * prompt in their errors ("rejected by content filter: …"), so the text would store what the setting
 * keeps out. The kind, HTTP status and code stay; the client itself still got the message.
 */
const WITHHELD = 'message not logged (storage.storePrompts is false, and upstream messages may quote the prompt)';

const withheldMessage = (a: AttemptRecord): AttemptRecord => (a.message === undefined ? a : { ...a, message: WITHHELD });

function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof UpstreamError) return { code: err.code, message: err.message };
  // Not an upstream failure: a bug; its text may hold internals, so the log gets the class only.
  return { code: 'internal_error', message: err instanceof Error ? err.name : 'unknown error' };
}
