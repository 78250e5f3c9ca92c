// The OpenAI-compatible adapter against a real local server: what it sends, how each failure is
// classified, timeouts, aborts reaching the upstream, and SSE edge cases.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { completionsUrl, createOpenAICompatibleProvider, retryAfter, type OpenAICompatibleProviderOptions } from '../src/providers/openai-compatible-provider';
import { SseDecoder, SseLimitError } from '../src/providers/sse';
import { createAgentFetch } from '../src/providers/agent-fetch';
import { UpstreamError, usageTokens, type ChatCompletionChunk, type ChatRequest } from '../src/providers/types';
import { chunkBody, completionBody, startFakeUpstream, streamEvents, type FakeUpstream } from './support/fake-upstream';

const API_KEY = 'sk-test-SECRET-0123456789abcdef';

let upstream: FakeUpstream;
// Every transport a provider may be given runs the same cases: the global fetch (undici) and the
// keep-alive agent fetch the server passes in (src/providers/agent-fetch.ts).
const agentFetch = createAgentFetch();
let currentFetch: typeof fetch = fetch;
afterAll(() => agentFetch.close());
beforeEach(async () => {
  upstream = await startFakeUpstream();
});
afterEach(() => upstream.close());

function provider(overrides: Partial<OpenAICompatibleProviderOptions> = {}) {
  return createOpenAICompatibleProvider({
    modelId: 'cheap',
    baseUrl: upstream.baseUrl,
    apiKey: API_KEY,
    upstreamModel: 'llama-3.1-8b-instruct',
    timeouts: { connectMs: 2_000, totalMs: 5_000 },
    fetch: currentFetch,
    ...overrides,
  });
}

const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'auto',
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});
const live = () => ({ signal: new AbortController().signal });

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof UpstreamError)) throw new Error(`expected an UpstreamError, got ${String(err)}`);
  // Whatever went wrong, the key must not leak into what clients and logs see.
  expect(err.message).not.toContain(API_KEY);
  expect(JSON.stringify(err.attempts)).not.toContain(API_KEY);
  return err;
}

async function drainChunks(iterable: AsyncIterable<ChatCompletionChunk>, seen: ChatCompletionChunk[] = []): Promise<ChatCompletionChunk[]> {
  for await (const chunk of iterable) seen.push(chunk);
  return seen;
}

