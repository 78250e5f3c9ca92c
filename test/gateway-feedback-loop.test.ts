// The loop the router exists for: requests are answered and logged, clients rate the answers, `retrain`
// learns from that feedback, the server picks up the new classifier, and the same kind of prompt is then
// routed differently (here: greetings move from the cold-start model to the cheap one).
import path from 'node:path';
import { SqliteStore } from '../src/store/sqlite-store';
import { retrain } from '../training/retrain';
import { createFakeEmbedder } from './support/fake-embedder';
import { type TestGateway, eventually, startTestGateway } from './support/gateway';
import type { DecisionLogJson } from '../src/http/decision-log-json';
import type { CandidateJson } from '../src/http/decision-json';
import type { StatsJson } from '../src/inspection/stats';

const CONFIG = `
server: { host: 127.0.0.1, port: 0 }
storage: { path: data/loop.db }
routing:
  classifierDir: router
  minSuccess: 0.7
  coldStart: sim-large
  reloadIntervalMs: 50
  average: { feedback: { enabled: true, minRatings: 5, refreshMs: 0 } }
  recalibration: { enabled: true, minRatings: 5, refreshMs: 20 }
models:
  - { id: sim-small, provider: sim, price: { inputPerMTok: 0.15, outputPerMTok: 0.6 }, sim: { reply: "small answer" } }
  - { id: sim-large, provider: sim, price: { inputPerMTok: 5, outputPerMTok: 15 }, sim: { reply: "large answer" } }
`;

interface DecisionJson {
  model: string;
  candidates: CandidateJson[];
}

const NAMES = ['anna', 'ben', 'carla', 'dev', 'ema', 'finn', 'gus', 'hana', 'ivo', 'jun', 'kai', 'lea'];
const greeting = (name: string) => `hello ${name} how are you today friend`;
const maths = (name: string) => `prove theorem ${name} integral derivative equation proof`;

