import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadConfigFile } from '../src/cli/context';
import { startServer, type RunningServer } from '../src/cli/serve';
import { errorHandler, toErrorResponse } from '../src/http/error-handler';
import { InvalidInputError } from '../src/errors';
import { createThrottledLog } from '../src/util/throttled-log';
import { StoreBusyError } from '../src/store/sqlite-store';
import { SqliteStore } from '../src/store/sqlite-store';
import { retrain } from '../training/retrain';
import { readOutcomeFile } from '../training/outcome-file';
import { pricesFromConfig } from '../training/prices';
import { createFakeEmbedder } from './support/fake-embedder';
import { makeTempDir } from './support/temp-dir';

const CONFIG = `
server: { host: 127.0.0.1, port: 0, bodyLimitBytes: 2000 }
storage: { path: data/test.db }
routing: { classifierDir: router, minSuccess: 0.7, coldStart: sim-large, reloadIntervalMs: 50 }
models:
  - { id: sim-small, provider: sim, price: { inputPerMTok: 0.15, outputPerMTok: 0.6 } }
  - { id: sim-medium, provider: sim, price: { inputPerMTok: 1, outputPerMTok: 3 }, contextWindow: 300 }
  - { id: sim-large, provider: sim, price: { inputPerMTok: 5, outputPerMTok: 15 } }
`;

// Response bodies are checked field by field below; a loose type keeps those checks readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (res: Response): Promise<any> => res.json();

