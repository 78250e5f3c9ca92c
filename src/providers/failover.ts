// Tries the routed models in order until one answers, skipping open circuits, and records every
// attempt so the request log can show what happened. Streams fail over only until the first chunk:
// after that the client has seen output, and restarting on another model would garble it.
import type { CircuitBreaker } from './circuit-breaker';
import {
  UpstreamError,
  type AttemptRecord,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatProvider,
  type ChatRequest,
} from './types';

export interface FailoverOptions {
  /** The routing decision: chosen model first, then fallbacks. */
  models: readonly string[];
  providers: ReadonlyMap<string, ChatProvider>;
  /** Models without a breaker are always tried. */
  breakers?: ReadonlyMap<string, CircuitBreaker>;
  /** Upstream calls actually made; skipped models do not count. Default 3. */
  maxAttempts?: number;
  request: ChatRequest;
  /** The client's signal: an abort stops the current attempt and any further ones. */
  signal: AbortSignal;
  /** See CallContext.streamOptionsAdded. */
  streamOptionsAdded?: boolean;
  /** Epoch milliseconds, for attempt timings. Default Date.now. */
  now?: () => number;
}

export interface FailoverResult {
  response: ChatCompletion;
  /** The model that answered. */
  model: string;
  attempts: AttemptRecord[];
}

export interface StreamOutcome {
  status: 'ok' | 'error';
  /** Every attempt, the streaming one last with its final status and full latency. */
  attempts: AttemptRecord[];
  /** Set when status is 'error': the failure the stream's iterator threw, or 'aborted' if the consumer stopped. */
  error?: UpstreamError;
}

export interface StreamFailoverResult {
  model: string;
  /** Attempts so far; the last (status 'ok', latency to first chunk) is the one now streaming. */
  attempts: AttemptRecord[];
  /**
   * The answer, starting with the chunk already pulled. Iterate it to the end or stop early (or call
   * `cancel`); a failure mid-way is thrown from here as an UpstreamError carrying all attempts.
   */
  stream: AsyncIterable<ChatCompletionChunk>;
  /** Settles once the stream ends, fails or is abandoned. Never rejects: for logging the final result. */
  outcome: Promise<StreamOutcome>;
  /** Releases the upstream without reading; needed only if `stream` will never be iterated. */
  cancel(): Promise<void>;
}

/**
 * Non-streaming failover. Throws an UpstreamError with `attempts` set: the first non-retryable
 * error as is (a client 4xx keeps its status and message, an abort stays 'aborted'), or, if every
 * attempt failed retryably, one summarising error — see `exhaustedError` for its status.
 */
export async function runWithFailover(options: FailoverOptions): Promise<FailoverResult> {
  const found = await tryInOrder(options, async (provider) => ({
    response: await provider.complete(options.request, { signal: options.signal }),
  }));
  found.breaker?.recordSuccess();
  return { response: found.value.response, model: found.model, attempts: found.attempts };
}

/** Streaming failover: resolves once some model produced its first chunk; throws like runWithFailover. */
export async function streamWithFailover(options: FailoverOptions): Promise<StreamFailoverResult> {
  const now = options.now ?? Date.now;
  const found = await tryInOrder(options, async (provider, model) => {
    const iterator = provider.stream(options.request, { signal: options.signal, streamOptionsAdded: options.streamOptionsAdded })[Symbol.asyncIterator]();
    const first = await iterator.next();
    if (first.done) throw new UpstreamError(`model "${model}" ended its stream without any chunk`, { kind: 'malformed', modelId: model });
    return { iterator, first: first.value };
  });
  const { iterator, first } = found.value;
  const { record, breaker } = found;
  record.firstChunkMs = found.endedAt - record.startedAt;
  record.latencyMs = record.firstChunkMs;
  // The upstream has answered, so it counts as healthy now; a later mid-stream failure counts against it.
  breaker?.recordSuccess();

  let settle: (outcome: StreamOutcome) => void = () => undefined;
  const outcome = new Promise<StreamOutcome>((resolve) => {
    settle = resolve;
  });
  let settled = false;
  /** Marks the streaming attempt's final result once, and returns the full attempt list. */
  const finish = (error?: UpstreamError): AttemptRecord[] => {
    if (settled) return found.attempts;
    settled = true;
    const final: AttemptRecord = { ...record, latencyMs: now() - record.startedAt };
    if (error) Object.assign(final, attemptError(error));
    const attempts = [...found.attempts.slice(0, -1), final];
    if (error && error.retryable) breaker?.recordFailure();
    settle({ status: error ? 'error' : 'ok', attempts, error });
    return attempts;
  };
  const consumerStopped = () =>
    new UpstreamError(`client stopped reading the stream from model "${found.model}"`, { kind: 'aborted', modelId: found.model });

  let started = false;
  async function* relay(): AsyncGenerator<ChatCompletionChunk> {
    started = true;
    try {
      yield first;
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        yield next.value;
      }
      finish();
    } catch (err) {
      const error = toUpstreamError(err, found.model);
      throw error.withAttempts(finish(error));
    } finally {
      // Reached without settling only when the consumer stopped early; the upstream must be released.
      if (!settled) {
        finish(consumerStopped());
        await iterator.return?.();
      }
    }
  }
  const stream = relay();

  const cancel = async (): Promise<void> => {
    if (started) {
      await stream.return(undefined);
      return;
    }
    // An unstarted generator's return() skips its body (and its finally), so clean up here.
    started = true;
    await stream.return(undefined);
    finish(consumerStopped());
    await iterator.return?.();
  };

  return { model: found.model, attempts: found.attempts, stream, outcome, cancel };
}

