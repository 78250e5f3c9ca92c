// Adapter for any server speaking OpenAI's /chat/completions (OpenAI, vLLM, llama.cpp, Ollama, ...).
// It owns timeouts and the mapping of every failure to an UpstreamError kind, which is what
// failover decides on; it knows nothing about the HTTP layer that called it.
import type { ZodType } from 'zod';
import { CONNECT_TIMEOUT_CODE, type UpstreamRequestInit } from './agent-fetch';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../util/json-depth';
import { errorMessage } from '../errors';
import { SseLimitError, readSseEvents, type SseEvent } from './sse';
import {
  UpstreamError,
  chatCompletionChunkSchema,
  chatCompletionSchema,
  type CallContext,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatProvider,
  type ChatRequest,
  type UpstreamErrorKind,
} from './types';

export interface OpenAICompatibleProviderOptions {
  modelId: string;
  /** e.g. https://api.openai.com/v1 — `/chat/completions` is appended. */
  baseUrl: string;
  apiKey?: string;
  upstreamModel: string;
  timeouts: {
    /**
     * Until the connection is up (DNS, TCP, TLS). Not until the response headers: an upstream answering a
     * non-streaming call sends them only once the whole answer is written, which may take a minute.
     * Passed to `fetch` as `connectTimeoutMs` (createAgentFetch's extension); undici's fetch, which
     * ignores it, has its own 10 s connect timeout and reports it the same way.
     */
    connectMs: number;
    /** The whole call, including reading (or streaming) the body. */
    totalMs: number;
  };
  fetch: typeof fetch;
  /** Largest non-streaming answer read (default MAX_ANSWER_BYTES). */
  maxAnswerBytes?: number;
}

const DRAIN_GRACE_MS = 250;

/**
 * A whole non-streaming answer is read into memory, parsed and relayed: bounded, so one upstream (broken,
 * or hostile) cannot take the process down. A 200 MB answer took 1.26 GB of memory. Far above any chat
 * answer; a larger one fails as malformed, and the next model is tried.
 */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
/** An error body is read this far (a JSON error cut short no longer parses, and its raw start is used). */
const MAX_ERROR_BYTES = 1024 * 1024;
/** An upstream's error message is passed on and logged cut to this many characters. */
const MAX_ERROR_MESSAGE_CHARS = 2_000;

type AbortCause = 'aborted' | 'total_timeout';

/** One upstream call's abort controller: the caller's signal plus the total timeout, remembering which fired. */
class CallGuard {
  private readonly controller = new AbortController();
  private readonly totalTimer: NodeJS.Timeout;
  private readonly onCallerAbort = (): void => this.abort('aborted');
  cause: AbortCause | undefined;

  constructor(
    private readonly callerSignal: AbortSignal,
    timeouts: OpenAICompatibleProviderOptions['timeouts'],
  ) {
    this.totalTimer = setTimeout(() => this.abort('total_timeout'), timeouts.totalMs);
    if (callerSignal.aborted) this.abort('aborted');
    else callerSignal.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(cause: AbortCause): void {
    if (this.cause) return;
    this.cause = cause;
    this.dispose();
    this.controller.abort(new Error(cause));
  }

  /** Stop the timers; the call is finished (or being torn down). */
  dispose(): void {
    clearTimeout(this.totalTimer);
    this.callerSignal.removeEventListener('abort', this.onCallerAbort);
  }
}

/** Best-effort text from an OpenAI-style error body; falls back to the start of the raw text. */
function upstreamErrorMessage(text: string): { message: string; param: string | null; code: string | null } {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
      const err: unknown = parsed.error;
      if (typeof err === 'string') return { message: err.length > MAX_ERROR_MESSAGE_CHARS ? `${err.slice(0, MAX_ERROR_MESSAGE_CHARS)}…` : err, param: null, code: null };
      if (typeof err === 'object' && err !== null) {
        const full = 'message' in err && typeof err.message === 'string' ? err.message : JSON.stringify(err);
        const message = full.length > MAX_ERROR_MESSAGE_CHARS ? `${full.slice(0, MAX_ERROR_MESSAGE_CHARS)}…` : full;
        const param = 'param' in err && typeof err.param === 'string' ? err.param : null;
        const code = 'code' in err && typeof err.code === 'string' && /^[\w.-]{1,64}$/.test(err.code) ? err.code : null;
        return { message, param, code };
      }
    }
  } catch {
    // not JSON: use the raw text below
  }
  return { message: text.trim().slice(0, 300) || '(empty body)', param: null, code: null };
}

