// The chat-completions gateway as clients see it: the official openai npm client, unmodified, against a
// real server whose models point at a real fake upstream on 127.0.0.1.
import { gzipSync } from 'node:zlib';
import OpenAI from 'openai';
import { DECISION_ID_PATTERN } from '../src/gateway/decision-id';
import type { DecisionLogJson } from '../src/http/decision-log-json';
import { completionBody, startFakeUpstream, streamEvents, type FakeUpstream } from './support/fake-upstream';
import { type ErrorJson, type ListJson, type TestGateway, eventually, startTestGateway } from './support/gateway';

const UPSTREAM_KEY = 'sk-upstream-secret-123';

const config = (baseUrl: string) => `
server: { host: 127.0.0.1, port: 0, bodyLimitBytes: 4000 }
storage: { path: data/gw.db, logQueue: { flushIntervalMs: 10 } }
routing: { classifierDir: router, coldStart: cheap, reloadIntervalMs: 0 }
models:
  - { id: cheap, provider: openai, baseUrl: "${baseUrl}", upstreamModel: up-cheap, apiKeyEnv: CHEAP_KEY, price: { inputPerMTok: 1, outputPerMTok: 2 } }
  - { id: dear, provider: openai, baseUrl: "${baseUrl}", upstreamModel: up-dear, price: { inputPerMTok: 10, outputPerMTok: 20 } }
  - { id: sim-one, provider: sim, price: { inputPerMTok: 3, outputPerMTok: 4 }, sim: { reply: "simulated answer with several words in it" } }
`;