describe('HTTP: /healthz and /v1/route', () => {
  const tmp = makeTempDir();
  let server: RunningServer;
  const logs: string[] = [];
  const post = (body: unknown, raw?: string) =>
    fetch(`${server.url}/v1/route`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) });

  beforeAll(async () => {
    fs.writeFileSync(path.join(tmp.dir, 'switchyard.yaml'), CONFIG);
    const loaded = loadConfigFile(path.join(tmp.dir, 'switchyard.yaml'));
    server = await startServer({ loaded, embedder: createFakeEmbedder(), log: (m) => logs.push(m) });
  });
  afterAll(async () => {
    await server.close();
    tmp.cleanup();
  });

  it('answers /healthz', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ status: 'ok', classifier_version: null, models: ['sim-small', 'sim-medium', 'sim-large'] });
  });

  it('routes cold-start before any classifier exists, with fallbacks cheapest first', async () => {
    const res = await post({ messages: [{ role: 'user', content: 'Hello there' }] });
    expect(res.status).toBe(200);
    const d = await json(res);
    expect(d).toMatchObject({ model: 'sim-large', fallbacks: ['sim-small', 'sim-medium'], reason: 'cold-start', target: 0.7, policy: null, lambda: null, classifier_version: null });
    expect(d.candidates).toHaveLength(3);
    expect(d.candidates[0]).toMatchObject({ model: 'sim-small', p_success: null, eligible: true });
    expect(d.candidates[0].estimated_cost).toBeCloseTo((3 * 0.15 + 256 * 0.6) / 1e6, 12);
  });

  it.each([
    ['neither prompt nor messages', { router: {} }, 400, 'messages'],
    ['both prompt and messages', { prompt: 'x', messages: [{ role: 'user', content: 'y' }] }, 400, 'messages'],
    ['an out-of-range target', { prompt: 'x', router: { min_success: 1.5 } }, 400, 'router.min_success'],
    ['an unknown model', { prompt: 'x', router: { models: ['gpt-9'] } }, 400, 'router.models'],
    ['an unknown policy', { prompt: 'x', router: { policy: 'cheapest' } }, 400, 'router.policy'],
    ['a zero max_tokens', { prompt: 'x', max_tokens: 0 }, 400, 'max_tokens'],
    // Half a surrogate pair is no character: the decision log would store U+FFFD in its place.
    ['a prompt holding half a surrogate pair', { prompt: 'x\ud800' }, 400, 'prompt'],
    ['a message holding half a surrogate pair', { messages: [{ role: 'user', content: '\udc00y' }] }, 400, 'messages.0.content'],
    ['a text part holding half a surrogate pair', { messages: [{ role: 'user', content: [{ type: 'text', text: 'y\ud83d' }] }] }, 400, 'messages.0.content.0.text'],
  ])('rejects %s with 400 in OpenAI error shape', async (_what, body, status, param) => {
    const res = await post(body);
    expect(res.status).toBe(status);
    const answer = await json(res);
    expect(answer.error).toMatchObject({ type: 'invalid_request_error', param });
    expect(typeof answer.error.message).toBe('string');
  });

  it('takes a chat body as /v1/chat/completions does, null max_tokens included', async () => {
    const res = await post({ model: 'auto', max_tokens: null, max_completion_tokens: null, messages: [{ role: 'user', content: 'Hello there' }] });
    expect(res.status).toBe(200);
    expect((await json(res)).estimated_tokens).toMatchObject({ output: 256 });
  });

  it('lists valid model ids when a model is unknown', async () => {
    const answer = await json(await post({ prompt: 'x', router: { models: ['gpt-9'] } }));
    expect(answer.error.message).toMatch(/gpt-9.*configured: sim-small, sim-medium, sim-large/);
  });

  it('rejects malformed JSON (400) and oversized bodies (413), without stack traces', async () => {
    const bad = await post(null, '{"prompt": ');
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe('invalid_json');
    const big = await post({ prompt: 'x'.repeat(5000) });
    expect(big.status).toBe(413);
    const text = await big.text();
    expect(JSON.parse(text).error.code).toBe('request_too_large');
    expect(text).not.toMatch(/at .*\.js:\d+/);
  });

  it('a body that is not declared JSON is a 415 that says so, not a complaint about its fields', async () => {
    // curl -d sends application/x-www-form-urlencoded unless told otherwise.
    for (const type of ['application/x-www-form-urlencoded', 'text/plain']) {
      const res = await fetch(`${server.url}/v1/route`, { method: 'POST', headers: { 'content-type': type }, body: '{"prompt":"hi"}' });
      expect(res.status).toBe(415);
      const { error } = await json(res);
      expect(error).toMatchObject({ code: 'unsupported_media_type', type: 'invalid_request_error' });
      expect(error.message).toContain(`content-type: application/json (got "${type}")`);
    }
    // No body, no type: the route's own schema answers.
    const empty = await fetch(`${server.url}/v1/route`, { method: 'POST' });
    expect(empty.status).toBe(400);
    expect((await json(empty)).error.code).not.toBe('unsupported_media_type');
  });

  it('a client closing mid-body is its own fault, not an unexpected error', async () => {
    const { port } = new URL(server.url);
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"prompt": "');
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(logs.join('\n')).not.toMatch(/unexpected error/);
    expect(toErrorResponse({ type: 'request.aborted', status: 400 })).toMatchObject({ status: 400, body: { error: { code: 'request_aborted', type: 'invalid_request_error' } } });
  });

  it('a busy store is a 503 with Retry-After that does not tell clients where the server keeps its files', () => {
    const err = new StoreBusyError('/srv/switchyard/data/switchyard.db', 5000, new Error('SQLITE_BUSY'));
    expect(err.message).toContain('/srv/switchyard/data/switchyard.db'); // the CLI and the server log say where
    const res = toErrorResponse(err);
    expect(res).toMatchObject({ status: 503, headers: { 'Retry-After': '1' }, body: { error: { code: 'store_busy', type: 'server_error' } } });
    expect(res.body.error.message).toBe('the store is busy: another process holds its write lock (waited 5000 ms); retry shortly');
  });

  it('a known 5xx reaches the service log, an unknown error the unexpected one, a 4xx neither', async () => {
    const unexpected: unknown[] = [];
    const service: string[] = [];
    const handle = errorHandler((err) => unexpected.push(err), (err) => service.push(err.code));
    const answered: number[] = [];
    const res = {
      headersSent: false,
      set() {
        return this;
      },
      status(s: number) {
        answered.push(s);
        return this;
      },
      json() {
        return this;
      },
    };
    const send = (err: unknown): void => (handle as (e: unknown, q: unknown, r: unknown, n: () => void) => void)(err, {}, res, () => {});
    send(new StoreBusyError('/srv/db', 5000, new Error('SQLITE_BUSY')));
    send(new Error('a bug'));
    send(new InvalidInputError('bad field'));
    expect(answered).toEqual([503, 500, 400]);
    expect(service).toEqual(['store_busy']);
    expect(unexpected).toHaveLength(1);
  });

  it('the throttled log tells a burst once per interval, with the count it held back', () => {
    const lines: string[] = [];
    let now = 0;
    const report = createThrottledLog({ log: (l) => lines.push(l), now: () => now, intervalMs: 10_000 });
    report('store_busy', 'busy 1');
    report('store_busy', 'busy 2');
    report('upstream', 'down 1'); // another kind is not held back by the first
    now = 9_999;
    report('store_busy', 'busy 3');
    now = 12_000;
    report('store_busy', 'busy 4');
    report('store_busy', 'busy 5');
    now = 30_000;
    report('store_busy', 'busy 6');
    expect(lines).toEqual([
      'busy 1',
      'down 1',
      'busy 4 (and 2 more like it since the last such line, 12 s ago)',
      'busy 6 (and 1 more like it since the last such line, 18 s ago)',
    ]);
  });

  it('unknown paths get a 404 in the same shape', async () => {
    const res = await fetch(`${server.url}/v1/nothing`);
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe('unknown_url');
  });

  it('picks up a newly promoted classifier without a restart and routes on learned probabilities', async () => {
    const store = new SqliteStore({ path: path.join(tmp.dir, 'data', 'test.db') });
    try {
      store.importSamples(readOutcomeFile(path.join(__dirname, '..', 'data', 'examples', 'outcomes.jsonl')).map((r) => ({ ...r, origin: 'import' as const })));
      const loaded = loadConfigFile(path.join(tmp.dir, 'switchyard.yaml'));
      await retrain({ store, embedder: createFakeEmbedder(), classifierDir: path.join(tmp.dir, 'router'), prices: pricesFromConfig(loaded.config.models), log: () => {} });
    } finally {
      store.close();
    }
    let version: string | null = null;
    for (let i = 0; i < 100 && version === null; i++) {
      await new Promise((r) => setTimeout(r, 50));
      version = (await json(await fetch(`${server.url}/healthz`))).classifier_version;
    }
    expect(version).toBe('v0001');
    const d = await json(await post({ prompt: 'What is the capital of France?', router: { min_success: 0.5 } }));
    expect(d.classifier_version).toBe('v0001');
    expect(d.embedder_id).toBe('fake-bow-32');
    expect(['cheapest-above-target', 'best-below-target']).toContain(d.reason);
    for (const c of d.candidates) {
      expect(c.p_success).toBeGreaterThan(0);
      expect(c.p_success).toBeLessThan(1);
    }
    expect(d.timings_ms.total).toBeGreaterThanOrEqual(d.timings_ms.embed + d.timings_ms.classify);

    // A long prompt exceeds sim-medium's 300-token window: excluded, with the reason.
    const long = await json(await post({ prompt: 'word '.repeat(300) }));
    expect(long.candidates.find((c: { model: string }) => c.model === 'sim-medium')).toMatchObject({ eligible: false, excluded_because: 'context-window' });
    expect([long.model, ...long.fallbacks]).not.toContain('sim-medium');

    // Concurrent requests are scored in one batch; each still gets its own prompt's probabilities.
    const prompts = ['Write a Python function for Fibonacci', 'Hi there', 'Prove the Cook-Levin theorem', 'Summarise this email politely'];
    const alone: number[][] = [];
    for (const prompt of prompts) alone.push((await json(await post({ prompt }))).candidates.map((c: { p_success: number }) => c.p_success));
    const together = await Promise.all(prompts.map(async (prompt) => json(await post({ prompt }))));
    together.forEach((d, i) => d.candidates.forEach((c: { p_success: number }, j: number) => expect(c.p_success).toBeCloseTo(alone[i][j], 5)));
    expect(new Set(alone.map((p) => p.join())).size).toBeGreaterThan(1);

    // The average policy: the best p − λ·cost, λ set from the classifier's reference prompts.
    expect(d).toMatchObject({ policy: 'per-request', lambda: null });
    const avg = await json(await post({ prompt: 'What is the capital of France?', router: { min_success: 0.75, policy: 'average' } }));
    // Few prompts have been routed yet, so λ comes from the classifier's reference prompts.
    expect(avg).toMatchObject({ policy: 'average', reason: 'best-value', lambda_basis: { source: 'reference' } });
    expect(d.lambda_basis).toBeNull();
    const value = (c: { p_success: number; estimated_cost: number }): number => c.p_success - (avg.lambda ?? Infinity) * c.estimated_cost;
    const ranked = [...avg.candidates].filter((c) => c.eligible).sort((a, b) => value(b) - value(a) || a.estimated_cost - b.estimated_cost);
    expect([avg.model, ...avg.fallbacks]).toEqual(ranked.map((c) => c.model));
    // A higher target never raises λ: more is spent on success.
    const lambdas = [];
    for (const t of [0, 0.5, 0.7, 0.8, 0.9, 1]) lambdas.push((await json(await post({ prompt: 'Hi', router: { min_success: t, policy: 'average' } }))).lambda ?? Infinity);
    for (let i = 1; i < lambdas.length; i++) expect(lambdas[i]).toBeLessThanOrEqual(lambdas[i - 1]);
    expect(lambdas[lambdas.length - 1]).toBe(0);

    // Narrowing to one model routes there whatever the probabilities say.
    const only = await json(await post({ prompt: 'Prove Fermat', router: { models: ['sim-small'] } }));
    expect(only).toMatchObject({ model: 'sim-small', fallbacks: [] });
  });
});