describe.each([['global fetch', fetch], ['agent fetch', agentFetch]] as const)('over %s', (_name, impl) => {
  beforeAll(() => {
    currentFetch = impl;
  });

  describe('OpenAI-compatible provider: the request it sends', () => {
    it('posts to {baseUrl}/chat/completions with the key as Bearer and the upstream model name', async () => {
      upstream.enqueue({ type: 'json', body: completionBody('hello', 'llama-3.1-8b-instruct') });
      const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];
      await provider({ baseUrl: `${upstream.baseUrl}/` }).complete(
        request({ temperature: 0.2, tools, stream_options: { include_usage: true }, user: 'u-1' }),
        live(),
      );
      const [sent] = upstream.received;
      expect(sent).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
      expect(sent.headers.authorization).toBe(`Bearer ${API_KEY}`);
      expect(sent.headers['content-type']).toBe('application/json');
      // Client fields pass through untouched; stream_options is dropped because OpenAI rejects it without stream.
      expect(sent.body).toEqual({ model: 'llama-3.1-8b-instruct', messages: [{ role: 'user', content: 'hi' }], temperature: 0.2, tools, user: 'u-1', stream: false });
    });

    it('asks for a stream with stream_options passed through, and sends no Authorization without a key', async () => {
      upstream.enqueue({ type: 'sse', events: streamEvents('ok', { includeUsage: true }) });
      await drainChunks(provider({ apiKey: undefined }).stream(request({ stream: true, stream_options: { include_usage: true } }), live()));
      const [sent] = upstream.received;
      expect(sent.headers.authorization).toBeUndefined();
      expect(sent.headers.accept).toBe('text/event-stream');
      expect(sent.body).toMatchObject({ model: 'llama-3.1-8b-instruct', stream: true, stream_options: { include_usage: true } });
    });

    it('sends nothing until the stream is first pulled', async () => {
      upstream.enqueue({ type: 'sse', events: streamEvents('ok') });
      const iterator = provider().stream(request(), live())[Symbol.asyncIterator]();
      await new Promise((r) => setTimeout(r, 30));
      expect(upstream.received).toHaveLength(0);
      await iterator.next();
      expect(upstream.received).toHaveLength(1);
      await iterator.return?.();
    });
  });

  describe('OpenAI-compatible provider: failures', () => {
    it.each([
      [429, 'rate_limit', true, 429, 'rate_limit_error'],
      [500, 'server', true, 502, 'upstream_error'],
      [503, 'server', true, 502, 'upstream_error'],
      [408, 'timeout', true, 504, 'upstream_error'],
      [400, 'client', false, 400, 'invalid_request_error'],
      [422, 'client', false, 422, 'invalid_request_error'],
      // The model's key, access or upstream name is wrong: another model may answer, and it is not the caller's key.
      [401, 'refused', true, 502, 'upstream_error'],
      [403, 'refused', true, 502, 'upstream_error'],
      [404, 'refused', true, 502, 'upstream_error'],
    ] as const)('maps HTTP %i to kind %s (retryable %s), answered as %i', async (status, kind, retryable, httpStatus, type) => {
      upstream.enqueue({ type: 'error', status, message: `upstream says ${status}`, param: status === 400 ? 'messages' : null });
      const err = await failure(provider().complete(request(), live()));
      expect(err).toMatchObject({ kind, retryable, httpStatus, type, upstreamStatus: status, modelId: 'cheap' });
      expect(err.message).toContain(`upstream says ${status}`);
    });

    it('passes a client error on as the upstream phrased it, with its param and code', async () => {
      upstream.enqueue({ type: 'error', status: 400, message: "Invalid value for 'temperature'", param: 'temperature', code: 'invalid_value' });
      const err = await failure(provider().complete(request(), live()));
      expect(err.message).toBe("Invalid value for 'temperature'");
      expect(err.param).toBe('temperature');
      expect(err.code).toBe('invalid_value');
      expect(err.retryable).toBe(false);
    });

    it.each([
      ['OpenAI code', { code: 'context_length_exceeded', message: 'too many tokens' }],
      ['vLLM wording', { code: null, message: "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens." }],
    ])('lets a prompt too long for this model fail over (%s), as a client error', async (_what, body) => {
      upstream.enqueue({ type: 'error', status: 400, param: 'messages', ...body });
      const err = await failure(provider().complete(request(), live()));
      expect(err).toMatchObject({ kind: 'client', retryable: true, httpStatus: 400, code: 'context_length_exceeded', message: body.message });
    });

    it('never repeats the API key, even when the upstream echoes it back', async () => {
      upstream.enqueue({ type: 'error', status: 401, message: `Incorrect API key provided: ${API_KEY}`, errorType: 'invalid_request_error' });
      const err = await failure(provider().complete(request(), live()));
      expect(err).toMatchObject({ kind: 'refused', httpStatus: 502, type: 'upstream_error' });
      expect(err.message).toBe('model "cheap" upstream answered HTTP 401: Incorrect API key provided: [redacted]');
    });

    it.each([
      ['a body that is not JSON', { type: 'raw', body: '{"id": "chatcmpl-1", "choices": [' } as const],
      ['JSON of the wrong shape', { type: 'json', body: { id: 'x', choices: 'nope' } } as const],
      ['an HTML error page with status 200', { type: 'raw', body: '<html>gateway</html>', contentType: 'text/html' } as const],
    ])('calls %s malformed (retryable)', async (_what, behaviour) => {
      upstream.enqueue(behaviour);
      const err = await failure(provider().complete(request(), live()));
      expect(err).toMatchObject({ kind: 'malformed', retryable: true, httpStatus: 502 });
    });

    it('accepts a completion with null optional fields and no id, created or index, and odd usage', async () => {
      upstream.enqueue({
        type: 'json',
        body: {
          model: 'm',
          choices: [{ message: { role: null, content: 'fine', tool_calls: null, function_call: null }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 4, completion_tokens: null },
        },
      });
      const res = await provider().complete(request(), live());
      expect(res.choices[0].message).toEqual({ role: null, content: 'fine', tool_calls: null, function_call: null });
      expect(usageTokens(res.usage)).toBeNull();
      upstream.enqueue({ type: 'json', body: { ...completionBody('counted'), usage: 'n/a' } });
      expect((await provider().complete(request(), live())).usage).toBeNull();
    });

    it('bounds what it reads: an answer past maxAnswerBytes is malformed, an error message is cut to 2,000 characters', async () => {
      upstream.enqueue({ type: 'json', body: completionBody('x'.repeat(5_000)) });
      const big = await failure(provider({ maxAnswerBytes: 4_096 }).complete(request(), live()));
      expect(big).toMatchObject({ kind: 'malformed', retryable: true, message: 'model "cheap" returned an answer over 4096 bytes' });
      upstream.enqueue({ type: 'error', status: 400, message: 'y'.repeat(100_000) });
      const long = await failure(provider().complete(request(), live()));
      expect(long.message).toBe(`${'y'.repeat(2_000)}…`);
    });

    it('calls an answer nested past 256 levels malformed, which fails over, rather than relaying it', async () => {
      let deep: unknown = 'bottom';
      for (let i = 0; i < 300; i++) deep = [deep];
      upstream.enqueue({ type: 'json', body: { ...completionBody('ok'), extra: deep } });
      const err = await failure(provider().complete(request(), live()));
      expect(err).toMatchObject({ kind: 'malformed', retryable: true, message: 'model "cheap" returned a chat.completion nested more than 256 deep' });
    });

    it('reports a refused connection as connect (retryable)', async () => {
      const closed = http.createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const { port } = closed.address() as AddressInfo;
      await new Promise<void>((r) => closed.close(() => r()));
      const err = await failure(provider({ baseUrl: `http://127.0.0.1:${port}/v1` }).complete(request(), live()));
      expect(err).toMatchObject({ kind: 'connect', retryable: true, httpStatus: 502 });
      expect(err.message).toContain('ECONNREFUSED');
    });

    it('waits past connectMs for the headers of a non-streaming answer: the upstream sends them once it is written', async () => {
      upstream.enqueue({ type: 'json', body: completionBody('slow but whole'), headersDelayMs: 300 });
      const res = await provider({ timeouts: { connectMs: 80, totalMs: 5_000 } }).complete(request(), live());
      expect(res.choices[0].message.content).toBe('slow but whole');
    });

    it('times out on totalMs when no headers come at all, and hangs up on the upstream', async () => {
      upstream.enqueue({ type: 'hang' });
      const started = Date.now();
      const err = await failure(provider({ timeouts: { connectMs: 80, totalMs: 200 } }).complete(request(), live()));
      expect(err).toMatchObject({ kind: 'timeout', retryable: true, httpStatus: 504 });
      expect(err.message).toContain('did not finish within 200 ms');
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(await upstream.received[0].closed).toBe(true);
    });

    it('times out when the whole call exceeds totalMs although headers came quickly', async () => {
      upstream.enqueue({ type: 'json', body: completionBody('late'), bodyDelayMs: 2_000 });
      const err = await failure(provider({ timeouts: { connectMs: 1_000, totalMs: 120 } }).complete(request(), live()));
      expect(err).toMatchObject({ kind: 'timeout' });
      expect(err.message).toContain('did not finish within 120 ms');
    });

    it('applies totalMs to a stream too, failing from the iterator after the chunks already sent', async () => {
      upstream.enqueue({ type: 'sse', events: streamEvents('one two three four five', { pieces: 5 }), delayMs: 60 });
      const seen: ChatCompletionChunk[] = [];
      const err = await failure(drainChunks(provider({ timeouts: { connectMs: 1_000, totalMs: 150 } }).stream(request(), live()), seen));
      expect(err.kind).toBe('timeout');
      expect(seen.length).toBeGreaterThan(0);
    });

    it('aborting a call makes the upstream see the disconnect', async () => {
      upstream.enqueue({ type: 'hang' });
      const controller = new AbortController();
      const call = provider().complete(request(), { signal: controller.signal });
      await new Promise((r) => setTimeout(r, 50));
      controller.abort();
      expect(await failure(call)).toMatchObject({ kind: 'aborted', retryable: false });
      expect(await upstream.received[0].closed).toBe(true);
    });

    it('aborting mid-stream surfaces as aborted from the iterator and reaches the upstream', async () => {
      upstream.enqueue({ type: 'sse', events: streamEvents('a b c d e f', { pieces: 6 }), delayMs: 200 });
      const controller = new AbortController();
      const seen: ChatCompletionChunk[] = [];
      const iterating = drainChunks(provider().stream(request(), { signal: controller.signal }), seen);
      setTimeout(() => controller.abort(), 80);
      expect(await failure(iterating)).toMatchObject({ kind: 'aborted' });
      expect(seen).toHaveLength(1);
      expect(await upstream.received[0].closed).toBe(true);
    });

    it('a consumer that stops reading early releases the upstream connection', async () => {
      upstream.enqueue({ type: 'sse', events: streamEvents('a b c d e f', { pieces: 6 }), delayMs: 200 });
      for await (const _chunk of provider().stream(request(), live())) break;
      expect(await upstream.received[0].closed).toBe(true);
    });

    it('a completed stream leaves the upstream connection cleanly finished', async () => {
      upstream.enqueue({ type: 'sse', events: streamEvents('all good') });
      await drainChunks(provider().stream(request(), live()));
      expect(await upstream.received[0].closed).toBe(false);
    });
  });

  describe('OpenAI-compatible provider: streams', () => {
    it('reassembles events split across packets, skipping comments, blank lines and CRLF', async () => {
      const first = JSON.stringify(chunkBody({ role: 'assistant', content: 'Hel' }));
      const second = JSON.stringify(chunkBody({ content: 'lo' }));
      upstream.enqueue({
        type: 'sse',
        delayMs: 15, // separate writes, so separate packets
        done: false,
        events: [': keep-alive\n\n', `data: ${first.slice(0, 20)}`, `${first.slice(20)}\r\n\r\n`, '\n\n', 'data:', ` ${second}\n`, '\n', 'data: [DONE]\n\n'],
      });
      const chunks = await drainChunks(provider().stream(request(), live()));
      expect(chunks.map((c) => c.choices[0].delta.content).join('')).toBe('Hello');
    });

    it('a connection cut mid-stream fails from the iterator as server, after the chunks that made it', async () => {
      upstream.enqueue({ type: 'sse', events: streamEvents('one two three four', { pieces: 4 }), cutAfter: 2 });
      const seen: ChatCompletionChunk[] = [];
      const err = await failure(drainChunks(provider().stream(request(), live()), seen));
      expect(err).toMatchObject({ kind: 'server', retryable: true });
      expect(seen).toHaveLength(2);
    });

    it('a stream whose choices all finished is whole without [DONE] (llama.cpp and others end the body there)', async () => {
      upstream.enqueue({ type: 'sse', events: streamEvents('all of it'), done: false });
      const chunks = await drainChunks(provider().stream(request(), live()));
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('all of it');
      expect(chunks.at(-1)?.choices[0].finish_reason).toBe('stop');
    });

    it('a stream that ends without [DONE] before a finish_reason is malformed', async () => {
      upstream.enqueue({ type: 'sse', events: streamEvents('truncated').slice(0, -1), done: false });
      const err = await failure(drainChunks(provider().stream(request(), live())));
      expect(err).toMatchObject({ kind: 'malformed' });
      expect(err.message).toBe('model "cheap" ended the stream without [DONE] or a finish_reason');
    });

    it('relays chunks with null optional fields, no index and no delta, and `"error": null`', async () => {
      // What Python servers that dump the openai SDK's objects write, and llama.cpp-style servers leave out.
      const base = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', error: null, usage: null };
      upstream.enqueue({
        type: 'sse',
        events: [
          { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel', tool_calls: null, function_call: null }, finish_reason: null }] },
          { ...base, choices: [{ delta: { role: null, content: 'lo', tool_calls: null }, finish_reason: null, logprobs: null }] },
          { ...base, choices: [{ index: 0, finish_reason: 'stop' }] },
          { ...base, choices: [], usage: { prompt_tokens: 3, completion_tokens: null } },
        ],
      });
      const chunks = await drainChunks(provider().stream(request(), live()));
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello');
      expect(chunks[2].choices[0].delta).toEqual({});
    });

    it('a chunk that is not JSON, or not a chunk, is malformed', async () => {
      upstream.enqueue({ type: 'sse', events: ['data: {not json\n\n'] }, { type: 'sse', events: [{ hello: 'world' }] });
      expect(await failure(drainChunks(provider().stream(request(), live())))).toMatchObject({ kind: 'malformed' });
      expect(await failure(drainChunks(provider().stream(request(), live())))).toMatchObject({ kind: 'malformed' });
    });

    it('an error event mid-stream fails as server with the upstream message', async () => {
      upstream.enqueue({ type: 'sse', events: [chunkBody({ content: 'par' }), { error: { message: 'overloaded', type: 'server_error' } }] });
      const err = await failure(drainChunks(provider().stream(request(), live())));
      expect(err).toMatchObject({ kind: 'server' });
      expect(err.message).toContain('overloaded');
    });

    it('asks again without stream_options the gateway added when the upstream refuses the field, and then never sends it', async () => {
      const refusal = { type: 'error', status: 400, message: 'Unrecognized request argument supplied: stream_options' } as const;
      upstream.enqueue(refusal, { type: 'sse', events: streamEvents('first') }, { type: 'sse', events: streamEvents('second') });
      const p = provider();
      const added = { signal: new AbortController().signal, streamOptionsAdded: true };
      const withOptions = request({ stream_options: { include_usage: true } });
      expect((await drainChunks(p.stream(withOptions, added))).map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('first');
      expect((await drainChunks(p.stream(withOptions, added))).map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('second');
      expect(upstream.received.map((r) => 'stream_options' in (r.body as object))).toEqual([true, false, false]);
      // The client's own stream_options are its request: the refusal is the answer.
      upstream.enqueue(refusal);
      const err = await failure(drainChunks(p.stream(withOptions, live())));
      expect(err).toMatchObject({ kind: 'client', httpStatus: 400, message: 'Unrecognized request argument supplied: stream_options' });
    });

    it('a stream line that never ends is malformed once past its bound, not held in memory for ever', async () => {
      upstream.enqueue({ type: 'sse', done: false, events: [`data: {"choices":[{"delta":{"content":"${'x'.repeat(9 * 1024 * 1024)}`] });
      const err = await failure(drainChunks(provider().stream(request(), live())));
      expect(err).toMatchObject({ kind: 'malformed', message: 'model "cheap" sent a stream with a line longer than 8388608 characters' });
    });

    it('an error status on a streaming request is classified like any other', async () => {
      upstream.enqueue({ type: 'error', status: 429, message: 'Rate limit reached' });
      expect(await failure(drainChunks(provider().stream(request(), live())))).toMatchObject({ kind: 'rate_limit', httpStatus: 429 });
    });
  });
});

describe('OpenAI-compatible provider over the agent fetch: connectMs', () => {
  it('times out a connection whose TLS handshake never completes, and says it could not connect', async () => {
    // Accepts TCP and never answers the ClientHello: connected at the socket, not yet a connection.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      const err = await failure(
        provider({ baseUrl: `https://127.0.0.1:${port}/v1`, fetch: agentFetch, timeouts: { connectMs: 100, totalMs: 5_000 } }).complete(request(), live()),
      );
      expect(err).toMatchObject({ kind: 'timeout', retryable: true, httpStatus: 504 });
      expect(err.message).toBe('could not connect to the upstream of model "cheap" within 100 ms');
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

describe('completionsUrl and retryAfter', () => {
  it('appends /chat/completions to the path and keeps a query (Azure OpenAI\'s api-version)', () => {
    expect(completionsUrl('https://x.openai.azure.com/openai/deployments/gpt?api-version=2024-10-21')).toBe(
      'https://x.openai.azure.com/openai/deployments/gpt/chat/completions?api-version=2024-10-21',
    );
    expect(completionsUrl('http://localhost:11434/v1/')).toBe('http://localhost:11434/v1/chat/completions');
    expect(completionsUrl('http://localhost:8000')).toBe('http://localhost:8000/chat/completions');
  });

  it('reads retry-after-ms, else retry-after as seconds or an HTTP date; nothing unreadable; at most an hour', () => {
    const now = Date.parse('2026-11-28T10:00:00Z');
    const h = (headers: Record<string, string>) => retryAfter(new Headers(headers), now);
    expect(h({ 'retry-after-ms': '250', 'retry-after': '9' })).toBe(250);
    expect(h({ 'retry-after': '9' })).toBe(9_000);
    expect(h({ 'retry-after': '1.5' })).toBe(1_500);
    expect(h({ 'retry-after': 'Sat, 28 Nov 2026 10:00:30 GMT' })).toBe(30_000);
    expect(h({ 'retry-after': 'Sat, 28 Nov 2026 09:00:00 GMT' })).toBe(0);
    expect(h({ 'retry-after': 'soon' })).toBeUndefined();
    expect(h({})).toBeUndefined();
    expect(h({ 'retry-after': '999999' })).toBe(3_600_000);
  });
});

describe('SseDecoder', () => {
  const wire = ': hi\r\nevent: message\r\ndata: {"a":1}\r\n\r\ndata: line1\ndata: line2\n\nid: 7\rdata: [DONE]\r\r';
  const expected = [
    { event: 'message', data: '{"a":1}' },
    { event: undefined, data: 'line1\nline2' },
    { event: undefined, data: '[DONE]' },
  ];

  it('gives the same events whether the text arrives whole or one character at a time', () => {
    const whole = new SseDecoder();
    expect([...whole.push(wire), ...whole.end()]).toEqual(expected);
    const trickle = new SseDecoder();
    const events = [...wire].flatMap((ch) => trickle.push(ch));
    expect([...events, ...trickle.end()]).toEqual(expected);
  });

  it('delivers a final event that lacks its blank line', () => {
    const decoder = new SseDecoder();
    expect(decoder.push('data: [DONE]')).toEqual([]);
    expect(decoder.end()).toEqual([{ event: undefined, data: '[DONE]' }]);
  });

  it('refuses a line, or an event, longer than its bound, however it arrives', () => {
    const line = new SseDecoder(100);
    expect(line.push(`data: ${'x'.repeat(60)}`)).toEqual([]);
    expect(() => line.push('x'.repeat(60))).toThrow(SseLimitError);
    const event = new SseDecoder(100);
    for (let i = 0; i < 3; i++) expect(event.push(`data: ${'y'.repeat(30)}\n`)).toEqual([]);
    expect(() => event.push(`data: ${'y'.repeat(30)}\n`)).toThrow('an event longer than 100 characters');
    // A flood of keep-alive comments with no event in between is refused too; a few between events are not.
    const comments = new SseDecoder(100);
    for (let i = 0; i < 4; i++) expect(comments.push(`: ${'k'.repeat(20)}\n`)).toEqual([]);
    expect(() => comments.push(`: ${'k'.repeat(20)}\n`)).toThrow('more than 100 characters of comments and no event');
    const spaced = new SseDecoder(100);
    for (let i = 0; i < 20; i++) expect(spaced.push(`: ${'k'.repeat(20)}\ndata: ${i}\n\n`)).toEqual([{ event: undefined, data: String(i) }]);
    // Under the bounds, a line split across many pushes is one line (each push scans only what is new).
    const split = new SseDecoder(100);
    const pieces = ['da', 'ta: ', 'a'.repeat(20), 'b'.repeat(20), '\r', '\n', '\r\n'];
    expect(pieces.flatMap((p) => split.push(p))).toEqual([{ event: undefined, data: `${'a'.repeat(20)}${'b'.repeat(20)}` }]);
  });
});
