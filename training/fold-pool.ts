// Inner folds on worker threads: `retrain` and the quality bench spend most of their time fitting ten
// component variants on each of four or five inner folds, and the folds are independent. A pool of
// workers (one per core) runs one fold each; the folds' arrays are transferred, not copied. The worker
// script is the compiled fold-worker.js, so under ts-jest (no compiled file beside this one) callers
// fall back to running folds in process (`foldPoolOrNull`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FoldJob, FoldLogits, FoldRunner } from './train-classifier';

/** What a worker answers for one job. */
export type FoldReply = { id: number; ok: true; logits: FoldLogits } | { id: number; ok: false; message: string };

export interface FoldPool extends FoldRunner {
  /** Stops the workers; jobs still running are rejected. */
  close(): Promise<void>;
}

interface Pending {
  resolve: (logits: FoldLogits) => void;
  reject: (error: Error) => void;
}

/** A pool of `workers` threads running `script` (fold-worker.js), started on first use. */
export function createFoldPool(options: { workers: number; script: string }): FoldPool {
  if (!(Number.isInteger(options.workers) && options.workers > 0)) throw new Error(`fold pool workers must be a positive whole number, got ${options.workers}`);
  const idle: Worker[] = [];
  const all: Worker[] = [];
  const waiting: { job: FoldJob; pending: Pending }[] = [];
  const running = new Map<Worker, { id: number; pending: Pending }>();
  let nextId = 0;
  let closed = false;

  const start = (): Worker => {
    const worker = new Worker(options.script);
    worker.on('message', (reply: FoldReply) => {
      const current = running.get(worker);
      if (!current || current.id !== reply.id) return;
      running.delete(worker);
      if (reply.ok) current.pending.resolve(reply.logits);
      else current.pending.reject(new Error(`fold worker: ${reply.message}`));
      idle.push(worker);
      pump();
    });
    // A worker that dies takes its job with it; the pool goes on with the others (or a new one).
    const fail = (error: Error) => {
      const current = running.get(worker);
      running.delete(worker);
      all.splice(all.indexOf(worker), 1);
      current?.pending.reject(error);
      pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (all.includes(worker)) fail(new Error(`fold worker exited with code ${code}`));
    });
    all.push(worker);
    return worker;
  };

  function pump(): void {
    while (!closed && waiting.length > 0) {
      const worker = idle.pop() ?? (all.length < options.workers ? start() : undefined);
      if (!worker) return;
      const { job, pending } = waiting.shift()!;
      const id = nextId++;
      running.set(worker, { id, pending });
      const transfer = [job.train.X.buffer, job.train.Y.buffer, job.train.mask.buffer, job.test.X.buffer].filter(
        (b, i, list): b is ArrayBuffer => b instanceof ArrayBuffer && list.indexOf(b) === i,
      );
      worker.postMessage({ id, job }, transfer);
    }
  }

  return {
    slots: options.workers,
    run(job) {
      if (closed) return Promise.reject(new Error('fold pool is closed'));
      return new Promise<FoldLogits>((resolve, reject) => {
        waiting.push({ job, pending: { resolve, reject } });
        pump();
      });
    },
    async close() {
      closed = true;
      for (const { pending } of waiting.splice(0)) pending.reject(new Error('fold pool is closed'));
      const workers = all.splice(0);
      for (const [, { pending }] of running) pending.reject(new Error('fold pool is closed'));
      running.clear();
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/** The compiled worker script beside this module, when there is one (not under ts-jest). */
export const DEFAULT_FOLD_WORKER = path.join(__dirname, 'fold-worker.js');

/**
 * A pool of `workers` threads (default: the cores, at most 4: there are at most 5 inner folds), or null
 * when one thread is asked for or the compiled worker script is missing: then folds run in process.
 */
export function foldPoolOrNull(workers: number = Math.min(4, os.availableParallelism()), script = DEFAULT_FOLD_WORKER): FoldPool | null {
  if (workers < 2 || !fs.existsSync(script)) return null;
  return createFoldPool({ workers, script });
}