describe('requests → feedback → retrain → a changed decision', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ yaml: CONFIG });
  });
  afterAll(async () => gw.close());

  const chat = async (model: string, content: string) => {
    const res = await gw.call<{ model: string }>('POST', '/v1/chat/completions', { body: { model, messages: [{ role: 'user', content }] } });
    expect(res.status).toBe(200);
    return { id: res.headers.get('x-switchyard-decision-id') as string, model: res.json.model };
  };

  it('learns from client feedback alone', async () => {
    const before = await chat('auto', greeting('zoe'));
    expect(before.model).toBe('sim-large');

    // Try both models on both kinds of prompt and rate the answers: the small model fails at proofs.
    for (const name of NAMES) {
      for (const [prompt, smallOk] of [[greeting(name), true], [maths(name), false]] as const) {
        for (const model of ['sim-small', 'sim-large']) {
          const { id } = await chat(model, prompt);
          const ok = model === 'sim-large' || smallOk;
          const fb = await gw.call('POST', `/v1/decisions/${id}/feedback`, { body: { success: ok } });
          expect(fb.json).toMatchObject({ trains: true });
        }
      }
    }

    const store = new SqliteStore({ path: gw.dbPath });
    try {
      expect(store.listSamples()).toHaveLength(NAMES.length * 4);
      const report = await retrain(
        {
          store,
          embedder: createFakeEmbedder(),
          classifierDir: path.join(gw.dir, 'router'),
          prices: { 'sim-small': { inputPerMTok: 0.15, outputPerMTok: 0.6 }, 'sim-large': { inputPerMTok: 5, outputPerMTok: 15 } },
          log: () => undefined,
        },
        { seed: 1 },
      );
      expect(report.promoted).toBe(true);
    } finally {
      store.close();
    }
    await eventually(async () => ((await gw.call('GET', '/healthz')).json.classifier_version === 'v0001' ? true : undefined), 10_000);

    const after = await chat('auto', greeting('zoe'));
    expect(after.model).toBe('sim-small');
    const d = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${after.id}`)).json;
    expect(d.decision).toMatchObject({ reason: 'cheapest-above-target', policy: 'per-request', lambda: null, classifier_version: 'v0001', embedder_id: 'fake-bow-32' });
    expect(d.timings_ms.embed).toBeGreaterThanOrEqual(0);
    // Proofs still go to the model that can do them.
    expect((await chat('auto', maths('zoe'))).model).toBe('sim-large');

    // Rated answers routed with a prediction show it beside the rating in /v1/stats; the answers rated
    // before any classifier existed had none.
    await gw.call('POST', `/v1/decisions/${after.id}/feedback`, { body: { success: false } });
    const predicted = d.decision.candidates.find((c) => c.model === 'sim-small')!.p_success!;
    const stats = (await gw.call<StatsJson>('GET', '/v1/stats')).json;
    const small = stats.models.find((m) => m.model === 'sim-small')!;
    expect(small.feedback.count).toBe(NAMES.length * 2 + 1);
    expect(small.feedback.calibration).toEqual({ count: 1, predicted_success: Math.round(predicted * 1e6) / 1e6, rated_success: 0 });

    // The average policy, asked for per request, is applied and logged with its price of success.
    const res = await gw.call<{ model: string }>('POST', '/v1/chat/completions', {
      body: { model: 'auto', messages: [{ role: 'user', content: maths('zoe') }], router: { policy: 'average', min_success: 0.6 } },
    });
    expect(res.status).toBe(200);
    const logged = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${res.headers.get('x-switchyard-decision-id')}`)).json;
    expect(logged.decision).toMatchObject({ reason: 'best-value', policy: 'average', target: 0.6, lambda_basis: { source: 'reference' } });
    expect(logged.decision.lambda_basis!.prompts).toBeGreaterThan(0);
    expect(logged.decision.lambda === null || logged.decision.lambda >= 0).toBe(true);
    expect(logged.decision.target_correction).toBeNull(); // one rated answer of v0001 so far, fewer than minRatings

    // routing.average.feedback: clients rate the cheap model's greetings as failures, so the classifier
    // over-predicts its rated answers; the average policy adds the gap to the target it sets λ for.
    const average = { policy: 'average', min_success: 0.6 };
    for (let i = 0; i < 6; i++) {
      const r = await gw.call('POST', '/v1/chat/completions', { body: { model: 'auto', messages: [{ role: 'user', content: greeting(NAMES[i]) }], router: average } });
      await gw.call('POST', `/v1/decisions/${r.headers.get('x-switchyard-decision-id')}/feedback`, { body: { success: false } });
    }
    const corrected = await gw.call<{ model: string }>('POST', '/v1/chat/completions', {
      body: { model: 'auto', messages: [{ role: 'user', content: greeting('zoe') }], router: average },
    });
    const correctedLog = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${corrected.headers.get('x-switchyard-decision-id')}`)).json;
    const rated = (await gw.call<StatsJson>('GET', '/v1/stats')).json.overall.feedback.calibration!;
    expect(rated.rated_success).toBe(0);
    expect(correctedLog.decision).toMatchObject({ policy: 'average', target: 0.6 });
    // The gap is the whole mean prediction of the rated answers (all failed); the target is capped at 1.
    expect(correctedLog.decision.target_correction).toBeCloseTo(Math.min(rated.predicted_success, 0.4), 5);
    // Per request, the bar is the bar: no correction of the target...
    const plain = await gw.call('POST', '/v1/route', { body: { prompt: greeting('zoe') } });
    expect(plain.json).toMatchObject({ policy: 'per-request', target_correction: null });
    // ...but routing.recalibration: the same ratings (v0001's greetings on sim-small, all failed) say the
    // classifier over-predicts sim-small, so its p is shifted down by them before it meets the bar, and the
    // greeting that went to sim-small now goes to sim-large. The average policy sets λ on the classifier's
    // own predictions and is left alone: its p for sim-small is the classifier's.
    // The ratings are re-read on a timer (refreshMs), not by the request.
    const recalibratedRoute = await eventually(async () => {
      const r = await gw.call<DecisionJson>('POST', '/v1/route', { body: { prompt: greeting('zoe') } });
      return r.json.candidates.some((c) => c.logit_shift !== undefined) ? r.json : undefined;
    });
    const own = (await gw.call<DecisionJson>('POST', '/v1/route', { body: { prompt: greeting('zoe'), router: average } })).json;
    const ownSmall = own.candidates.find((c) => c.model === 'sim-small')!;
    expect(ownSmall.p_classifier).toBeUndefined();
    const shifted = recalibratedRoute.candidates.find((c) => c.model === 'sim-small')!;
    expect(shifted.p_classifier).toBeCloseTo(ownSmall.p_success!, 6);
    expect(shifted.logit_shift).toBeLessThan(-1);
    const logit = (p: number) => Math.log(p / (1 - p));
    expect(logit(shifted.p_success!)).toBeCloseTo(logit(shifted.p_classifier!) + shifted.logit_shift!, 4);
    expect(shifted.p_success!).toBeLessThan(0.7);
    expect(ownSmall.p_success!).toBeGreaterThanOrEqual(0.7);
    expect(recalibratedRoute.model).toBe('sim-large');
    expect(gw.logs.join('\n')).toMatch(/recalibration by ratings of v0001: sim-small −\d\.\d\d \(p 0\.80 → 0\.\d\d\)/);
    // sim-large has no rated answers under v0001: its prediction stands.
    expect(recalibratedRoute.candidates.find((c) => c.model === 'sim-large')!.logit_shift).toBeUndefined();
    // The log keeps both, and the fits keep reading the classifier's own prediction.
    const recalibrated = await chat('auto', greeting('zoe'));
    expect(recalibrated.model).toBe('sim-large');
    const entry = (await gw.call<DecisionLogJson>('GET', `/v1/decisions/${recalibrated.id}`)).json;
    expect(entry.decision.candidates.find((c) => c.model === 'sim-small')).toMatchObject({ p_classifier: shifted.p_classifier, logit_shift: shifted.logit_shift });
  });
});
