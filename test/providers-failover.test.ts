// Circuit breakers with a fake clock, and failover across real OpenAI-compatible providers talking
// to one local fake upstream that answers per upstream model name.
import { CircuitBreaker, createCircuitBreakers } from '../src/providers/circuit-breaker';
import { runWithFailover, streamWithFailover, type FailoverOptions } from '../src/providers/failover';
import { createOpenAICompatibleProvider } from '../src/providers/openai-compatible-provider';
import { UpstreamError, type ChatCompletionChunk, type ChatProvider, type ChatRequest } from '../src/providers/types';
import { completionBody, startFakeUpstream, streamEvents, type Behaviour, type FakeUpstream } from './support/fake-upstream';

class FakeClock {
  t = Date.UTC(2024, 0, 1);
  now = () => this.t;
  advance(ms: number) {
    this.t += ms;
  }
}

describe('CircuitBreaker', () => {
  let clock: FakeClock;
  let breaker: CircuitBreaker;
  beforeEach(() => {
    clock = new FakeClock();
    breaker = new CircuitBreaker({ now: clock.now });
  });
  const fail = (n: number) => {
    for (let i = 0; i < n; i++) breaker.recordFailure();
  };

  it('opens after five consecutive failures, not after four or after interrupted runs', () => {
    fail(4);
    breaker.recordSuccess();
    fail(4);
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 4 });
    fail(1);
    expect(breaker.tryAcquire()).toBe(false);
    expect(breaker.snapshot()).toMatchObject({ state: 'open', openedAt: clock.t, retryAt: clock.t + 30_000, rejected: 1, totalFailures: 9 });
  });

  it('after the cooldown lets exactly one probe through; its success closes the circuit', () => {
    fail(5);
    clock.advance(29_999);
    expect(breaker.tryAcquire()).toBe(false);
    clock.advance(1);
    expect(breaker.snapshot().state).toBe('half_open');
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false); // the probe is still out
    breaker.recordSuccess();
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('a failed probe re-opens the circuit for another full cooldown', () => {
    fail(5);
    clock.advance(30_000);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.recordFailure();
    expect(breaker.snapshot()).toMatchObject({ state: 'open', openedAt: clock.t });
    clock.advance(29_000);
    expect(breaker.tryAcquire()).toBe(false);
    clock.advance(1_000);
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('a probe that says nothing about health (abort, client error) frees the slot for the next one', () => {
    fail(5);
    clock.advance(30_000);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.releaseProbe();
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('honours a custom threshold and cooldown', () => {
    const quick = new CircuitBreaker({ now: clock.now, failureThreshold: 2, cooldownMs: 100 });
    quick.recordFailure();
    quick.recordFailure();
    expect(quick.tryAcquire()).toBe(false);
    clock.advance(100);
    expect(quick.tryAcquire()).toBe(true);
  });
});

describe('failover', () => {
  let upstream: FakeUpstream;
  /** What the upstream does for each upstream model name; arrays are consumed one per request. */
  let script: Record<string, Behaviour | Behaviour[]>;
  let providers: Map<string, ChatProvider>;

  beforeEach(async () => {
    script = {};
    upstream = await startFakeUpstream((req) => {
      const name = (req.body as ChatRequest).model;
      const entry = script[name];
      const behaviour = Array.isArray(entry) ? entry.shift() : entry;
      return behaviour ?? { type: 'error', status: 500, message: `nothing scripted for ${name}` };
    });
    providers = new Map(
      ['a', 'b', 'c'].map((id) => [
        id,
        createOpenAICompatibleProvider({ modelId: id, baseUrl: upstream.baseUrl, apiKey: 'sk-x', upstreamModel: `up-${id}`, timeouts: { connectMs: 150, totalMs: 2_000 }, fetch }),
      ]),
    );
  });
  afterEach(() => upstream.close());

  const ok = (text: string): Behaviour => ({ type: 'json', body: completionBody(text) });
  const status = (code: number): Behaviour => ({ type: 'error', status: code, message: `status ${code}` });
  const stream = (text: string, extra: Partial<Extract<Behaviour, { type: 'sse' }>> = {}): Behaviour => ({
    type: 'sse',
    events: streamEvents(text, { pieces: 4 }),
    ...extra,
  });
  const asked = () => upstream.received.map((r) => (r.body as ChatRequest).model);
  const options = (extra: Partial<FailoverOptions> = {}): FailoverOptions => ({
    models: ['a', 'b', 'c'],
    providers,
    request: { model: 'auto', messages: [{ role: 'user', content: 'hi' }] },
    signal: new AbortController().signal,
    ...extra,
  });
  async function rejection(promise: Promise<unknown>): Promise<UpstreamError> {
    const err: unknown = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof UpstreamError)) throw new Error(`expected an UpstreamError, got ${String(err)}`);
    return err;
  }

  it('tries models in order past retryable failures and records every attempt', async () => {
    script = { 'up-a': status(500), 'up-b': status(429), 'up-c': ok('from c') };
    const result = await runWithFailover(options());
    expect(result.model).toBe('c');
    expect(result.response.choices[0].message.content).toBe('from c');
    expect(asked()).toEqual(['up-a', 'up-b', 'up-c']);
    expect(result.attempts).toMatchObject([
      { model: 'a', status: 'error', errorKind: 'server', httpStatus: 500 },
      { model: 'b', status: 'error', errorKind: 'rate_limit', httpStatus: 429 },
      { model: 'c', status: 'ok' },
    ]);
    for (const attempt of result.attempts) {
      expect(attempt.latencyMs).toBeGreaterThanOrEqual(0);
      expect(typeof attempt.startedAt).toBe('number');
    }
  });

  it('fails over on a connect timeout', async () => {
    script = { 'up-a': { type: 'hang' }, 'up-b': ok('from b') };
    const result = await runWithFailover(options());
    expect(result.attempts).toMatchObject([{ model: 'a', errorKind: 'timeout' }, { model: 'b', status: 'ok' }]);
  });

  it('stops at a client error and hands it on with the upstream status and the attempts', async () => {
    script = { 'up-a': status(400), 'up-b': ok('never') };
    const err = await rejection(runWithFailover(options()));
    expect(err).toMatchObject({ kind: 'client', httpStatus: 400, message: 'status 400' });
    expect(err.attempts).toMatchObject([{ model: 'a', status: 'error', errorKind: 'client', httpStatus: 400 }]);
    expect(asked()).toEqual(['up-a']);
  });

  it('skips a model whose circuit is open, noting it, and never calls it', async () => {
    const clock = new FakeClock();
    const breakers = createCircuitBreakers(['a', 'b', 'c'], { now: clock.now, failureThreshold: 2 });
    script = { 'up-a': [status(500), status(500)], 'up-b': [ok('b1'), ok('b2'), ok('b3')] };
    await runWithFailover(options({ breakers, now: clock.now }));
    await runWithFailover(options({ breakers, now: clock.now }));
    expect(breakers.get('a')?.snapshot().state).toBe('open');
    const third = await runWithFailover(options({ breakers, now: clock.now }));
    expect(third.attempts).toMatchObject([{ model: 'a', status: 'skipped', skipReason: 'circuit_open' }, { model: 'b', status: 'ok' }]);
    expect(asked()).toEqual(['up-a', 'up-b', 'up-a', 'up-b', 'up-b']);
    // After the cooldown one probe goes to a again, and its success closes the circuit.
    clock.advance(30_000);
    script['up-a'] = ok('a is back');
    expect((await runWithFailover(options({ breakers, now: clock.now }))).model).toBe('a');
    expect(breakers.get('a')?.snapshot().state).toBe('closed');
  });

  it('a client error does not count against the breaker', async () => {
    const breakers = createCircuitBreakers(['a'], { now: Date.now, failureThreshold: 1 });
    script = { 'up-a': status(400) };
    await rejection(runWithFailover(options({ models: ['a'], breakers })));
    expect(breakers.get('a')?.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('a throw that is not an UpstreamError (a bug on this side) fails over without counting against the breaker', async () => {
    const breakers = createCircuitBreakers(['a', 'b'], { now: Date.now, failureThreshold: 1 });
    const broken: ChatProvider = { modelId: 'a', complete: () => Promise.reject(new RangeError('Maximum call stack size exceeded')), stream: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new RangeError('x')) }) }) };
    script = { 'up-b': ok('from b') };
    const result = await runWithFailover(options({ models: ['a', 'b'], breakers, providers: new Map([['a', broken], ['b', providers.get('b')!]]) }));
    expect(result.model).toBe('b');
    expect(result.attempts[0]).toMatchObject({ model: 'a', status: 'error', errorKind: 'server' });
    expect(breakers.get('a')?.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('a request too deeply nested to serialise is the client\'s error: no call, no breaker, no failover', async () => {
    const breakers = createCircuitBreakers(['a', 'b'], { now: Date.now, failureThreshold: 1 });
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const err = await rejection(runWithFailover(options({ breakers, request: { model: 'auto', messages: [{ role: 'user', content: 'hi' }], x: deep } })));
    expect(err).toMatchObject({ kind: 'client', httpStatus: 400, retryable: false });
    expect(err.message).toMatch(/^the request could not be serialised for the upstream: /);
    expect(asked()).toEqual([]);
    expect(breakers.get('a')?.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('a prompt too long for a model fails over without counting against it; a refused key counts', async () => {
    const breakers = createCircuitBreakers(['a', 'b'], { now: Date.now, failureThreshold: 1 });
    script = { 'up-a': { type: 'error', status: 400, message: 'too long', code: 'context_length_exceeded' }, 'up-b': status(401) };
    const err = await rejection(runWithFailover(options({ models: ['a', 'b', 'c'], breakers, maxAttempts: 2 })));
    expect(err.attempts).toMatchObject([{ model: 'a', errorKind: 'client' }, { model: 'b', errorKind: 'refused', httpStatus: 401 }]);
    expect(err).toMatchObject({ kind: 'server', httpStatus: 502 });
    expect(breakers.get('a')?.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect(breakers.get('b')?.snapshot().state).toBe('open');
  });

  it('makes at most maxAttempts upstream calls', async () => {
    script = { 'up-a': status(500), 'up-b': status(502), 'up-c': ok('too late') };
    const err = await rejection(runWithFailover(options({ maxAttempts: 2 })));
    expect(asked()).toEqual(['up-a', 'up-b']);
    expect(err).toMatchObject({ kind: 'server', httpStatus: 502, type: 'upstream_error' });
    expect(err.attempts).toHaveLength(2);
  });

  it('answers 429 when every model was rate-limited', async () => {
    script = { 'up-a': status(429), 'up-b': status(429), 'up-c': status(429) };
    const err = await rejection(runWithFailover(options()));
    expect(err).toMatchObject({ kind: 'rate_limit', httpStatus: 429, type: 'rate_limit_error' });
    expect(err.message).toBe('all 3 upstream attempts failed (a: rate_limit 429, b: rate_limit 429, c: rate_limit 429)');
  });

  it('answers 502 for mixed failures, and 503 when every circuit is open', async () => {
    script = { 'up-a': status(429), 'up-b': { type: 'raw', body: 'oops' }, 'up-c': status(503) };
    expect(await rejection(runWithFailover(options()))).toMatchObject({ kind: 'server', httpStatus: 502 });

    const clock = new FakeClock();
    const breakers = createCircuitBreakers(['a', 'b', 'c'], { now: clock.now, failureThreshold: 1 });
    for (const b of breakers.values()) b.recordFailure();
    const err = await rejection(runWithFailover(options({ breakers })));
    expect(err).toMatchObject({ httpStatus: 503, code: 'upstream_unavailable' });
    expect(err.attempts.map((a) => a.status)).toEqual(['skipped', 'skipped', 'skipped']);
  });

  it('a client disconnect stops the attempt in flight and tries nothing else', async () => {
    script = { 'up-a': { type: 'hang' }, 'up-b': ok('never') };
    const controller = new AbortController();
    const running = runWithFailover(options({ signal: controller.signal, providers: withLongConnect(providers) }));
    setTimeout(() => controller.abort(), 50);
    const err = await rejection(running);
    expect(err).toMatchObject({ kind: 'aborted', retryable: false });
    expect(asked()).toEqual(['up-a']);
    expect(await upstream.received[0].closed).toBe(true);
  });

  function withLongConnect(map: Map<string, ChatProvider>): Map<string, ChatProvider> {
    const a = createOpenAICompatibleProvider({ modelId: 'a', baseUrl: upstream.baseUrl, upstreamModel: 'up-a', timeouts: { connectMs: 5_000, totalMs: 5_000 }, fetch });
    return new Map([...map, ['a', a]]);
  }

  describe('streaming', () => {
    async function read(iterable: AsyncIterable<ChatCompletionChunk>, seen: ChatCompletionChunk[] = []) {
      for await (const chunk of iterable) seen.push(chunk);
      return seen;
    }
    const text = (chunks: ChatCompletionChunk[]) => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

    it('fails over while no chunk has arrived, then streams from the next model', async () => {
      script = { 'up-a': status(500), 'up-b': { type: 'sse', events: [], done: true }, 'up-c': stream('from model c') };
      const result = await streamWithFailover(options());
      expect(result.model).toBe('c');
      expect(result.attempts).toMatchObject([
        { model: 'a', errorKind: 'server' },
        { model: 'b', errorKind: 'malformed' }, // [DONE] with no chunk at all
        { model: 'c', status: 'ok' },
      ]);
      expect(text(await read(result.stream))).toBe('from model c');
      const outcome = await result.outcome;
      expect(outcome.status).toBe('ok');
      const last = outcome.attempts[2];
      expect(last).toMatchObject({ model: 'c', status: 'ok' });
      expect(last.latencyMs).toBeGreaterThanOrEqual(last.firstChunkMs ?? Infinity);
    });

    it('after the first chunk a failure is not retried: it comes out of the iterator and the outcome', async () => {
      const breakers = createCircuitBreakers(['a', 'b'], { now: Date.now });
      script = { 'up-a': stream('one two three four', { cutAfter: 2 }), 'up-b': stream('never') };
      const result = await streamWithFailover(options({ breakers }));
      const seen: ChatCompletionChunk[] = [];
      const err = await rejection(read(result.stream, seen));
      expect(seen).toHaveLength(2);
      expect(err).toMatchObject({ kind: 'server' });
      expect(err.attempts).toMatchObject([{ model: 'a', status: 'error', errorKind: 'server' }]);
      expect(asked()).toEqual(['up-a']);
      const outcome = await result.outcome;
      expect(outcome).toMatchObject({ status: 'error', error: { kind: 'server' } });
      expect(outcome.attempts).toMatchObject([{ model: 'a', status: 'error', errorKind: 'server' }]);
      expect(breakers.get('a')?.snapshot().consecutiveFailures).toBe(1);
    });

    it('a consumer that stops early settles the outcome as aborted and frees the upstream', async () => {
      script = { 'up-a': stream('a b c d e f g h', { delayMs: 100 }) };
      const result = await streamWithFailover(options());
      for await (const _chunk of result.stream) break;
      expect(await result.outcome).toMatchObject({ status: 'error', error: { kind: 'aborted' }, attempts: [{ model: 'a', errorKind: 'aborted' }] });
      expect(await upstream.received[0].closed).toBe(true);
    });

    it('cancel() before reading also settles the outcome and frees the upstream', async () => {
      script = { 'up-a': stream('a b c d e f g h', { delayMs: 100 }) };
      const result = await streamWithFailover(options());
      await result.cancel();
      expect(await result.outcome).toMatchObject({ status: 'error', error: { kind: 'aborted' } });
      expect(await upstream.received[0].closed).toBe(true);
    });

    it('throws the summarising error with all attempts when no model produced a chunk', async () => {
      script = { 'up-a': status(429), 'up-b': status(429), 'up-c': status(429) };
      const err = await rejection(streamWithFailover(options()));
      expect(err).toMatchObject({ kind: 'rate_limit', httpStatus: 429 });
      expect(err.attempts).toHaveLength(3);
    });
  });
});