describe('POST /v1/chat/completions and GET /v1/models', () => {
  let upstream: FakeUpstream;
  let gw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    upstream = await startFakeUpstream((req) => {
      const body = req.body as { stream?: boolean; model: string; stream_options?: { include_usage?: boolean }; messages: { content: string }[] };
      const slowly = body.messages.some((m) => m.content === 'Take your time.');
      return body.stream
        ? { type: 'sse', events: streamEvents('Paris is the capital of France.', { model: body.model, includeUsage: body.stream_options?.include_usage }), delayMs: slowly ? 150 : 0 }
        : { type: 'json', body: completionBody('Paris.', body.model) };
    });
    gw = await startTestGateway({ yaml: config(upstream.baseUrl), env: { CHEAP_KEY: UPSTREAM_KEY } });
    client = new OpenAI({ apiKey: 'not-needed-without-keys', baseURL: `${gw.url}/v1`, maxRetries: 0, timeout: 5_000 });
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  const decision = async (id: string) => (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${id}`)).json;

  it('answers a non-streaming auto request through the openai client, naming the model that answered', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content: 'Capital of France?' }] })
      .withResponse();
    expect(data.choices[0].message.content).toBe('Paris.');
    expect(data.model).toBe('cheap');
    expect(data.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 7 });
    const id = response.headers.get('x-switchyard-decision-id') ?? '';
    expect(id).toMatch(DECISION_ID_PATTERN);
    expect(response.headers.get('x-switchyard-model')).toBe('cheap');

    // The upstream got its own model name and key, and none of Switchyard's fields.
    const sent = upstream.received.at(-1)!;
    expect(sent.body).toMatchObject({ model: 'up-cheap', stream: false, messages: [{ role: 'user', content: 'Capital of France?' }] });
    expect(sent.body).not.toHaveProperty('router');
    expect(sent.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);

    const d = await decision(id);
    expect(d).toMatchObject({
      id, model: 'cheap', status: 'ok', http_status: 200, api_key: null,
      request: { model: 'auto', stream: false, prompt: 'Capital of France?' },
      decision: { model: 'cheap', fallbacks: ['sim-one', 'dear'], reason: 'cold-start' },
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
      attempts: [{ model: 'cheap', status: 'ok' }],
    });
    // Actual cost from the configured prices: 5 × $1/M + 7 × $2/M.
    expect(d.cost).toBeCloseTo(19e-6, 12);
    expect(d.decision.candidates.map((c) => c.model)).toEqual(['cheap', 'dear', 'sim-one']);
    expect(d.timings_ms.total).toBeGreaterThanOrEqual(d.timings_ms.upstream);
  });

  it('reads `stream: null` as not streaming, as OpenAI documents it', async () => {
    const res = await gw.call<{ choices: { message: { content: string } }[] }>('POST', '/v1/chat/completions', {
      body: { model: 'auto', stream: null, messages: [{ role: 'user', content: 'Capital of France?' }] },
    });
    expect(res.status).toBe(200);
    expect(res.json.choices[0].message.content).toBe('Paris.');
    expect(upstream.received.at(-1)!.body).toMatchObject({ stream: false });
  });

  it('streams through the openai client with usage when include_usage is set, headers included', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'switchyard/auto', messages: [{ role: 'user', content: 'Capital of France?' }], stream: true, stream_options: { include_usage: true } })
      .withResponse();
    expect(response.headers.get('x-switchyard-model')).toBe('cheap');
    expect(response.headers.get('x-switchyard-decision-id')).toMatch(DECISION_ID_PATTERN);
    let text = '';
    const models = new Set<string>();
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      models.add(chunk.model);
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Paris is the capital of France.');
    expect([...models]).toEqual(['cheap']);
    expect(usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 8 });
  });

  it('asks the upstream for usage on every stream but hides it from clients that did not ask; the log has it', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', stream: true, messages: [{ role: 'user', content: 'Capital of France?' }] }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const id = res.headers.get('x-switchyard-decision-id') ?? '';
    const body = await res.text();
    expect(body).not.toMatch(/usage/);
    expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(upstream.received.at(-1)!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const d = await decision(id);
    expect(d).toMatchObject({ status: 'ok', model: 'cheap', request: { stream: true }, usage: { prompt_tokens: 5, completion_tokens: 8 } });
    expect(d.attempts[0].first_chunk_ms).toBeGreaterThanOrEqual(0);
  });

  it('a decision still streaming is a 409 decision_in_progress, not an unknown id, until the stream ends', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', stream: true, messages: [{ role: 'user', content: 'Take your time.' }] }),
    });
    const id = res.headers.get('x-switchyard-decision-id') ?? '';
    const early = await gw.call<ErrorJson>('GET', `/v1/decisions/${id}`);
    expect(early.status).toBe(409);
    expect(early.json.error).toMatchObject({ code: 'decision_in_progress', param: 'id' });
    expect((await gw.call<ErrorJson>('POST', `/v1/decisions/${id}/feedback`, { body: { success: true } })).status).toBe(409);
    await res.text();
    expect(await decision(id)).toMatchObject({ status: 'ok', request: { stream: true } });
    expect((await gw.call<ErrorJson>('GET', '/v1/decisions/dec_01M8DSM9Y6YFTTXMWZ3XYCMYNR')).status).toBe(404);
  });

  it('sends a configured model id to that model, logged with reason explicit and no fallbacks', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'dear', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(data.model).toBe('dear');
    expect(upstream.received.at(-1)!.body).toMatchObject({ model: 'up-dear' });
    // No apiKeyEnv on this model: no authorization header goes upstream.
    expect(upstream.received.at(-1)!.headers.authorization).toBeUndefined();
    const d = await decision(response.headers.get('x-switchyard-decision-id')!);
    expect(d).toMatchObject({ model: 'dear', decision: { model: 'dear', reason: 'explicit', fallbacks: [] }, request: { model: 'dear' } });
  });

  it('runs the sim provider end to end, streaming included', async () => {
    const done = await client.chat.completions.create({ model: 'sim-one', messages: [{ role: 'user', content: 'hello' }] });
    expect(done.choices[0].message.content).toBe('simulated answer with several words in it');
    const stream = await client.chat.completions.create({ model: 'sim-one', stream: true, messages: [{ role: 'user', content: 'hello' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('simulated answer with several words in it');
  });

  it('answers an unknown model with 404 in OpenAI shape, listing the valid ids', async () => {
    await expect(client.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
    const res = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: { model: 'gpt-9', messages: [{ role: 'user', content: 'hi' }] } });
    expect(res.status).toBe(404);
    expect(res.json.error).toMatchObject({ type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
    expect(res.json.error.message).toMatch(/gpt-9.*auto, switchyard\/auto, cheap, dear, sim-one/);
  });

  it('lists auto and the configured models in OpenAI list shape', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(['auto', 'cheap', 'dear', 'sim-one']);
    const raw = await gw.call<ListJson<{ object: string; owned_by: string }>>('GET', '/v1/models');
    expect(raw.json.object).toBe('list');
    expect(raw.json.data[0]).toMatchObject({ object: 'model', owned_by: 'switchyard' });
  });

  it('honours router options with auto, and refuses them with a named model', async () => {
    const narrowed = await gw.call('POST', '/v1/chat/completions', {
      body: { model: 'auto', messages: [{ role: 'user', content: 'hi' }], router: { models: ['dear'], min_success: 0.9 } },
    });
    expect(narrowed.status).toBe(200);
    expect(narrowed.json.model).toBe('dear');
    const d = await decision(narrowed.headers.get('x-switchyard-decision-id')!);
    expect(d.decision).toMatchObject({ model: 'dear', target: 0.9 });
    expect(d.decision.candidates.find((c) => c.model === 'cheap')).toMatchObject({ eligible: false, excluded_because: 'not-requested' });

    const refused = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: { model: 'cheap', messages: [{ role: 'user', content: 'hi' }], router: { min_success: 0.5 } } });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ param: 'router', code: 'router_needs_auto' });
  });

  it.each([
    ['no messages', { model: 'auto' }, 400, 'messages'],
    ['empty messages', { model: 'auto', messages: [] }, 400, 'messages'],
    ['no model', { messages: [{ role: 'user', content: 'x' }] }, 400, 'model'],
    ['a bad router target', { model: 'auto', messages: [{ role: 'user', content: 'x' }], router: { min_success: 2 } }, 400, 'router.min_success'],
    ['half a surrogate pair in a message', { model: 'auto', messages: [{ role: 'user', content: 'x\ud800' }] }, 400, 'messages.0.content'],
    ['half a surrogate pair in a text part', { model: 'auto', messages: [{ role: 'user', content: [{ type: 'text', text: '\udfffx' }] }] }, 400, 'messages.0.content.0.text'],
  ])('rejects %s with 400 naming the field', async (_what, body, status, param) => {
    const res = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body });
    expect(res.status).toBe(status);
    expect(res.json.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it('refuses a body nested past 256 levels with 400 before routing, plain or gzip-encoded: no upstream call', async () => {
    const before = upstream.received.length;
    // 1,500 levels in 3 KB (this server's body limit is 4,000 bytes); 10,000 once opened every breaker.
    const raw = `{"model":"auto","messages":[{"role":"user","content":"hi"}],"x":${'['.repeat(1_500)}${']'.repeat(1_500)}}`;
    const plain = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { raw });
    expect(plain.status).toBe(400);
    expect(plain.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json', message: 'the body nests arrays or objects more than 256 deep' });
    const zipped = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(raw),
    });
    expect(zipped.status).toBe(400);
    expect(upstream.received.length).toBe(before);
    // 256 levels is a body like any other.
    const fine = await gw.call('POST', '/v1/chat/completions', { raw: raw.replace(/\[{1500}/, '['.repeat(255)).replace(/\]{1500}/, ']'.repeat(255)) });
    expect(fine.status).toBe(200);
  });

  it('refuses bodies over the configured limit with 413, no stack trace', async () => {
    const res = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: { model: 'auto', messages: [{ role: 'user', content: 'x'.repeat(5_000) }] } });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('request_too_large');
    expect(res.text).not.toMatch(/at .*\.[jt]s:\d+/);
  });

  it('reads gzip-encoded JSON bodies too, and refuses oversized bodies however they arrive', async () => {
    const body = JSON.stringify({ model: 'dear', messages: [{ role: 'user', content: 'zipped' }] });
    const zipped = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(body),
    });
    expect(zipped.status).toBe(200);
    expect(upstream.received.at(-1)!.body).toMatchObject({ messages: [{ content: 'zipped' }] });
    // Plain or zipped, a byte-order mark is read past, and a charset is honoured or refused, the same way.
    const bom = JSON.stringify({ model: 'dear', messages: [{ role: 'user', content: 'marked' }] });
    for (const encoded of [{}, { 'content-encoding': 'gzip' }] as Record<string, string>[]) {
      const raw = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(bom)]);
      const marked = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...encoded },
        body: 'content-encoding' in encoded ? gzipSync(raw) : raw,
      });
      expect(marked.status).toBe(200);
      expect(upstream.received.at(-1)!.body).toMatchObject({ messages: [{ content: 'marked' }] });
    }
    const latin = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=iso-8859-1' },
      body: Buffer.from('{"model":"dear","messages":[{"role":"user","content":"caf\xe9"}]}', 'latin1'),
    });
    expect(latin.status).toBe(415);
    expect(((await latin.json()) as ErrorJson).error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_charset', message: 'unsupported charset "ISO-8859-1": send JSON as UTF-8' });

    // No content-length: the limit is enforced while reading.
    const big = JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'y'.repeat(6_000) }] });
    const chunked = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as ErrorJson).error.code).toBe('request_too_large');
  });

  it('answers bodies that are not valid JSON with 400, and bodies not sent as JSON with 415, in OpenAI shape', async () => {
    const broken = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { raw: '{"model": "auto", ' });
    expect(broken.status).toBe(400);
    expect(broken.json.error.code).toBe('invalid_json');
    const plain = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(plain.status).toBe(415);
    expect(((await plain.json()) as ErrorJson).error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_media_type' });
  });

  it('never shows the upstream key: not in errors the upstream echoes, not in the log, not in server logs', async () => {
    upstream.enqueue({ type: 'error', status: 400, message: `Incorrect API key provided: ${UPSTREAM_KEY}` });
    const res = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: { model: 'cheap', messages: [{ role: 'user', content: 'hi' }] } });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/\[redacted\]/);
    expect(res.text).not.toContain(UPSTREAM_KEY);
    const d = await gw.call('GET', `/v1/decisions/${res.headers.get('x-switchyard-decision-id')}`);
    expect(d.json).toMatchObject({ status: 'error', http_status: 400 });
    const list = await gw.call('GET', '/v1/decisions?limit=500');
    const stats = await gw.call('GET', '/v1/stats');
    for (const text of [d.text, list.text, stats.text, gw.logs.join('\n')]) expect(text).not.toContain(UPSTREAM_KEY);

    // A plain-text error is cut to 300 characters: one that cuts the key must not leak its first part.
    const cut = `${'x'.repeat(300 - 10 - UPSTREAM_KEY.length / 2)} bad key: ${UPSTREAM_KEY}`;
    upstream.enqueue({ type: 'raw', status: 400, contentType: 'text/plain', body: cut });
    const plain = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: { model: 'cheap', messages: [{ role: 'user', content: 'hi' }] } });
    expect(plain.status).toBe(400);
    expect(plain.json.error.message).toMatch(/bad key: \[redac/);
    expect(plain.text).not.toContain(UPSTREAM_KEY.slice(0, 8));
  });
});

describe('answer lengths learned from the log (routing.answerLengths)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      yaml: `
server: { host: 127.0.0.1, port: 0 }
storage: { path: data/lengths.db, logQueue: { flushIntervalMs: 10 } }
routing: { classifierDir: router, coldStart: terse, reloadIntervalMs: 0, answerLengths: { window: 5, minAnswers: 2, refreshMs: 1000 } }
models:
  - { id: terse, provider: sim, price: { inputPerMTok: 1, outputPerMTok: 2 }, sim: { completionTokens: 40 } }
  - { id: verbose, provider: sim, price: { inputPerMTok: 1, outputPerMTok: 2 }, sim: { completionTokens: 400 } }
  - { id: told, provider: sim, expectedOutputTokens: 100, price: { inputPerMTok: 1, outputPerMTok: 2 }, sim: { completionTokens: 900 } }
`,
    });
  });
  afterAll(() => gw.close());

  const lengthsOf = (candidates: { model: string; output_tokens?: number; output_tokens_basis?: string }[]) =>
    Object.fromEntries(candidates.map((c) => [c.model, `${c.output_tokens} ${c.output_tokens_basis}`]));

  it('costs each model at its mean answer once it has minAnswers; a configured length still wins', async () => {
    const route = () => gw.call<{ candidates: { model: string; output_tokens?: number; output_tokens_basis?: string }[] }>('POST', '/v1/route', { body: { prompt: 'hello' } });
    expect(lengthsOf((await route()).json.candidates)).toEqual({ terse: '256 default', verbose: '256 default', told: '100 model' });
    for (const model of ['terse', 'terse', 'verbose', 'verbose', 'told', 'told']) {
      const res = await gw.call('POST', '/v1/chat/completions', { body: { model, messages: [{ role: 'user', content: 'hi' }] } });
      expect(res.status).toBe(200);
    }
    await eventually(() => (gw.logs.some((l) => l.startsWith('answer lengths learned from the log: ')) ? true : undefined), 5_000);
    expect(gw.logs.find((l) => l.startsWith('answer lengths learned'))).toBe('answer lengths learned from the log: terse 40, verbose 400, told 900 (its configured 100 is used)');
    const after = (await route()).json.candidates;
    expect(lengthsOf(after)).toEqual({ terse: '40 learned', verbose: '400 learned', told: '100 model' });
    // Same prices, so the verbose model now costs ten times the terse one per answer ((1·2 + 2·400) against (1·2 + 2·40)).
    const cost = (m: string) => (after.find((c) => c.model === m) as unknown as { estimated_cost: number }).estimated_cost;
    expect(cost('verbose') / cost('terse')).toBeCloseTo(802 / 82, 6);
    // A model named by the client is costed the same way, and max_tokens caps it.
    const named = await gw.call('POST', '/v1/chat/completions', { body: { model: 'verbose', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] } });
    const id = named.headers.get('x-switchyard-decision-id')!;
    await eventually(async () => ((await gw.call('GET', `/v1/decisions/${id}`)).status === 200 ? true : undefined));
    const logged = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${id}`)).json;
    expect(lengthsOf(logged.decision.candidates)).toEqual({ verbose: '100 max_tokens' });
    expect(logged.decision.estimated_tokens.output).toBe(100);
  });
});