// OpenAI says `context_length_exceeded`; vLLM and llama.cpp only say it in words.
const CONTEXT_LENGTH = /context_length_exceeded|maximum context length|context (?:window|length) (?:of|exceeded)|exceeds? the (?:available )?context/i;

/**
 * 401/403/404 mean this model's key, access or upstream name is wrong: a fault of one configured model
 * (another model may answer, and the breaker should hear of it), never of the caller's request, whose
 * own key Switchyard has already checked.
 */
function statusKind(status: number): UpstreamErrorKind {
  if (status === 429) return 'rate_limit';
  if (status === 408) return 'timeout'; // the upstream gave up waiting, not a fault in the request
  if (status === 401 || status === 403 || status === 404) return 'refused';
  if (status >= 400 && status < 500) return 'client';
  return 'server';
}

export function createOpenAICompatibleProvider(options: OpenAICompatibleProviderOptions): ChatProvider {
  const { modelId, apiKey, upstreamModel, timeouts } = options;
  const maxAnswerBytes = options.maxAnswerBytes ?? MAX_ANSWER_BYTES;
  const url = completionsUrl(options.baseUrl);

  /** Upstreams sometimes echo credentials back in error text; they must never reach a client or a log. */
  const redact = (text: string): string => (apiKey ? text.split(apiKey).join('[redacted]') : text);

  const fail = (
    kind: UpstreamErrorKind,
    message: string,
    extra: { upstreamStatus?: number; param?: string | null; code?: string; retryable?: boolean; cause?: unknown; retryAfterMs?: number } = {},
  ) =>
    new UpstreamError(redact(message), { kind, modelId, ...extra });

  /** Turns whatever a fetch or body read threw into an UpstreamError, using which abort fired. */
  const mapThrown = (err: unknown, guard: CallGuard, phase: 'connect' | 'body'): UpstreamError => {
    if (err instanceof UpstreamError) return err;
    switch (guard.cause) {
      case 'aborted':
        return fail('aborted', `request to model "${modelId}" was aborted by the client`);
      case 'total_timeout':
        return fail('timeout', `model "${modelId}" did not finish within ${timeouts.totalMs} ms`);
      default:
        break;
    }
    // Deliberately no URL or raw error text: undici messages are vague and URLs are internal.
    const code = networkCode(err);
    if (code === CONNECT_TIMEOUT_CODE) return fail('timeout', `could not connect to the upstream of model "${modelId}" within ${timeouts.connectMs} ms`, { cause: err });
    return phase === 'connect'
      ? fail('connect', `could not connect to the upstream of model "${modelId}"${code ? ` (${code})` : ''}`, { cause: err })
      : fail('server', `connection to the upstream of model "${modelId}" was lost mid-response${code ? ` (${code})` : ''}`, { cause: err });
  };

  const parse = <T>(schema: ZodType<T>, value: unknown, what: string): T => {
    // Nested past what any answer holds, it would overflow the stack when relayed (a 500 logged as ok).
    if (nestsDeeperThan(value, MAX_JSON_DEPTH)) throw fail('malformed', `model "${modelId}" returned a ${what} nested more than ${MAX_JSON_DEPTH} deep`);
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
    throw fail('malformed', `model "${modelId}" returned a malformed ${what} (${where})`);
  };

  /** Sends the request; resolves once an OK response's headers are in, otherwise throws. */
  const send = async (body: Record<string, unknown>, guard: CallGuard, accept: string): Promise<Response> => {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept };
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    let payload: string;
    try {
      payload = JSON.stringify(body);
    } catch (err) {
      // The HTTP layer refuses bodies nested too deep to serialise; this is the last guard, and the request's fault.
      throw fail('client', `the request could not be serialised for the upstream: ${errorMessage(err)}`, { upstreamStatus: 400, cause: err });
    }
    const init: UpstreamRequestInit = { method: 'POST', headers, body: payload, signal: guard.signal, connectTimeoutMs: timeouts.connectMs };
    let res: Response;
    try {
      res = await options.fetch(url, init);
    } catch (err) {
      throw mapThrown(err, guard, 'connect');
    }
    if (res.ok) return res;
    let text: string;
    try {
      text = (await readCapped(res, MAX_ERROR_BYTES)).text;
    } catch (err) {
      throw mapThrown(err, guard, 'body');
    }
    // Redacted before the message is cut to length: a key the cut splits would otherwise leak its first part.
    const { message, param, code } = upstreamErrorMessage(redact(text));
    const kind = statusKind(res.status);
    const retryAfterMs = kind === 'rate_limit' ? retryAfter(res.headers, Date.now()) : undefined;
    if (kind !== 'client') {
      throw fail(kind, `model "${modelId}" upstream answered HTTP ${res.status}: ${message}`, { upstreamStatus: res.status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
    }
    // Client errors go back to the caller as the upstream phrased them, with its code. A prompt too long
    // for this model may fit a larger one (token counts are estimated before routing), so that one fails over.
    const tooLong = res.status === 400 && CONTEXT_LENGTH.test(`${code ?? ''} ${message}`);
    throw fail(kind, message, {
      upstreamStatus: res.status,
      param,
      ...(tooLong ? { code: 'context_length_exceeded', retryable: true } : code ? { code } : {}),
    });
  };

  const complete = async (req: ChatRequest, ctx: CallContext): Promise<ChatCompletion> => {
    const guard = new CallGuard(ctx.signal, timeouts);
    try {
      // OpenAI rejects stream_options on non-streaming calls.
      const { stream_options: _ignored, ...rest } = req;
      const res = await send({ ...rest, model: upstreamModel, stream: false }, guard, 'application/json');
      let read: { text: string; truncated: boolean };
      try {
        read = await readCapped(res, maxAnswerBytes);
      } catch (err) {
        throw mapThrown(err, guard, 'body');
      }
      if (read.truncated) throw fail('malformed', `model "${modelId}" returned an answer over ${maxAnswerBytes} bytes`);
      const text = read.text;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw fail('malformed', `model "${modelId}" returned a body that is not JSON`);
      }
      return parse(chatCompletionSchema, json, 'chat.completion');
    } finally {
      guard.dispose();
    }
  };

  // Set once this upstream refused `stream_options` (older Azure api-versions, some proxies): from then on
  // the gateway's own usage request is left out, rather than costing every stream a refused call.
  let refusesStreamOptions = false;

  /** Opens a stream; drops the gateway's `stream_options` for an upstream that refuses the field. */
  const sendStream = async (req: ChatRequest, ctx: CallContext, guard: CallGuard): Promise<Response> => {
    const { stream_options: _added, ...withoutOptions } = req;
    const plain = { ...withoutOptions, model: upstreamModel, stream: true };
    if (ctx.streamOptionsAdded && refusesStreamOptions) return send(plain, guard, 'text/event-stream');
    try {
      return await send({ ...req, model: upstreamModel, stream: true }, guard, 'text/event-stream');
    } catch (err) {
      const refused = err instanceof UpstreamError && err.kind === 'client' && /stream_options/i.test(`${err.param ?? ''} ${err.message}`);
      if (!ctx.streamOptionsAdded || !refused) throw err;
      refusesStreamOptions = true;
      return send(plain, guard, 'text/event-stream');
    }
  };

  async function* stream(req: ChatRequest, ctx: CallContext): AsyncGenerator<ChatCompletionChunk> {
    const guard = new CallGuard(ctx.signal, timeouts);
    // True once the body was read to its end: only then may the connection be left open for reuse.
    let drained = false;
    let events: AsyncGenerator<SseEvent> | undefined;
    // Choice indices seen, and those that carried a finish_reason: what tells a whole stream from a cut one.
    const seen = new Set<number>();
    const finished = new Set<number>();
    try {
      const res = await sendStream(req, ctx, guard);
      if (!res.body) throw fail('malformed', `model "${modelId}" returned an empty stream body`);
      events = readSseEvents(res.body);
      for (;;) {
        let next: IteratorResult<SseEvent>;
        try {
          next = await events.next();
        } catch (err) {
          if (err instanceof SseLimitError) throw fail('malformed', `model "${modelId}" sent a stream with ${err.message}`);
          throw mapThrown(err, guard, 'body');
        }
        if (next.done) break;
        const { event, data } = next.value;
        if (data === '[DONE]') {
          drained = await drain(events, DRAIN_GRACE_MS);
          return;
        }
        let json: unknown;
        try {
          json = JSON.parse(data);
        } catch {
          throw fail('malformed', `model "${modelId}" sent a stream event that is not JSON`);
        }
        // OpenAI reports failures after the headers as an event carrying an `error` object (servers
        // that dump every field write `"error": null` on good chunks).
        if (event === 'error' || (typeof json === 'object' && json !== null && 'error' in json && json.error != null)) {
          throw fail('server', `model "${modelId}" reported an error mid-stream: ${upstreamErrorMessage(redact(data)).message}`);
        }
        const chunk = parse(chatCompletionChunkSchema, json, 'chat.completion.chunk');
        chunk.choices.forEach((choice, i) => {
          const index = choice.index ?? i;
          seen.add(index);
          if (choice.finish_reason != null) finished.add(index);
        });
        yield chunk;
      }
      // Some servers (llama.cpp's before 2024-09, text-generation-webui, …) end the body without [DONE]. A
      // stream whose every choice has a finish_reason is whole; anything else was cut off.
      if (seen.size > 0 && [...seen].every((index) => finished.has(index))) {
        drained = true;
        return;
      }
      throw fail('malformed', `model "${modelId}" ended the stream without [DONE]${finished.size > 0 ? '' : ' or a finish_reason'}`);
    } finally {
      // Leaving early (error, consumer stopped) must close the upstream connection too.
      if (drained) guard.dispose();
      else guard.abort('aborted');
      // After a timed-out drain `events` is still reading; the abort above ends that read, so this settles.
      await events?.return(undefined).catch(() => undefined);
    }
  }

  return { modelId, complete, stream };
}

