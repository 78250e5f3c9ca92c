// Every ChatProvider passes the same cases: the sim model, and the OpenAI-compatible adapter talking
// to a real local HTTP server that behaves like OpenAI (echoing the last user message).
import { createOpenAICompatibleProvider } from '../src/providers/openai-compatible-provider';
import { createSimProvider } from '../src/providers/sim-provider';
import { createAgentFetch } from '../src/providers/agent-fetch';
import { UpstreamError, chatCompletionChunkSchema, chatCompletionSchema, type ChatProvider, type ChatRequest } from '../src/providers/types';
import { completionBody, startFakeUpstream, streamEvents, type Behaviour, type Handler } from './support/fake-upstream';

interface Subject {
  provider: ChatProvider;
  /** The model name the answer should carry. */
  answeringModel: string;
  close(): Promise<void>;
}
type Scenario = 'echo' | 'slow' | 'failing';

function lastUserText(body: ChatRequest): string {
  const user = [...body.messages].reverse().find((m) => m.role === 'user');
  return typeof user?.content === 'string' ? user.content : '';
}

/** What an OpenAI-like server does with the request, for the scenario. */
function openAILike(scenario: Scenario): Handler {
  return (req): Behaviour => {
    if (scenario === 'slow') return { type: 'hang' };
    if (scenario === 'failing') return { type: 'error', status: 500, message: 'The server had an error', errorType: 'server_error' };
    const body = req.body as ChatRequest;
    const text = lastUserText(body);
    return body.stream
      ? { type: 'sse', events: streamEvents(text, { model: body.model, includeUsage: body.stream_options?.include_usage === true }) }
      : { type: 'json', body: completionBody(text, body.model) };
  };
}

const agentFetch = createAgentFetch();
afterAll(() => agentFetch.close());

/** The OpenAI-compatible adapter over one fetch implementation (the global one, or the server's agent fetch). */
function openAICompatible(name: string, fetchImpl: typeof fetch): [string, (scenario: Scenario) => Promise<Subject>] {
  return [
    name,
    async (scenario) => {
      const upstream = await startFakeUpstream(openAILike(scenario));
      return {
        provider: createOpenAICompatibleProvider({
          modelId: 'gpt-small',
          baseUrl: upstream.baseUrl,
          apiKey: 'sk-contract-test',
          upstreamModel: 'gpt-4o-mini-2024',
          timeouts: { connectMs: 5_000, totalMs: 10_000 },
          fetch: fetchImpl,
        }),
        answeringModel: 'gpt-4o-mini-2024',
        close: () => upstream.close(),
      };
    },
  ];
}

const implementations: Array<[string, (scenario: Scenario) => Promise<Subject>]> = [
  [
    'sim',
    async (scenario) => ({
      provider: createSimProvider({
        modelId: 'sim-small',
        options: { latencyMs: scenario === 'slow' ? 10_000 : 0, errorRate: scenario === 'failing' ? 1 : 0 },
      }),
      answeringModel: 'sim-small',
      close: async () => undefined,
    }),
  ],
  openAICompatible('openai-compatible', fetch),
  openAICompatible('openai-compatible over agent fetch', agentFetch),
];

const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'whatever-the-client-said',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Route this prompt to the cheapest good model, please.' },
  ],
  ...extra,
});
const live = () => ({ signal: new AbortController().signal });

async function collect(iterable: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function upstreamErrorFrom(promise: Promise<unknown>): Promise<UpstreamError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof UpstreamError)) throw new Error(`expected an UpstreamError, got ${String(err)}`);
  return err;
}

describe.each(implementations)('ChatProvider contract: %s', (_name, make) => {
  let subject: Subject | undefined;
  const use = async (scenario: Scenario) => (subject = await make(scenario));
  afterEach(async () => {
    await subject?.close();
    subject = undefined;
  });

  it('answers with an assistant message, usage and the upstream model name', async () => {
    const { provider, answeringModel } = await use('echo');
    const completion = await provider.complete(request(), live());
    expect(chatCompletionSchema.safeParse(completion).success).toBe(true);
    expect(completion.model).toBe(answeringModel);
    expect(completion.choices[0].message).toMatchObject({ role: 'assistant', content: 'Route this prompt to the cheapest good model, please.' });
    expect(completion.choices[0].finish_reason).toBe('stop');
    const usage = completion.usage;
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
  });

  it('streams the same text over several chunks, ending with usage when include_usage is set', async () => {
    const { provider, answeringModel } = await use('echo');
    const chunks = await collect(provider.stream(request({ stream: true, stream_options: { include_usage: true } }), live()));
    const parsed = chunks.map((c) => chatCompletionChunkSchema.parse(c));
    expect(parsed.length).toBeGreaterThanOrEqual(4);
    expect(parsed.every((c) => c.model === answeringModel)).toBe(true);
    const text = parsed.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
    expect(text).toBe('Route this prompt to the cheapest good model, please.');
    expect(parsed.some((c) => c.choices[0]?.finish_reason === 'stop')).toBe(true);
    const last = parsed[parsed.length - 1];
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('sends no usage chunk unless asked', async () => {
    const { provider } = await use('echo');
    const chunks = (await collect(provider.stream(request({ stream: true }), live()))).map((c) => chatCompletionChunkSchema.parse(c));
    expect(chunks.some((c) => c.usage)).toBe(false);
  });

  it('reports a failing model as a retryable server error with status 500', async () => {
    const { provider } = await use('failing');
    for (const call of [provider.complete(request(), live()), collect(provider.stream(request({ stream: true }), live()))]) {
      const err = await upstreamErrorFrom(call);
      expect(err).toMatchObject({ kind: 'server', retryable: true, upstreamStatus: 500, httpStatus: 502, modelId: provider.modelId });
    }
  });

  it('refuses at once when the client already went away', async () => {
    const { provider } = await use('echo');
    const signal = AbortSignal.abort();
    for (const call of [provider.complete(request(), { signal }), collect(provider.stream(request({ stream: true }), { signal }))]) {
      expect(await upstreamErrorFrom(call)).toMatchObject({ kind: 'aborted', retryable: false });
    }
  });

  it('stops promptly when the client disconnects mid-call', async () => {
    const { provider } = await use('slow');
    for (const streaming of [false, true]) {
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(), 30);
      const call = streaming
        ? collect(provider.stream(request({ stream: true }), { signal: controller.signal }))
        : provider.complete(request(), { signal: controller.signal });
      expect(await upstreamErrorFrom(call)).toMatchObject({ kind: 'aborted', retryable: false });
      expect(Date.now() - started).toBeLessThan(2_000);
    }
  });
});