interface Found<T> {
  value: T;
  model: string;
  attempts: AttemptRecord[];
  /** The successful attempt's record (last in `attempts`), still open for timing updates. */
  record: AttemptRecord;
  breaker: CircuitBreaker | undefined;
  endedAt: number;
}

async function tryInOrder<T>(options: FailoverOptions, call: (provider: ChatProvider, model: string) => Promise<T>): Promise<Found<T>> {
  const now = options.now ?? Date.now;
  const maxAttempts = options.maxAttempts ?? 3;
  const attempts: AttemptRecord[] = [];
  const errors: UpstreamError[] = [];
  for (const model of options.models) {
    if (errors.length >= maxAttempts) break;
    if (options.signal.aborted) {
      throw new UpstreamError('request was aborted by the client', { kind: 'aborted', attempts });
    }
    const provider = options.providers.get(model);
    if (!provider) {
      attempts.push({ model, status: 'skipped', skipReason: 'unknown_model', startedAt: now(), latencyMs: 0 });
      continue;
    }
    const breaker = options.breakers?.get(model);
    if (breaker && !breaker.tryAcquire()) {
      attempts.push({ model, status: 'skipped', skipReason: 'circuit_open', startedAt: now(), latencyMs: 0 });
      continue;
    }
    const startedAt = now();
    try {
      const value = await call(provider, model);
      const endedAt = now();
      const record: AttemptRecord = { model, status: 'ok', startedAt, latencyMs: endedAt - startedAt };
      attempts.push(record);
      return { value, model, attempts, record, breaker, endedAt };
    } catch (err) {
      const error = toUpstreamError(err, model);
      attempts.push({ model, startedAt, latencyMs: now() - startedAt, ...attemptError(error) });
      // Client errors (a prompt too long for this model included) and aborts say nothing about the upstream's
      // health, and neither does a throw that is not an UpstreamError: a bug on this side of the wire (a
      // request that could not be serialised once opened every breaker for any client's sake).
      if (error.retryable && error.kind !== 'client' && err instanceof UpstreamError) breaker?.recordFailure();
      else breaker?.releaseProbe();
      if (!error.retryable) throw error.withAttempts(attempts);
      errors.push(error);
    }
  }
  throw exhaustedError(errors, attempts);
}

function attemptError(error: UpstreamError): Pick<AttemptRecord, 'status' | 'errorKind' | 'httpStatus' | 'message'> {
  return { status: 'error', errorKind: error.kind, httpStatus: error.upstreamStatus, message: error.message };
}

/** Providers promise UpstreamError; anything else is a bug in one adapter, and another model may still answer. */
function toUpstreamError(err: unknown, model: string): UpstreamError {
  if (err instanceof UpstreamError) return err;
  return new UpstreamError(`model "${model}" failed unexpectedly`, { kind: 'server', modelId: model, cause: err });
}

/**
 * When no attempt succeeded. If every failure had the same kind the error keeps it, so all
 * rate-limited → 429 (type rate_limit_error) and all timed out → 504; mixed failures → 502 'server'.
 * Nothing tried at all (every circuit open, or no known model) → 503 'upstream_unavailable'.
 */
export function exhaustedError(errors: readonly UpstreamError[], attempts: readonly AttemptRecord[]): UpstreamError {
  if (errors.length === 0) {
    const skipped = attempts.map((a) => `${a.model}: ${a.skipReason ?? a.status}`).join(', ');
    return new UpstreamError(`no model available to answer (${skipped || 'no models routed'})`, {
      kind: 'server',
      httpStatus: 503,
      code: 'upstream_unavailable',
      attempts,
    });
  }
  const kinds = new Set(errors.map((e) => e.kind));
  const kind = kinds.size === 1 ? errors[0].kind : 'server';
  // One code from every attempt (say, each model found the prompt too long) tells the client more than a kind.
  const codes = new Set(errors.map((e) => e.code));
  const summary = errors.map((e) => `${e.modelId ?? '?'}: ${e.kind}${e.upstreamStatus ? ` ${e.upstreamStatus}` : ''}`).join(', ');
  // Every model rate-limited: the client may come back when the first of them said it would take requests.
  const waits = kind === 'rate_limit' ? errors.flatMap((e) => (e.retryAfterMs === undefined ? [] : [e.retryAfterMs])) : [];
  return new UpstreamError(`${errors.length === 1 ? 'the upstream attempt failed' : `all ${errors.length} upstream attempts failed`} (${summary})`, {
    kind,
    ...(kinds.size === 1 && codes.size === 1 ? { code: errors[0].code } : {}),
    upstreamStatus: kind === 'rate_limit' ? 429 : kind === 'client' ? errors[0].upstreamStatus : undefined,
    cause: errors[errors.length - 1],
    attempts,
    ...(waits.length > 0 ? { retryAfterMs: Math.min(...waits) } : {}),
  });
}
