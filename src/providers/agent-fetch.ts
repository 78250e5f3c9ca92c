// A `fetch` for upstream calls built on node:http(s) with keep-alive agents. Providers take any fetch;
// this one exists because undici's spec-complete fetch costs ~0.5 ms of CPU per call on the 2-core
// target, about 4× node:http (see docs/gateway.md, "Performance"), which alone would cap the gateway
// near its throughput target. It covers what providers use: a string or URL, method, headers, a string
// or byte body, and an AbortSignal. It does not follow redirects (OpenAI-style APIs do not send them
// for POSTs) and, like undici, rejects network failures as TypeError('fetch failed', { cause }).
// One addition: `connectTimeoutMs` bounds the connection alone (DNS, TCP, TLS), since an upstream that
// answers a non-streaming call sends its headers only once the whole answer is written.
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

export interface AgentFetchOptions {
  /** Most sockets kept open per upstream host. Default: no limit (one per concurrent call). */
  maxSockets?: number;
  /**
   * Idle sockets are closed after this long, or sooner when the upstream's `Keep-Alive: timeout` hint
   * says so, to avoid reusing a socket the upstream is about to close. Default 30 s.
   */
  idleTimeoutMs?: number;
}

/** What providers may pass: fetch's init plus a bound on connecting, which other fetches ignore. */
export interface UpstreamRequestInit extends RequestInit {
  /** Fail with code CONNECT_TIMEOUT_CODE when no connection (TLS included) is up within this time. */
  connectTimeoutMs?: number;
}

/** undici's code for the same failure, so a provider reads both fetches' connect timeouts alike. */
export const CONNECT_TIMEOUT_CODE = 'UND_ERR_CONNECT_TIMEOUT';

/** Statuses whose responses have no body; the Response constructor refuses one. */
const NULL_BODY = new Set([101, 204, 205, 304]);

export function createAgentFetch(options: AgentFetchOptions = {}): typeof fetch & { close(): void } {
  const agentOptions: http.AgentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? Infinity, timeout: options.idleTimeoutMs ?? 30_000 };
  const agents = { 'http:': new http.Agent(agentOptions), 'https:': new https.Agent(agentOptions) };

  const agentFetch = (input: string | URL | Request, init: UpstreamRequestInit = {}): Promise<Response> => {
    if (typeof input !== 'string' && !(input instanceof URL)) {
      return Promise.reject(new TypeError('agent fetch takes a URL string or URL, not a Request'));
    }
    const url = new URL(input);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new TypeError(`unsupported protocol ${url.protocol}`));
    const body = bodyBytes(init.body);
    if (body instanceof TypeError) return Promise.reject(body);
    const headers = headerRecord(init.headers);
    if (body) headers['content-length'] = String(body.byteLength);
    const signal = init.signal ?? undefined;

    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(url, { method: init.method ?? 'GET', headers, agent: agents[url.protocol as 'http:' | 'https:'] });
      let responded = false;
      const clearConnectTimer = connectTimer(req, url.protocol === 'https:', init.connectTimeoutMs);
      const onAbort = () => {
        // Before the response: the promise rejects; after it: the body stream errors (the reader sees it).
        req.destroy(abortError(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => signal?.removeEventListener('abort', onAbort);
      req.on('error', (err) => {
        clearConnectTimer();
        cleanup();
        if (!responded) reject(signal?.aborted ? abortError(signal) : new TypeError('fetch failed', { cause: err }));
      });
      req.on('response', (res) => {
        clearConnectTimer();
        responded = true;
        res.on('close', cleanup);
        const status = res.statusCode ?? 502;
        const responseHeaders = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) responseHeaders.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        let stream: ReadableStream<Uint8Array> | null = null;
        if (NULL_BODY.has(status)) res.resume();
        // Node's web stream type and the DOM lib's are the same object at run time.
        else stream = Readable.toWeb(res) as NodeReadableStream<Uint8Array> as unknown as ReadableStream<Uint8Array>;
        resolve(new Response(stream, { status, statusText: res.statusMessage, headers: responseHeaders }));
      });
      req.end(body ?? undefined);
    });
  };

  return Object.assign(agentFetch, {
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  });
}

/**
 * Destroys the request when its socket is not connected (TLS handshake included) within `ms`; a kept-alive
 * socket is connected already. The timer also covers DNS and the wait for a free socket. Returns the clear.
 */
function connectTimer(req: http.ClientRequest, secure: boolean, ms: number | undefined): () => void {
  if (ms === undefined) return () => undefined;
  const timer = setTimeout(() => {
    req.destroy(Object.assign(new Error(`no connection within ${ms} ms`), { code: CONNECT_TIMEOUT_CODE }));
  }, ms);
  const clear = (): void => clearTimeout(timer);
  req.once('socket', (socket) => {
    if (!socket.connecting) clear();
    else socket.once(secure ? 'secureConnect' : 'connect', clear);
  });
  return clear;
}

function bodyBytes(body: RequestInit['body']): Uint8Array | null | TypeError {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return new TypeError('agent fetch sends string or byte bodies only');
}

function headerRecord(headers: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  // Providers pass a plain record: copy it without building a Headers object on every call.
  if (!(headers instanceof Headers) && !Array.isArray(headers)) {
    for (const [key, value] of Object.entries(headers)) out[key.toLowerCase()] = typeof value === 'string' ? value : value.join(', ');
    return out;
  }
  new Headers(headers).forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
}
