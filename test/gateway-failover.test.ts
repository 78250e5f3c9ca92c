// Failover and resilience through the whole server: each upstream failure the issue names moves the
// request to the next model; streams fail over only before their first byte; client disconnects reach
// the upstream; breakers skip a failing model and show up in /v1/stats.
import net from 'node:net';
import OpenAI from 'openai';
import type { DecisionLogJson } from '../src/http/decision-log-json';
import type { StatsJson } from '../src/inspection/stats';
import { completionBody, startFakeUpstream, streamEvents, type Behaviour, type FakeUpstream } from './support/fake-upstream';
import { type ErrorJson, type TestGateway, eventually, startTestGateway } from './support/gateway';

/**
 * A port nothing listens on: a privileged one, where no server's listen(0) lands. A port bound and released
 * here could be taken by another test file's server (the files run side by side) before the gateway
 * connects, and the attempt then read as that server's error instead of a refused connection.
 */
async function deadPort(): Promise<number> {
  const port = 1;
  const refused = await new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
  });
  if (!refused) throw new Error(`something listens on 127.0.0.1:${port}; the failover tests need a port that refuses connections`);
  return port;
}

const config = (a: string, b: string, dead: number, extra = '') => `
server: { host: 127.0.0.1, port: 0 }
storage: { path: data/fo.db, logQueue: { flushIntervalMs: 10 } }
routing: { classifierDir: router, coldStart: primary, reloadIntervalMs: 0, maxAttempts: 3, breaker: { failureThreshold: 1000 } ${extra} }
models:
  - { id: primary, provider: openai, baseUrl: "${a}", price: { inputPerMTok: 1, outputPerMTok: 1 }, timeouts: { connectMs: 300, totalMs: 700 } }
  - { id: backup, provider: openai, baseUrl: "${b}", price: { inputPerMTok: 2, outputPerMTok: 2 } }
  - { id: dead, provider: openai, baseUrl: "http://127.0.0.1:${dead}/v1", price: { inputPerMTok: 9, outputPerMTok: 9 } }
`;

const ask = { model: 'auto', messages: [{ role: 'user' as const, content: 'hello' }] };

