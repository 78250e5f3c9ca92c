// Client keys and what each may see: admin keys read everything, other keys only their own decisions;
// feedback upserts; the decision list's filters and cursor pages; /v1/stats figures.
import http from 'node:http';
import path from 'node:path';
import OpenAI from 'openai';
import type { DecisionLogJson } from '../src/http/decision-log-json';
import type { StatsJson } from '../src/inspection/stats';
import { trainableRows } from '../training/trainable-rows';
import { SqliteStore } from '../src/store/sqlite-store';
import { ApiKeyStore } from '../src/store/api-key-store';
import { keysCommand } from '../src/cli/keys';
import { UsageError } from '../src/cli/args';
import { completionBody, startFakeUpstream, type FakeUpstream } from './support/fake-upstream';
import { type ErrorJson, type ListJson, type TestGateway, startTestGateway } from './support/gateway';
import { makeTempDir } from './support/temp-dir';

const config = (baseUrl: string, storage = '') => `
server: { host: 0.0.0.0, port: 0 }
storage: { path: data/auth.db ${storage} }
routing: { classifierDir: router, coldStart: small, reloadIntervalMs: 0 }
models:
  - { id: small, provider: openai, baseUrl: "${baseUrl}", price: { inputPerMTok: 1, outputPerMTok: 2 } }
  - { id: large, provider: openai, baseUrl: "${baseUrl}", price: { inputPerMTok: 10, outputPerMTok: 30 } }
`;

const ask = (content: string, model = 'auto') => ({ model, messages: [{ role: 'user', content }] });

