// The worker thread of fold-pool.ts: an entry point (like main.ts, it is run, not imported). Each message
// is one inner fold to fit and predict, or one component to fit; the reply carries the fold's logits
// (transferred back) or the component (copied).
import { parentPort } from 'node:worker_threads';
import type { PoolReply, PoolRequest } from './fold-pool';
import { fitComponent, runFold } from './component-recipes';

const port = parentPort;
if (port) {
  port.on('message', (request: PoolRequest) => {
    const work = request.kind === 'fold' ? runFold(request.job) : Promise.resolve().then(() => fitComponent(request.job));
    work.then(
      (result) => {
        const reply: PoolReply = { id: request.id, ok: true, result };
        const transfer = request.kind === 'fold' ? [...new Set(Object.values(result as Record<string, Float32Array>).map((z) => z.buffer as ArrayBuffer))] : [];
        port.postMessage(reply, transfer);
      },
      (error: unknown) => {
        const reply: PoolReply = { id: request.id, ok: false, message: error instanceof Error ? error.message : String(error) };
        port.postMessage(reply);
      },
    );
  });
}
