// Writes a gateway stream to the client as OpenAI-style server-sent events. Headers go out with the first
// chunk (failover is over by then); a failure after that can only be told as an error event.
import { once } from 'node:events';
import type { Response } from 'express';
import type { GatewayStream } from '../gateway/chat-gateway';
import { toErrorResponse } from './error-handler';

export const MODEL_HEADER = 'x-switchyard-model';
export const DECISION_ID_HEADER = 'x-switchyard-decision-id';

export async function writeSse(res: Response, stream: GatewayStream, signal: AbortSignal): Promise<void> {
  res.status(200).set({
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    // Reverse proxies (nginx) otherwise buffer the stream and the client sees it all at the end.
    'x-accel-buffering': 'no',
    [MODEL_HEADER]: stream.model,
  });
  try {
    for await (const chunk of stream.chunks) {
      if (signal.aborted) break;
      if (!res.write(`data: ${JSON.stringify(chunk)}\n\n`)) await drained(res, signal);
    }
    if (!signal.aborted) res.end('data: [DONE]\n\n');
  } catch (err) {
    if (!res.destroyed && !signal.aborted) res.end(`data: ${JSON.stringify(toErrorResponse(err).body)}\n\n`);
  }
}

/** Waits for the socket to take more, or for the client to go away. */
async function drained(res: Response, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  const ac = new AbortController();
  const stop = () => ac.abort();
  signal.addEventListener('abort', stop, { once: true });
  try {
    await once(res, 'drain', { signal: ac.signal });
  } catch {
    // aborted: the caller sees signal.aborted and stops
  } finally {
    signal.removeEventListener('abort', stop);
  }
}
