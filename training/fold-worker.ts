// The worker thread of fold-pool.ts: an entry point (like main.ts, it is run, not imported). Each message
// is one inner fold to fit; the reply carries its logits, transferred back.
import { parentPort } from 'node:worker_threads';
import type { FoldReply } from './fold-pool';
import { type FoldJob, runFold } from './train-classifier';

const port = parentPort;
if (port) {
  port.on('message', ({ id, job }: { id: number; job: FoldJob }) => {
    runFold(job).then(
      (logits) => {
        const reply: FoldReply = { id, ok: true, logits };
        port.postMessage(reply, [...new Set(Object.values(logits).map((z) => z.buffer as ArrayBuffer))]);
      },
      (error: unknown) => {
        const reply: FoldReply = { id, ok: false, message: error instanceof Error ? error.message : String(error) };
        port.postMessage(reply);
      },
    );
  });
}
