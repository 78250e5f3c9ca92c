// Building providers from config, and what the sim model promises beyond the shared contract.
import { modelConfigSchema, type ModelConfig } from '../src/config/schema';
import { ConfigError } from '../src/errors';
import { buildProviders } from '../src/providers/registry';
import { createSimProvider } from '../src/providers/sim-provider';
import { UpstreamError, type ChatRequest } from '../src/providers/types';
import { completionBody, startFakeUpstream } from './support/fake-upstream';

const model = (fields: Record<string, unknown>): ModelConfig =>
  modelConfigSchema.parse({ price: { inputPerMTok: 1, outputPerMTok: 2 }, ...fields });
const request: ChatRequest = { model: 'auto', messages: [{ role: 'user', content: 'What is a switchyard?' }] };
const live = () => ({ signal: new AbortController().signal });

describe('buildProviders', () => {
  it('builds one provider per model; an openai model without upstreamModel asks for its id', async () => {
    const upstream = await startFakeUpstream(() => ({ type: 'json', body: completionBody('hi') }));
    try {
      const providers = buildProviders(
        [model({ id: 'local-sim', provider: 'sim', sim: { reply: 'canned' } }), model({ id: 'gpt-4o-mini', baseUrl: upstream.baseUrl, apiKeyEnv: 'OPENAI_KEY' })],
        { fetch, env: { OPENAI_KEY: 'sk-from-env' } },
      );
      expect([...providers.keys()]).toEqual(['local-sim', 'gpt-4o-mini']);
      expect((await providers.get('local-sim')?.complete(request, live()))?.choices[0].message.content).toBe('canned');
      await providers.get('gpt-4o-mini')?.complete(request, live());
      expect(upstream.received[0].body).toMatchObject({ model: 'gpt-4o-mini' });
      expect(upstream.received[0].headers.authorization).toBe('Bearer sk-from-env');
    } finally {
      await upstream.close();
    }
  });

  it('names the missing environment variable, and only its name', () => {
    const build = () =>
      buildProviders([model({ id: 'gpt', baseUrl: 'http://127.0.0.1:1/v1', apiKeyEnv: 'OPENAI_API_KEY' })], { fetch, env: { OPENAI_API_KEY: '' } });
    expect(build).toThrow(ConfigError);
    expect(build).toThrow('model "gpt": environment variable OPENAI_API_KEY (apiKeyEnv) is not set');
  });

  it('lists the valid providers when given an unknown one', () => {
    const bogus = { ...model({ id: 'x', provider: 'sim' }), provider: 'anthropic' } as unknown as ModelConfig;
    expect(() => buildProviders([bogus], { fetch, env: {} })).toThrow('model "x": unknown provider "anthropic" (valid: openai, sim)');
  });
});

describe('sim provider', () => {
  it('fails the same requests for the same seed, at about the configured rate', async () => {
    const outcomes = async (seed: number) => {
      const sim = createSimProvider({ modelId: 's', options: { errorRate: 0.3, seed } });
      const results: boolean[] = [];
      for (let i = 0; i < 200; i++) results.push(await sim.complete(request, live()).then(() => true, () => false));
      return results;
    };
    const first = await outcomes(42);
    expect(await outcomes(42)).toEqual(first);
    expect(await outcomes(7)).not.toEqual(first);
    const failures = first.filter((ok) => !ok).length;
    expect(failures).toBeGreaterThan(35);
    expect(failures).toBeLessThan(85);
  });

  it('waits its latency through the sleep it was given, and reports configured completion tokens', async () => {
    const slept: number[] = [];
    const sim = createSimProvider({
      modelId: 's',
      options: { latencyMs: 750, completionTokens: 99, reply: 'A rail yard where trains are sorted.' },
      now: () => Date.UTC(2024, 0, 1),
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    const completion = await sim.complete(request, live());
    expect(slept).toEqual([750]);
    expect(completion.created).toBe(Date.UTC(2024, 0, 1) / 1000);
    expect(completion.usage).toEqual({ prompt_tokens: 6, completion_tokens: 99, total_tokens: 105 });
  });

  it('times out as a slow upstream would when its latency passes the configured timeouts', async () => {
    const slept: number[] = [];
    const sleep = async (ms: number) => {
      slept.push(ms);
    };
    const slow = createSimProvider({ modelId: 's', options: { latencyMs: 1_500 }, sleep, timeouts: { connectMs: 5_000, totalMs: 200 } });
    const err: unknown = await slow.complete(request, live()).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'timeout', retryable: true, httpStatus: 504, message: 'model "s" (simulated) did not finish within 200 ms' });
    expect(slept).toEqual([200]);
    // Within its timeouts it answers after its latency.
    const fast = createSimProvider({ modelId: 's', options: { latencyMs: 150 }, sleep, timeouts: { connectMs: 5_000, totalMs: 200 } });
    await fast.complete(request, live());
    expect(slept).toEqual([200, 150]);
  });

  it('echoes the text parts of a multi-part user message', async () => {
    const sim = createSimProvider({ modelId: 's' });
    const parts: ChatRequest = {
      model: 'auto',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'look ' }, { type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'here' }] }],
    };
    expect((await sim.complete(parts, live())).choices[0].message.content).toBe('look here');
  });

  it('simulated failures look like an upstream HTTP 500', async () => {
    const sim = createSimProvider({ modelId: 's', options: { errorRate: 1 } });
    const err: unknown = await sim.complete(request, live()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ kind: 'server', upstreamStatus: 500, retryable: true });
  });
});
