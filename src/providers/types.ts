// The contract between the gateway and whatever answers chat requests: schemas for what upstreams
// send back, the ChatProvider interface, and the one error type every provider throws.
// Nothing here knows about HTTP frameworks; implementations live in the sibling files.
import { z } from 'zod';
import { SwitchyardError, type ErrorType } from '../errors';
import { wellFormedText } from '../util/well-formed-text';

// ---- Requests --------------------------------------------------------------------------------

/**
 * Message content is kept loose: text, multi-part arrays and tool messages all pass through untouched.
 * Text is checked for half surrogate pairs, since the routing prompt built from it is logged.
 */
const chatMessageSchema = z.looseObject({
  role: z.string().min(1),
  content: z.union([wellFormedText(), z.array(z.looseObject({ type: z.string(), text: wellFormedText().optional() })), z.null()]).optional(),
});

/**
 * The client's OpenAI chat-completions body. Only the fields the gateway itself reads are typed;
 * everything else (temperature, tools, response_format, ...) is forwarded to the upstream as is.
 */
export const chatRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(chatMessageSchema).min(1, 'messages must not be empty'),
  // OpenAI documents `stream` as boolean | null; null is false.
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
});

export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type ChatRequest = z.infer<typeof chatRequestSchema>;

// ---- Responses (validated, because they come from outside) -----------------------------------

// Lenient on purpose: servers in Python (LiteLLM, anything that dumps the openai SDK's objects) write
// `null` for every absent optional field, and llama.cpp-style servers leave out `index`, `id` or `created`.
// The official client accepts all of that, so rejecting it would throw a whole answer away over a field
// the gateway never reads (and, under `auto`, pay another model for it). Only `choices` is required.
const count = z.number().nonnegative();

/** Token counts as the upstream sent them; read through `usageTokens`, which accepts only whole ones. */
export const usageSchema = z.looseObject({
  prompt_tokens: count.nullish(),
  completion_tokens: count.nullish(),
  total_tokens: count.nullish(),
});

// Accounting only: usage that is not an object of counts is dropped rather than failing the answer.
const usageField = usageSchema.nullish().catch(null);

const toolCalls = z.array(z.looseObject({})).nullish();