describe('API keys and scopes', () => {
  let upstream: FakeUpstream;
  let gw: TestGateway & { keys: Record<string, string> };
  let admin: string;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    upstream = await startFakeUpstream(() => ({ type: 'json', body: completionBody('ok', 'x', { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 }) }));
    gw = await startTestGateway({ yaml: config(upstream.baseUrl), keys: [{ name: 'ops', admin: true }, { name: 'alice' }, { name: 'bob' }] });
    ({ ops: admin, alice, bob } = gw.keys);
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  const complete = async (key: string, content = 'hello', model = 'auto') => {
    const res = await gw.call('POST', '/v1/chat/completions', { key, body: ask(content, model) });
    expect(res.status).toBe(200);
    return res.headers.get('x-switchyard-decision-id') as string;
  };

  it('binds to the configured host when keys exist', () => {
    expect(gw.url).toMatch(/^http:\/\/0\.0\.0\.0:/);
  });

  it('needs a key everywhere but /healthz, in OpenAI error shape', async () => {
    expect((await gw.call('GET', '/healthz')).status).toBe(200);
    for (const [method, p] of [['GET', '/v1/models'], ['POST', '/v1/chat/completions'], ['POST', '/v1/route'], ['GET', '/v1/stats'], ['GET', '/v1/decisions']]) {
      const res = await gw.call<ErrorJson>(method, p, { body: method === 'POST' ? ask('x') : undefined });
      expect(res.status).toBe(401);
      expect(res.json.error).toMatchObject({ type: 'authentication_error', code: 'missing_api_key' });
    }
    const wrong = await gw.call<ErrorJson>('GET', '/v1/models', { key: 'sy-not-a-key' });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe('invalid_api_key');
  });

  it('the openai client works with a key, and fails cleanly without the right one', async () => {
    const client = new OpenAI({ apiKey: alice, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const answer = await client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.model).toBe('small');
    const stranger = new OpenAI({ apiKey: 'sy-wrong', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await expect(stranger.models.list()).rejects.toMatchObject({ status: 401 });
  });

  it('logs the key name; only admins list decisions and read stats', async () => {
    const id = await complete(alice);
    expect((await gw.call('GET', '/v1/decisions', { key: alice })).status).toBe(403);
    expect((await gw.call<ErrorJson>('GET', '/v1/stats', { key: alice })).json.error.type).toBe('permission_error');
    const list = await gw.call<ListJson<DecisionLogJson>>('GET', '/v1/decisions', { key: admin });
    expect(list.status).toBe(200);
    expect(list.json.data.find((d) => d.id === id)).toMatchObject({ api_key: 'alice' });
    expect((await gw.call('GET', '/v1/stats', { key: admin })).status).toBe(200);
  });

  it('a key reads and rates its own decisions only; admins any', async () => {
    const id = await complete(alice);
    expect((await gw.call('GET', `/v1/decisions/${id}`, { key: alice })).status).toBe(200);
    expect((await gw.call('GET', `/v1/decisions/${id}`, { key: admin })).status).toBe(200);
    const peek = await gw.call<ErrorJson>('GET', `/v1/decisions/${id}`, { key: bob });
    expect(peek.status).toBe(403);
    const rate = await gw.call<ErrorJson>('POST', `/v1/decisions/${id}/feedback`, { key: bob, body: { success: false } });
    expect(rate.status).toBe(403);
    expect(rate.json.error.type).toBe('permission_error');
    expect((await gw.call('POST', `/v1/decisions/${id}/feedback`, { key: alice, body: { success: true } })).status).toBe(200);
    expect((await gw.call('POST', `/v1/decisions/${id}/feedback`, { key: admin, body: { score: 0.25 } })).status).toBe(200);
  });

  it('feedback is an upsert (the last write wins) and becomes a training outcome for the answering model', async () => {
    const id = await complete(alice, 'What is two plus two?');
    const first = await gw.call('POST', `/v1/decisions/${id}/feedback`, { key: alice, body: { success: false, comment: 'wrong sum' } });
    expect(first.json).toMatchObject({ object: 'switchyard.feedback', decision_id: id, model: 'small', score: 0, success: false, trains: true });
    const second = await gw.call('POST', `/v1/decisions/${id}/feedback`, { key: alice, body: { score: 0.8 } });
    expect(second.json).toMatchObject({ score: 0.8, success: null, comment: null });
    const d = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${id}`, { key: alice })).json;
    expect(d.feedback).toMatchObject({ model: 'small', score: 0.8, success: null, comment: null, api_key: 'alice' });
    expect(gw.rows('SELECT * FROM feedback WHERE decision_id = ?', id)).toHaveLength(1);
    expect(gw.rows('SELECT id, prompt, origin, source FROM samples WHERE id = ?', id)).toEqual([
      { id, prompt: 'What is two plus two?', origin: 'feedback', source: 'feedback' },
    ]);
    expect(gw.rows('SELECT model, score FROM outcomes WHERE sample_id = ?', id)).toEqual([{ model: 'small', score: 0.8 }]);
  });

  it('feedback: 404 for unknown ids, 400 for bad bodies, 409 when no model answered', async () => {
    const unknown = await gw.call<ErrorJson>('POST', '/v1/decisions/dec_01ARZ3NDEKTSV4RRFFQ69G5FAV/feedback', { key: admin, body: { success: true } });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('decision_not_found');
    const id = await complete(alice);
    // The last: a comment holding half a surrogate pair, which the store would keep as U+FFFD.
    for (const body of [{}, { success: true, score: 1 }, { score: 1.5 }, { success: 'yes' }, { success: true, extra: 1 }, { success: true, comment: 'ok\ud800' }]) {
      const res = await gw.call<ErrorJson>('POST', `/v1/decisions/${id}/feedback`, { key: alice, body });
      expect(res.status).toBe(400);
      expect(res.json.error.type).toBe('invalid_request_error');
    }
    expect(gw.rows('SELECT * FROM feedback WHERE decision_id = ?', id)).toHaveLength(0);
    upstream.enqueue({ type: 'error', status: 500, message: 'down' }, { type: 'error', status: 500, message: 'down' });
    const failed = await gw.call('POST', '/v1/chat/completions', { key: alice, body: ask('x') });
    expect(failed.status).toBe(502);
    const rate = await gw.call<ErrorJson>('POST', `/v1/decisions/${failed.headers.get('x-switchyard-decision-id')}/feedback`, { key: alice, body: { success: false } });
    expect(rate.status).toBe(409);
    expect(rate.json.error.code).toBe('no_answer_to_rate');
  });

  it('revoking a key takes effect on the running server at once', async () => {
    const tmp = new SqliteStore({ path: gw.dbPath });
    const keys = new ApiKeyStore(tmp.db);
    const { key } = keys.create('temp', false);
    expect((await gw.call('GET', '/v1/models', { key })).status).toBe(200);
    keys.revoke('temp');
    tmp.close();
    expect((await gw.call('GET', '/v1/models', { key })).status).toBe(401);
  });

  it('a store whose keys were all revoked stays closed when the server starts again', async () => {
    const dir = makeTempDir();
    try {
      const dbPath = `${dir.dir}/revoked.db`;
      const store = new SqliteStore({ path: dbPath });
      const keys = new ApiKeyStore(store.db);
      keys.create('ops', true);
      keys.revoke('ops');
      store.close();
      const again = await startTestGateway({ yaml: config(upstream.baseUrl).replace('data/auth.db', dbPath) });
      try {
        expect(again.url).toMatch(/^http:\/\/0\.0\.0\.0:/);
        expect((await again.call('GET', '/v1/stats')).status).toBe(401);
        expect((await again.call('POST', '/v1/chat/completions', { body: ask('x') })).status).toBe(401);
        expect(again.logs.join('\n')).toMatch(/every API key is revoked: all requests but \/healthz are refused/);
      } finally {
        await again.close();
      }
    } finally {
      dir.cleanup();
    }
  });
});

describe('decision list and stats', () => {
  let upstream: FakeUpstream;
  let gw: TestGateway;
  const ids: string[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream(() => ({ type: 'json', body: completionBody('ok', 'x', { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 }) }));
    gw = await startTestGateway({ yaml: config(upstream.baseUrl) });
    // 5 auto (→ small), 2 explicit large, 1 failing over from small to large, 1 failing everywhere.
    const send = async (body: unknown) => (await gw.call('POST', '/v1/chat/completions', { body })).headers.get('x-switchyard-decision-id') as string;
    for (let i = 0; i < 5; i++) ids.push(await send(ask(`auto ${i}`)));
    for (let i = 0; i < 2; i++) ids.push(await send(ask(`explicit ${i}`, 'large')));
    upstream.enqueue({ type: 'error', status: 500, message: 'blip' });
    ids.push(await send(ask('fails over')));
    upstream.enqueue({ type: 'error', status: 503, message: 'a' }, { type: 'error', status: 503, message: 'b' });
    ids.push(await send(ask('fails')));
    await gw.call('POST', `/v1/decisions/${ids[0]}/feedback`, { body: { success: true } });
    await gw.call('POST', `/v1/decisions/${ids[1]}/feedback`, { body: { success: false } });
    await gw.call('POST', `/v1/decisions/${ids[5]}/feedback`, { body: { score: 0.5 } });
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
  });

  it('binds to 127.0.0.1 only while no key exists, and says so', () => {
    expect(gw.url).toMatch(/^http:\/\/127\.0\.0\.1:/);
    expect(gw.logs.join('\n')).toMatch(/no API keys exist: open access, listening on 127\.0\.0\.1 only \(not 0\.0\.0\.0\)/);
  });

  it('without keys serves only requests addressed to this machine by name (a DNS-rebinding page names its own host)', async () => {
    const get = (host: string, p = '/v1/decisions?limit=1') =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${gw.url}${p}`, { headers: { host } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const rebound = await get('evil.example:8080');
    expect(rebound.status).toBe(403);
    expect((JSON.parse(rebound.body) as ErrorJson).error).toMatchObject({ type: 'permission_error', message: expect.stringContaining('not "evil.example:8080"') });
    for (const host of ['localhost:8080', '127.0.0.1', 'LOCALHOST', '[::1]:8080']) expect([host, (await get(host)).status]).toEqual([host, 200]);
    // Health checks stay open whatever they name.
    expect((await get('lb.internal', '/healthz')).status).toBe(200);
  });

  it('ids sort by time: the list is newest first and pages by cursor without gaps or repeats', async () => {
    expect([...ids].sort()).toEqual(ids);
    const seen: string[] = [];
    let cursor: string | null | undefined = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : '';
      const page: ListJson<DecisionLogJson> = (await gw.call<ListJson<DecisionLogJson>>('GET', `/v1/decisions?limit=4${q}`)).json;
      seen.push(...page.data.map((d) => d.id));
      cursor = page.next_cursor;
      pages += 1;
      expect(page.has_more).toBe(cursor !== null);
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it('filters by model, status, reason and time', async () => {
    const list = async (q: string) => (await gw.call<ListJson<DecisionLogJson>>('GET', `/v1/decisions?${q}`)).json.data.map((d) => d.id);
    expect(await list('reason=explicit')).toEqual([ids[6], ids[5]]);
    expect(await list('status=error')).toEqual([ids[8]]);
    expect(await list('model=large')).toEqual([ids[7], ids[6], ids[5]]);
    const created = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${ids[5]}`)).json.created_at;
    expect(await list(`since=${encodeURIComponent(created)}&reason=explicit`)).toEqual([ids[6], ids[5]]);
    expect(await list(`until=${Date.parse(created)}&reason=explicit`)).toEqual([]);
    const bad = await gw.call<ErrorJson>('GET', '/v1/decisions?limit=501');
    expect(bad.status).toBe(400);
    expect(bad.json.error.param).toBe('limit');
    const twice = await gw.call<ErrorJson>('GET', '/v1/decisions?limit=1&limit=2');
    expect(twice.json.error).toMatchObject({ param: 'limit', message: expect.stringMatching(/a whole number from 1 to 500, given once/) });
    expect((await gw.call('GET', '/v1/decisions?status=weird')).status).toBe(400);
    // A misspelt reason is a 400 naming the field, not an empty list that reads as "none of those".
    const typo = await gw.call<ErrorJson>('GET', '/v1/decisions?reason=explicitt');
    expect(typo.status).toBe(400);
    expect(typo.json.error.param).toBe('reason');
    // A reason older versions logged still filters (the log keeps it).
    expect(await list('reason=cheapest-near-best')).toEqual([]);
    expect((await gw.call('GET', '/v1/decisions?since=yesterday')).status).toBe(400);
    // What Date.parse alone reads somewhere else (Nov 28 → 2001, 0 → 2000, -5 → 2001) is refused.
    for (const loose of ['Nov%2028', '0', '-5', '2026-11-28T10', '28.11.2026']) {
      const res = await gw.call<ErrorJson>('GET', `/v1/decisions?since=${loose}`);
      expect([loose, res.status, res.json.error.param]).toEqual([loose, 400, 'since']);
    }
    // Epoch seconds (`date +%s`) would put the window in January 1970: refused, saying what to send.
    const seconds = await gw.call<ErrorJson>('GET', '/v1/stats?until=1764316800');
    expect(seconds.status).toBe(400);
    expect(seconds.json.error.message).toContain('looks like epoch seconds: give epoch milliseconds (1764316800000) or ISO 8601');
    // An empty window is a mistake on /v1/decisions as on /v1/stats.
    const backwards = await gw.call<ErrorJson>('GET', '/v1/decisions?since=2026-11-28&until=2026-11-27');
    expect(backwards.status).toBe(400);
    expect(backwards.json.error).toMatchObject({ param: 'since', message: expect.stringContaining('"since" must be before "until"') });
    expect((await gw.call('GET', '/v1/decisions?since=2026-11-28T10:00:00%2B01:00&until=2026-11-28T10:00:00.5Z')).status).toBe(200);
    // Beyond JavaScript's last date: a 400 naming the field, not a 500 from building the window.
    const far = await gw.call<ErrorJson>('GET', '/v1/stats?until=99999999999999999999');
    expect(far.status).toBe(400);
    expect(far.json.error.param).toBe('until');
    // At JavaScript's first date the default window (the day before `until`) cannot start: a 400, not a 500.
    const first = await gw.call<ErrorJson>('GET', '/v1/stats?until=-271821-04-20T00:00:00.000Z');
    expect(first.status).toBe(400);
    expect(first.json.error).toMatchObject({ param: 'until', message: expect.stringMatching(/earliest instant/) });
    const next = await gw.call<StatsJson>('GET', '/v1/stats?until=-271821-04-20T00:00:00.001Z');
    expect(next.json.window).toEqual({ since: '-271821-04-20T00:00:00.000Z', until: '-271821-04-20T00:00:00.001Z' });
    // Fewer than ten digits are an ISO 8601 year, not milliseconds after 1970.
    expect(await list(`since=${new Date().getUTCFullYear() + 1}`)).toEqual([]);
    expect((await list(`since=2000`)).length).toBeGreaterThan(0);
    const unknown = await gw.call<ErrorJson>('GET', '/v1/decisions?foo=1');
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.param).toBe('foo');
  });

  it('reports per-model and overall requests, share, tokens, cost, savings, failovers, errors and feedback', async () => {
    const stats = (await gw.call<StatsJson>('GET', '/v1/stats')).json;
    expect(stats.baseline_model).toBe('large');
    const small = stats.models.find((m) => m.model === 'small')!;
    const large = stats.models.find((m) => m.model === 'large')!;
    // small: 5 answered + 1 that failed everywhere (counted under its routed model).
    expect(small).toMatchObject({ requests: 6, errors: 1, failovers: 1, prompt_tokens: 500, completion_tokens: 50, breaker: { state: 'closed' } });
    expect(small.error_rate).toBeCloseTo(1 / 6, 5);
    expect(small.share).toBeCloseTo(6 / 9, 5);
    // 500 × $1/M + 50 × $2/M = $0.0006; on large it would have been 500 × $10/M + 50 × $30/M = $0.0065.
    expect(small.cost).toBeCloseTo(0.0006, 9);
    expect(small.baseline_cost).toBeCloseTo(0.0065, 9);
    expect(small.cost_saved).toBeCloseTo(0.0059, 9);
    expect(small.feedback).toEqual({ count: 2, success_rate: 0.5, calibration: null });
    expect(large).toMatchObject({ requests: 3, failovers: 1, errors: 0, cost_saved: 0, feedback: { count: 1, success_rate: 0.5 } });
    expect(stats.overall).toMatchObject({ requests: 9, failovers: 2, errors: 1, share: 1, feedback: { count: 3 } });
    expect(stats.overall.cost_saved).toBeCloseTo(0.0059, 9);
    expect(stats.log).toMatchObject({ dropped: 0, queued: 0 });
    expect(stats.log.written).toBeGreaterThanOrEqual(9);

    const empty = (await gw.call<StatsJson>('GET', '/v1/stats?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z')).json;
    expect(empty.overall).toMatchObject({ requests: 0, share: 0, feedback: { count: 0, success_rate: null, calibration: null } });
  });
});

describe('storage.storePrompts: false', () => {
  it('keeps only the prompt hash; feedback is recorded but says it cannot train', async () => {
    const upstream = await startFakeUpstream(() => ({ type: 'json', body: completionBody('ok') }));
    const gw = await startTestGateway({ yaml: config(upstream.baseUrl, ', storePrompts: false') });
    try {
      const res = await gw.call('POST', '/v1/chat/completions', { body: ask('my secret prompt') });
      const id = res.headers.get('x-switchyard-decision-id') as string;
      const fb = await gw.call('POST', `/v1/decisions/${id}/feedback`, { body: { success: true } });
      expect(fb.json).toMatchObject({ trains: false, note: expect.stringMatching(/storePrompts: false/) });
      const d = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${id}`)).json;
      expect(d.request.prompt).toBeNull();
      expect(d.request.prompt_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(d.feedback).toMatchObject({ success: true });
      expect(gw.rows('SELECT COUNT(*) AS n FROM samples')).toEqual([{ n: 0 }]);
      expect(JSON.stringify(gw.rows('SELECT * FROM decisions'))).not.toContain('my secret prompt');
      // retrain says why the rating does not count, rather than that the store is empty.
      const store = new SqliteStore({ path: gw.dbPath });
      try {
        expect(() => trainableRows({ store, classifierDir: path.join(gw.dir, 'router'), log: () => {} })).toThrow(
          'retrain needs at least 4 prompts with outcomes; the store has 0 (import some with `switchyard import`); 1 rated answer has no stored prompt (storage.storePrompts: false) and cannot train',
        );
      } finally {
        store.close();
      }
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe('storage.storePrompts: false, with upstreams that quote the prompt in their errors', () => {
  it('logs the kind, status and code of each failure but not its message; the client still gets the message', async () => {
    // A content filter echoing what it refused: small answers 500 with the prompt, large 400 with it.
    const upstream = await startFakeUpstream((req) => {
      const body = req.body as { model: string; messages: { content: string }[] };
      const quoted = `rejected by content filter: "${body.messages[0].content}"`;
      return body.model === 'small' ? { type: 'error', status: 500, message: quoted } : { type: 'error', status: 400, message: quoted, code: 'content_filter' };
    });
    const gw = await startTestGateway({ yaml: config(upstream.baseUrl, ', storePrompts: false') });
    try {
      const res = await gw.call<ErrorJson>('POST', '/v1/chat/completions', { body: ask('my SSN is 078-05-1120') });
      expect(res.status).toBe(400);
      expect(res.json.error.message).toContain('078-05-1120');
      const d = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${res.headers.get('x-switchyard-decision-id')}`)).json;
      expect(d.attempts.map((a) => [a.model, a.error_class, a.http_status])).toEqual([['small', 'server', 500], ['large', 'client', 400]]);
      expect(d.error).toMatchObject({ code: 'content_filter' });
      expect(JSON.stringify(d)).not.toContain('078-05-1120');
      expect(JSON.stringify(gw.rows('SELECT * FROM decisions'))).not.toContain('078-05-1120');
      expect(gw.logs.join('\n')).not.toContain('078-05-1120');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe('switchyard keys', () => {
  it('creates (printing the key once), lists without secrets, and revokes', async () => {
    const tmp = makeTempDir();
    const store = new SqliteStore({ path: `${tmp.dir}/db.sqlite` });
    const out: string[] = [];
    const log: string[] = [];
    const ctx = { keys: () => new ApiKeyStore(store.db), out: (t: string) => out.push(t), log: (m: string) => log.push(m) };
    try {
      expect(await keysCommand(['create', '--name', 'ops', '--admin'], ctx)).toBe(0);
      const key = out.join('').trim();
      expect(key).toMatch(/^sy-[A-Za-z0-9_-]{32}$/);
      expect(store.db.prepare('SELECT key_hash FROM api_keys').pluck().get()).not.toBe(key);
      expect(JSON.stringify(store.db.prepare('SELECT * FROM api_keys').all())).not.toContain(key);
      await expect(keysCommand(['create', '--name', 'ops'], ctx)).rejects.toThrow(/exists already/);

      out.length = 0;
      await keysCommand(['list'], ctx);
      expect(out.join('')).toMatch(/ops\s+admin\s+sy-\S{7}…/);
      expect(out.join('')).not.toContain(key);

      await keysCommand(['revoke', '--name', 'ops'], ctx);
      expect(new ApiKeyStore(store.db).verify(key)).toBeNull();
      await expect(keysCommand(['revoke', '--name', 'ops'], ctx)).rejects.toThrow(/no active key named "ops"/);
      await expect(keysCommand(['rotate'], ctx)).rejects.toThrow(UsageError);
      await expect(keysCommand(['create'], ctx)).rejects.toThrow(/missing --name/);
    } finally {
      store.close();
      tmp.cleanup();
    }
  });
});