describe('failover across real upstreams', () => {
  let a: FakeUpstream;
  let b: FakeUpstream;
  let gw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    a = await startFakeUpstream();
    b = await startFakeUpstream((req) =>
      (req.body as { stream?: boolean }).stream ? { type: 'sse', events: streamEvents('from backup') } : { type: 'json', body: completionBody('from backup') },
    );
    gw = await startTestGateway({ yaml: config(a.baseUrl, b.baseUrl, await deadPort()) });
    client = new OpenAI({ apiKey: 'x', baseURL: `${gw.url}/v1`, maxRetries: 0, timeout: 5_000 });
  });
  afterAll(async () => {
    await gw.close();
    await a.close();
    await b.close();
  });
  beforeEach(() => {
    a.received.length = 0;
    b.received.length = 0;
  });

  const decision = async (id: string | null) => (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${id}`)).json;

  it.each<[string, Behaviour, string]>([
    ['HTTP 500', { type: 'error', status: 500, message: 'boom' }, 'server'],
    ['HTTP 503', { type: 'error', status: 503, message: 'overloaded' }, 'server'],
    ['HTTP 429', { type: 'error', status: 429, message: 'slow down', errorType: 'rate_limit_error' }, 'rate_limit'],
    ['a body that is not JSON', { type: 'raw', body: '<html>oops</html>' }, 'malformed'],
    ['a JSON body of the wrong shape', { type: 'json', body: { choices: 'none' } }, 'malformed'],
    ['no headers within totalMs', { type: 'json', body: completionBody('late'), headersDelayMs: 1_000 }, 'timeout'],
    ['a body not finished within totalMs', { type: 'json', body: completionBody('late'), bodyDelayMs: 1_500 }, 'timeout'],
    ['a hang', { type: 'hang' }, 'timeout'],
  ])('moves on to the next model on %s', async (_what, behaviour, errorClass) => {
    a.enqueue(behaviour);
    const res = await gw.call('POST', '/v1/chat/completions', { body: ask });
    expect(res.status).toBe(200);
    expect(res.json.model).toBe('backup');
    expect(res.headers.get('x-switchyard-model')).toBe('backup');
    const d = await decision(res.headers.get('x-switchyard-decision-id'));
    expect(d).toMatchObject({ status: 'ok', model: 'backup', decision: { model: 'primary' } });
    expect(d.attempts).toMatchObject([{ model: 'primary', status: 'error', error_class: errorClass }, { model: 'backup', status: 'ok' }]);
  });

  it('moves on when a model cannot be connected to at all', async () => {
    const res = await gw.call('POST', '/v1/chat/completions', { body: { ...ask, router: { models: ['dead', 'backup'] } } });
    expect(res.status).toBe(200);
    const d = await decision(res.headers.get('x-switchyard-decision-id'));
    expect(d.attempts).toMatchObject([{ model: 'dead', status: 'error', error_class: 'connect' }, { model: 'backup', status: 'ok' }]);
  });

  it.each([401, 403, 404])('moves on when the upstream refuses the model itself (HTTP %i: its key, access or name)', async (status) => {
    a.enqueue({ type: 'error', status, message: 'Incorrect API key provided' });
    const res = await gw.call('POST', '/v1/chat/completions', { body: ask });
    expect(res.status).toBe(200);
    const d = await decision(res.headers.get('x-switchyard-decision-id'));
    expect(d.attempts).toMatchObject([{ model: 'primary', status: 'error', error_class: 'refused', http_status: status }, { model: 'backup', status: 'ok' }]);
  });

  it('answers 502, not an authentication error, when every model refuses its key', async () => {
    a.enqueue({ type: 'error', status: 401, message: 'Incorrect API key provided' });
    b.enqueue({ type: 'error', status: 401, message: 'Incorrect API key provided' });
    const res = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: { ...ask, router: { models: ['primary', 'backup'] } } });
    expect(res.status).toBe(502);
    expect(res.json.error).toMatchObject({ type: 'upstream_error', code: 'upstream_refused' });
  });

  it('moves on when the prompt is too long for a model, and keeps the code when it is too long for all', async () => {
    a.enqueue({ type: 'error', status: 400, message: 'too many tokens', code: 'context_length_exceeded', param: 'messages' });
    const res = await gw.call('POST', '/v1/chat/completions', { body: ask });
    expect(res.status).toBe(200);
    const d = await decision(res.headers.get('x-switchyard-decision-id'));
    expect(d.attempts).toMatchObject([{ model: 'primary', status: 'error', error_class: 'client', http_status: 400 }, { model: 'backup', status: 'ok' }]);
    a.enqueue({ type: 'error', status: 400, message: 'too many tokens', code: 'context_length_exceeded' });
    b.enqueue({ type: 'error', status: 400, message: "This model's maximum context length is 4096 tokens" });
    const all = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: { ...ask, router: { models: ['primary', 'backup'] } } });
    expect(all.status).toBe(400);
    expect(all.json.error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded' });
  });

  it('does not fail over on a client error: the upstream refused the request itself', async () => {
    a.enqueue({ type: 'error', status: 400, message: 'bad temperature', param: 'temperature' });
    const res = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: ask });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ message: 'bad temperature', param: 'temperature' });
    expect(b.received).toHaveLength(0);
  });

  it('stops after maxAttempts and answers in OpenAI shape with the decision id; all rate-limited → 429', async () => {
    a.enqueue({ type: 'error', status: 429, message: 'a busy', headers: { 'retry-after': '20' } });
    b.enqueue({ type: 'error', status: 429, message: 'b busy', headers: { 'retry-after-ms': '7300' } });
    const res = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: { ...ask, router: { models: ['primary', 'backup'] } } });
    expect(res.status).toBe(429);
    expect(res.json.error.type).toBe('rate_limit_error');
    // The soonest any model said it would take requests again, so the client's own retry waits for it.
    expect(res.headers.get('retry-after')).toBe('8');
    const d = await decision(res.headers.get('x-switchyard-decision-id'));
    expect(d).toMatchObject({ status: 'error', model: null, http_status: 429 });
    expect(d.attempts.map((x) => x.model)).toEqual(['primary', 'backup']);
  });

  it('tries the fallbacks in order; mixed failures end in 502 with every attempt logged', async () => {
    a.enqueue({ type: 'error', status: 500, message: 'a' });
    b.enqueue({ type: 'error', status: 500, message: 'b' });
    // primary (cold start) → backup → dead: three calls, all failing.
    const res = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: ask });
    expect(res.status).toBe(502);
    const d = await decision(res.headers.get('x-switchyard-decision-id'));
    expect(d.attempts.map((x) => `${x.model}:${x.error_class}`)).toEqual(['primary:server', 'backup:server', 'dead:connect']);
    // The operator sees it in the server log too, not only the client and the decision log.
    expect(gw.logs).toContain('answered 502 upstream_server: all 3 upstream attempts failed (primary: server 500, backup: server 500, dead: connect)');
  });

  it('fails a stream over when the first model errors before its first byte', async () => {
    a.enqueue({ type: 'error', status: 500, message: 'down' });
    const { data: stream, response } = await client.chat.completions.create({ ...ask, stream: true }).withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('from backup');
    expect(response.headers.get('x-switchyard-model')).toBe('backup');
    const d = await eventually(async () => {
      const x = await decision(response.headers.get('x-switchyard-decision-id'));
      return x.status ? x : undefined;
    });
    expect(d.attempts).toMatchObject([{ model: 'primary', status: 'error' }, { model: 'backup', status: 'ok' }]);
  });

  it('fails a stream over when the first model sends a malformed first event', async () => {
    a.enqueue({ type: 'sse', events: ['data: {not json\n\n'] });
    const { data: stream } = await client.chat.completions.create({ ...ask, stream: true }).withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('from backup');
  });

  it('after the first byte, ends a cut stream with an error event and logs the attempt; no failover', async () => {
    a.enqueue({ type: 'sse', events: streamEvents('one two three four five six', { pieces: 6 }), cutAfter: 3 });
    const { data: stream, response } = await client.chat.completions.create({ ...ask, stream: true }).withResponse();
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      })(),
    ).rejects.toThrow(/lost mid-response|upstream/);
    expect(text).toBe('one two ');
    expect(b.received).toHaveLength(0);
    const id = response.headers.get('x-switchyard-decision-id');
    const d = await eventually(async () => {
      const x = await decision(id);
      return x.status === 'error' ? x : undefined;
    });
    expect(d).toMatchObject({ model: 'primary', http_status: 200, error: { code: 'upstream_server' } });
    expect(d.attempts).toMatchObject([{ model: 'primary', status: 'error', error_class: 'server' }]);
  });

  it('aborts the upstream request when a non-streaming client goes away, and logs it as aborted', async () => {
    a.enqueue({ type: 'hang' });
    const ac = new AbortController();
    const pending = fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ask), signal: ac.signal,
    });
    await eventually(() => (a.received.length === 1 ? true : undefined));
    ac.abort();
    await expect(pending).rejects.toThrow();
    expect(await a.received[0].closed).toBe(true);
    expect(b.received).toHaveLength(0);
    const list = await eventually(async () => {
      const r = await gw.call<{ data: DecisionLogJson[] }>('GET', '/v1/decisions?status=aborted&limit=1');
      return r.json.data[0];
    });
    expect(list).toMatchObject({ status: 'aborted', http_status: 499, attempts: [{ model: 'primary', status: 'error', error_class: 'aborted' }] });
  });

  it('aborts the upstream stream when a streaming client goes away mid-stream', async () => {
    a.enqueue({ type: 'sse', events: streamEvents('a b c d e f g h', { pieces: 8 }), delayMs: 150 });
    const ac = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...ask, stream: true }), signal: ac.signal,
    });
    const id = res.headers.get('x-switchyard-decision-id');
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    expect(await a.received[0].closed).toBe(true);
    const d = await eventually(async () => {
      const x = await decision(id);
      return x.status === 'aborted' ? x : undefined;
    });
    expect(d).toMatchObject({ model: 'primary', http_status: 499 });
  });
});

describe('circuit breaker through the server', () => {
  let a: FakeUpstream;
  let b: FakeUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    a = await startFakeUpstream(() => ({ type: 'error', status: 500, message: 'always down' }));
    b = await startFakeUpstream(() => ({ type: 'json', body: completionBody('from backup') }));
    const yaml = config(a.baseUrl, b.baseUrl, await deadPort()).replace('failureThreshold: 1000', 'failureThreshold: 2, cooldownMs: 60000');
    gw = await startTestGateway({ yaml });
  });
  afterAll(async () => {
    await gw.close();
    await a.close();
    await b.close();
  });

  it('opens after repeated failures, then skips the model without calling it; /v1/stats shows it', async () => {
    for (let i = 0; i < 2; i++) expect((await gw.call('POST', '/v1/chat/completions', { body: ask })).status).toBe(200);
    expect(a.received).toHaveLength(2);
    const res = await gw.call('POST', '/v1/chat/completions', { body: ask });
    expect(res.json.model).toBe('backup');
    expect(a.received).toHaveLength(2);
    const d = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${res.headers.get('x-switchyard-decision-id')}`)).json;
    expect(d.attempts).toMatchObject([{ model: 'primary', status: 'skipped', skip_reason: 'circuit_open' }, { model: 'backup', status: 'ok' }]);

    const stats = (await gw.call<StatsJson>('GET', '/v1/stats')).json;
    const primary = stats.models.find((m) => m.model === 'primary')!;
    const backup = stats.models.find((m) => m.model === 'backup')!;
    expect(primary.breaker).toMatchObject({ state: 'open', consecutive_failures: 2 });
    expect(primary.breaker!.retry_at).not.toBeNull();
    expect(backup.breaker).toMatchObject({ state: 'closed' });
    expect(backup).toMatchObject({ requests: 3, failovers: 3, share: 1 });
    expect(stats.overall).toMatchObject({ requests: 3, failovers: 3, errors: 0 });
    // The requests all succeeded, but primary's calls did not: counted per call, under the model called
    // (the skipped third attempt made no call).
    expect(primary).toMatchObject({ requests: 0, errors: 0, upstream_calls: { calls: 2, errors: 2, error_rate: 1 } });
    expect(backup.upstream_calls).toEqual({ calls: 3, errors: 0, error_rate: 0 });
    expect(stats.overall.upstream_calls).toEqual({ calls: 5, errors: 2, error_rate: 0.4 });
  });
});

describe('maxAttempts', () => {
  it('bounds the upstream calls a request makes: with 2, the third model is never tried', async () => {
    const a = await startFakeUpstream(() => ({ type: 'error', status: 500, message: 'a down' }));
    const b = await startFakeUpstream(() => ({ type: 'error', status: 502, message: 'b down' }));
    const third = await startFakeUpstream(() => ({ type: 'json', body: completionBody('never') }));
    const yaml = config(a.baseUrl, b.baseUrl, 1).replace('maxAttempts: 3', 'maxAttempts: 2').replace('http://127.0.0.1:1/v1', third.baseUrl);
    const gw = await startTestGateway({ yaml });
    try {
      const res = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: ask });
      expect(res.status).toBe(502);
      expect(res.json.error.message).toMatch(/all 2 upstream attempts failed/);
      expect(third.received).toHaveLength(0);
      const d = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${res.headers.get('x-switchyard-decision-id')}`)).json;
      expect(d.attempts.map((x) => x.model)).toEqual(['primary', 'backup']);
    } finally {
      await gw.close();
      await Promise.all([a.close(), b.close(), third.close()]);
    }
  });
});
