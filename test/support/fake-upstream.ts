// A real OpenAI-style HTTP server on 127.0.0.1:0 whose answer to each request is scripted by the
// test (JSON, SSE with delays, errors, hangs, cut connections), and which records what it received
// and whether the client went away early.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Behaviour =
  | { type: 'json'; body: unknown; status?: number; headersDelayMs?: number; bodyDelayMs?: number }
  | {
      type: 'sse';
      /** Objects are sent as `data: <json>\n\n`; strings are written verbatim (comments, split events). */
      events: readonly unknown[];
      /** Pause before each event after the first. */
      delayMs?: number;
      /** Send `data: [DONE]` at the end. Default true. */
      done?: boolean;
      /** Destroy the socket after this many events, mid-response. */
      cutAfter?: number;
      headersDelayMs?: number;
    }
  | { type: 'error'; status: number; message: string; errorType?: string; code?: string | null; param?: string | null; headersDelayMs?: number; headers?: Record<string, string> }
  | { type: 'raw'; body: string; status?: number; contentType?: string; headersDelayMs?: number }
  /** Never answers; only the client giving up ends the request. */
  | { type: 'hang' };

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body, or the raw text if it was not JSON. */
  body: unknown;
  /** True once the client closed the connection before the response was complete. */
  aborted: boolean;
  /** Resolves when the exchange is over, with whether the client aborted. */
  closed: Promise<boolean>;
}

export type Handler = (req: ReceivedRequest) => Behaviour;

export interface FakeUpstream {
  /** e.g. http://127.0.0.1:54321/v1 */
  baseUrl: string;
  received: ReceivedRequest[];
  /** Behaviours for the next requests, in order; when none is queued the handler answers. */
  enqueue(...behaviours: Behaviour[]): void;
  setHandler(handler: Handler): void;
  close(): Promise<void>;
}

export async function startFakeUpstream(handler?: Handler): Promise<FakeUpstream> {
  const queue: Behaviour[] = [];
  let fallback = handler;
  const received: ReceivedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      if (ms <= 0) return resolve();
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep raw text
      }
      let cutByServer = false;
      let resolveClosed: (aborted: boolean) => void = () => undefined;
      const record: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        aborted: false,
        closed: new Promise<boolean>((r) => (resolveClosed = r)),
      };
      received.push(record);
      res.on('close', () => {
        record.aborted = !res.writableEnded && !cutByServer;
        resolveClosed(record.aborted);
      });
      const behaviour = queue.shift() ?? fallback?.(record) ?? {
        type: 'error',
        status: 500,
        message: 'fake upstream: no behaviour scripted',
      };
      void respond(behaviour, res, () => (cutByServer = true)).catch(() => res.destroy());
    });
  });

  const gone = (res: http.ServerResponse) => res.destroyed || res.writableEnded;

  async function respond(b: Behaviour, res: http.ServerResponse, markCut: () => void): Promise<void> {
    if (b.type === 'hang') return;
    await wait(b.headersDelayMs ?? 0);
    if (gone(res)) return;
    switch (b.type) {
      case 'json': {
        res.writeHead(b.status ?? 200, { 'content-type': 'application/json' });
        res.flushHeaders();
        await wait(b.bodyDelayMs ?? 0);
        if (!gone(res)) res.end(JSON.stringify(b.body));
        return;
      }
      case 'error': {
        const error = { message: b.message, type: b.errorType ?? 'invalid_request_error', param: b.param ?? null, code: b.code ?? null };
        res.writeHead(b.status, { 'content-type': 'application/json', ...b.headers });
        res.end(JSON.stringify({ error }));
        return;
      }
      case 'raw':
        res.writeHead(b.status ?? 200, { 'content-type': b.contentType ?? 'application/json' });
        res.end(b.body);
        return;
      case 'sse': {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.flushHeaders();
        for (const [i, event] of b.events.entries()) {
          if (b.cutAfter !== undefined && i >= b.cutAfter) {
            markCut();
            res.socket?.destroy();
            return;
          }
          if (i > 0) await wait(b.delayMs ?? 0);
          if (gone(res)) return;
          // Waiting for the flush makes a later cut land after these bytes, not instead of them.
          await new Promise<void>((resolve) => res.write(typeof event === 'string' ? event : `data: ${JSON.stringify(event)}\n\n`, () => resolve()));
        }
        if (b.done ?? true) res.write('data: [DONE]\n\n');
        res.end();
        return;
      }
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    received,
    enqueue: (...behaviours) => queue.push(...behaviours),
    setHandler: (h) => (fallback = h),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- Builders for OpenAI-shaped bodies ----------------------------------------------------------

export function completionBody(content: string, model = 'upstream-model', usage = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 }) {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
    usage,
    system_fingerprint: 'fp_fake',
  };
}

export function chunkBody(delta: Record<string, unknown>, model = 'upstream-model', finishReason: string | null = null) {
  return { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finishReason }] };
}

/** The chunks OpenAI sends for `content`: role, a few content pieces, finish, and usage if asked for. */
export function streamEvents(content: string, options: { model?: string; includeUsage?: boolean; pieces?: number } = {}): unknown[] {
  const model = options.model ?? 'upstream-model';
  const words = content.match(/\S+\s*|\s+/g) ?? [];
  const size = Math.max(1, Math.ceil(words.length / (options.pieces ?? 3)));
  const events: unknown[] = [chunkBody({ role: 'assistant', content: '' }, model)];
  for (let i = 0; i < words.length; i += size) events.push(chunkBody({ content: words.slice(i, i + size).join('') }, model));
  events.push(chunkBody({}, model, 'stop'));
  if (options.includeUsage) {
    const completion_tokens = Math.ceil(content.length / 4);
    events.push({ ...chunkBody({}, model), choices: [], usage: { prompt_tokens: 5, completion_tokens, total_tokens: 5 + completion_tokens } });
  }
  return events;
}