/**
 * A response body as UTF-8 text, at most `maxBytes` of it; past that the rest is not read (the connection
 * is cancelled) and `truncated` says so.
 */
async function readCapped(res: Response, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > maxBytes) {
        parts.push(value.subarray(0, maxBytes - size));
        truncated = true;
        break;
      }
      parts.push(value);
      size += value.byteLength;
    }
  } finally {
    if (truncated) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  return { text: Buffer.concat(parts).toString('utf8'), truncated };
}

/**
 * Reads what follows [DONE] (normally just the end of the body) so undici can reuse the connection;
 * an upstream that keeps the body open is cut off after the grace period by the caller's finally.
 */
async function drain(events: AsyncGenerator<SseEvent>, graceMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  const rest = (async () => {
    while (!(await events.next()).done) {
      // events after [DONE] carry nothing for the client
    }
    return true;
  })().catch(() => false);
  const completed = await Promise.race([rest, grace]);
  clearTimeout(timer);
  return completed;
}

/**
 * `/chat/completions` appended to the base URL's path, its query kept: Azure OpenAI's deployments take
 * `?api-version=…` on every call, and appending to the whole string put the path inside the query.
 */
export function completionsUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/chat/completions`;
  url.hash = '';
  return url.toString();
}

/**
 * The wait a 429 asks for, in ms: OpenAI's `retry-after-ms`, else `retry-after` in seconds or as an HTTP
 * date. Undefined when absent or unreadable; capped at an hour, so a typo upstream cannot park clients.
 */
export function retryAfter(headers: Headers, now: number): number | undefined {
  const ms = Number(headers.get('retry-after-ms') ?? NaN);
  const raw = headers.get('retry-after')?.trim();
  let wait = Number.isFinite(ms) && ms >= 0 ? ms : undefined;
  if (wait === undefined && raw) {
    const seconds = /^\d+(?:\.\d+)?$/.test(raw) ? Number(raw) * 1000 : Date.parse(raw) - now;
    if (Number.isFinite(seconds)) wait = Math.max(0, seconds);
  }
  return wait === undefined ? undefined : Math.min(wait, 3_600_000);
}

function networkCode(err: unknown): string | undefined {
  // undici wraps the socket error: TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }).
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    if (typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
    e = typeof e === 'object' && 'cause' in e ? e.cause : undefined;
  }
  return undefined;
}