export const chatCompletionSchema = z.looseObject({
  id: z.string().nullish(),
  // Some OpenAI-compatible servers omit or misspell `object`; the choices are what matter.
  object: z.string().nullish(),
  created: z.number().nullish(),
  model: z.string().nullish(),
  choices: z.array(
    z.looseObject({
      index: z.number().int().nullish(),
      message: z.looseObject({
        role: z.string().nullish(),
        content: z.union([z.string(), z.array(z.unknown())]).nullish(),
        tool_calls: toolCalls,
      }),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: usageField,
});

export const chatCompletionChunkSchema = z.looseObject({
  id: z.string().nullish(),
  object: z.string().nullish(),
  created: z.number().nullish(),
  model: z.string().nullish(),
  // Empty in the final usage chunk that `stream_options.include_usage` asks for.
  choices: z.array(
    z.looseObject({
      index: z.number().int().nullish(),
      // A last chunk carrying only finish_reason sometimes has no delta; clients expect an object.
      delta: z
        .looseObject({
          role: z.string().nullish(),
          content: z.union([z.string(), z.array(z.unknown())]).nullish(),
          tool_calls: toolCalls,
        })
        .nullish()
        .transform((delta) => delta ?? {}),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: usageField,
});

/** Whole token counts of a usage record, or null when it lacks either (then the log has no tokens or cost). */
export function usageTokens(usage: Usage | null | undefined): { promptTokens: number; completionTokens: number } | null {
  const p = usage?.prompt_tokens;
  const c = usage?.completion_tokens;
  return typeof p === 'number' && typeof c === 'number' && Number.isInteger(p) && Number.isInteger(c) ? { promptTokens: p, completionTokens: c } : null;
}

export type Usage = z.infer<typeof usageSchema>;
export type ChatCompletion = z.infer<typeof chatCompletionSchema>;
export type ChatCompletionChunk = z.infer<typeof chatCompletionChunkSchema>;

// ---- Providers -------------------------------------------------------------------------------

export interface CallContext {
  /** Aborted when the client goes away; providers must stop the upstream call. */
  signal: AbortSignal;
  /**
   * The request's `stream_options` were added by the gateway (for the log's token counts), not asked for
   * by the client: an upstream that refuses the field may be asked again without it.
   */
  streamOptionsAdded?: boolean;
}

export interface ChatProvider {
  /** The Switchyard model id (config `id`), not the upstream's model name. */
  readonly modelId: string;
  /** Rejects only with UpstreamError. */
  complete(req: ChatRequest, ctx: CallContext): Promise<ChatCompletion>;
  /**
   * Nothing is sent until the first `next()`; connection failures therefore surface from the
   * first pull, and later failures from the pull that hit them. Iterators throw only UpstreamError.
   * Ending iteration early (`return()`) cancels the upstream request.
   */
  stream(req: ChatRequest, ctx: CallContext): AsyncIterable<ChatCompletionChunk>;
}

// ---- Attempts (written by failover, carried by errors) ---------------------------------------

export interface AttemptRecord {
  model: string;
  status: 'ok' | 'error' | 'skipped';
  /** Why a model was not tried: its breaker is open, or no provider is configured under that id. */
  skipReason?: 'circuit_open' | 'unknown_model';
  errorKind?: UpstreamErrorKind;
  /** The upstream's HTTP status, when it sent one. */
  httpStatus?: number;
  message?: string;
  /** Epoch milliseconds. */
  startedAt: number;
  latencyMs: number;
  /** Streaming only: time until the first chunk arrived. */
  firstChunkMs?: number;
}

// ---- Errors ----------------------------------------------------------------------------------

/**
 * `refused`: the upstream turned down this model's credentials, access or name (HTTP 401/403/404);
 * `client`: it refused the request itself (any other 4xx but 408/429).
 */
export type UpstreamErrorKind = 'connect' | 'timeout' | 'rate_limit' | 'server' | 'malformed' | 'refused' | 'client' | 'aborted';

export interface UpstreamErrorOptions {
  kind: UpstreamErrorKind;
  modelId?: string;
  /** Status the upstream answered with, if it answered. */
  upstreamStatus?: number;
  /** Defaults by kind: see `isRetryableKind`. */
  retryable?: boolean;
  /** Defaults by kind: see `defaultHttpStatus`. */
  httpStatus?: number;
  code?: string;
  param?: string | null;
  cause?: unknown;
  attempts?: readonly AttemptRecord[];
  /** How long the upstream asked to be left alone (its Retry-After), passed on to the client as Retry-After. */
  retryAfterMs?: number;
}

/** Kinds another model (or a later retry) may well succeed at; a client error would fail everywhere. */
export function isRetryableKind(kind: UpstreamErrorKind): boolean {
  return kind !== 'client' && kind !== 'aborted';
}

/**
 * What the gateway answers with: the upstream's own status for client errors (so the caller sees
 * why its request was refused), 429 and 504 where those say more than 502, and 499 (nginx's
 * "client closed request") for aborts, which only ever reaches logs.
 */
function defaultHttpStatus(kind: UpstreamErrorKind, upstreamStatus: number | undefined): number {
  switch (kind) {
    case 'client':
      return upstreamStatus ?? 400;
    case 'rate_limit':
      return 429;
    case 'timeout':
      return 504;
    case 'aborted':
      return 499;
    default:
      return 502;
  }
}

function defaultType(kind: UpstreamErrorKind, httpStatus: number): ErrorType {
  if (kind === 'rate_limit') return 'rate_limit_error';
  if (kind !== 'client') return 'upstream_error';
  if (httpStatus === 401) return 'authentication_error';
  if (httpStatus === 403) return 'permission_error';
  if (httpStatus === 404) return 'not_found_error';
  return 'invalid_request_error';
}

export class UpstreamError extends SwitchyardError {
  readonly kind: UpstreamErrorKind;
  readonly retryable: boolean;
  readonly modelId: string | undefined;
  readonly upstreamStatus: number | undefined;
  /** Set on errors thrown by failover: every model tried, skipped or failed, in order. */
  readonly attempts: readonly AttemptRecord[];
  readonly retryAfterMs: number | undefined;
  /** Response headers the error handler adds: Retry-After in whole seconds, when the upstream sent one. */
  readonly headers: Record<string, string> | undefined;

  constructor(message: string, options: UpstreamErrorOptions) {
    const httpStatus = options.httpStatus ?? defaultHttpStatus(options.kind, options.upstreamStatus);
    super(message, {
      code: options.code ?? `upstream_${options.kind}`,
      httpStatus,
      type: defaultType(options.kind, httpStatus),
      param: options.param ?? null,
      cause: options.cause,
    });
    this.kind = options.kind;
    this.retryable = options.retryable ?? isRetryableKind(options.kind);
    this.modelId = options.modelId;
    this.upstreamStatus = options.upstreamStatus;
    this.attempts = options.attempts ?? [];
    this.retryAfterMs = options.retryAfterMs;
    this.headers = options.retryAfterMs === undefined ? undefined : { 'retry-after': String(Math.ceil(options.retryAfterMs / 1000)) };
  }

  /** The same error with the failover history attached (errors are immutable once thrown). */
  withAttempts(attempts: readonly AttemptRecord[]): UpstreamError {
    const copy = new UpstreamError(this.message, {
      kind: this.kind,
      modelId: this.modelId,
      upstreamStatus: this.upstreamStatus,
      retryable: this.retryable,
      httpStatus: this.httpStatus,
      code: this.code,
      param: this.param,
      cause: this.cause,
      attempts,
      retryAfterMs: this.retryAfterMs,
    });
    copy.stack = this.stack;
    return copy;
  }
}
