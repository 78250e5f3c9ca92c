// Inner folds on worker threads: `retrain` and the quality bench spend most of their time fitting ten
// component variants on each of four or five inner folds, and the folds are independent; then the chosen
// learner's few components, for the served model and its held-out twin. A pool of workers (one per core)
// runs one fold or one component at a time each; the jobs' arrays are transferred, not copied. The worker
// script is the compiled fold-worker.js, so under ts-jest (no compiled file beside this one) callers
// fall back to running folds in process (`foldPoolOrNull`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Component } from './classifier-spec';
import type { FitJob, FoldJob, FoldLogits, FoldRunner } from './component-recipes';

/** What a worker is asked: one inner fold, or one component fitted. */
export type PoolRequest = { id: number; kind: 'fold'; job: FoldJob } | { id: number; kind: 'fit'; job: FitJob };

/** What a worker answers: the fold's logits or the fitted component. */
export type PoolReply = { id: number; ok: true; result: FoldLogits | Component } | { id: number; ok: false; message: string };

export interface FoldPool extends FoldRunner {
  /** Stops the workers; jobs still running are rejected. */
  close(): Promise<void>;
}

interface Pending {
  resolve: (result: FoldLogits | Component) => void;
  reject: (error: Error) => void;
}

/** The arrays a job hands over: the rows it fits on (and, for a fold, the rows it predicts). */
function transferOf(request: PoolRequest): ArrayBuffer[] {
  const { train } = request.job;
  const arrays = [train.X, train.Y, train.mask, ...(request.kind === 'fold' ? [request.job.test.X] : [])];
  return [...new Set(arrays.map((a) => a.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}

/** A pool of `workers` threads running `script` (fold-worker.js), started on first use. */
export function createFoldPool(options: { workers: number; script: string }): FoldPool {
  if (!(Number.isInteger(options.workers) && options.workers > 0)) throw new Error(`fold pool workers must be a positive whole number, got ${options.workers}`);
  const idle: Worker[] = [];
  const all: Worker[] = [];
  const waiting: { request: Omit<PoolRequest, 'id'>; pending: Pending }[] = [];
  const running = new Map<Worker, { id: number; pending: Pending }>();
  let nextId = 0;
  let closed = false;

  const start = (): Worker => {
    const worker = new Worker(options.script);
    worker.on('message', (reply: PoolReply) => {
      const current = running.get(worker);
      if (!current || current.id !== reply.id) return;
      running.delete(worker);
      if (reply.ok) current.pending.resolve(reply.result);
      else current.pending.reject(new Error(`fold worker: ${reply.message}`));
      // An idle worker does not keep the process alive, so a caller that never closes the pool still exits.
      worker.unref();
      idle.push(worker);
      pump();
    });
    // A worker that dies takes its job with it; the pool goes on with the others (or a new one).
    const fail = (error: Error) => {
      if (!all.includes(worker)) return; // 'exit' after 'error': already handled
      const current = running.get(worker);
      running.delete(worker);
      all.splice(all.indexOf(worker), 1);
      if (idle.includes(worker)) idle.splice(idle.indexOf(worker), 1);
      current?.pending.reject(error);
      pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`fold worker exited with code ${code}`)));
    all.push(worker);
    return worker;
  };

  function pump(): void {
    while (!closed && waiting.length > 0) {
      const worker = idle.pop() ?? (all.length < options.workers ? start() : undefined);
      if (!worker) return;
      const { request, pending } = waiting.shift()!;
      const message = { ...request, id: nextId++ } as PoolRequest;
      running.set(worker, { id: message.id, pending });
      worker.ref();
      worker.postMessage(message, transferOf(message));
    }
  }

  function submit(request: Omit<PoolRequest, 'id'>): Promise<FoldLogits | Component> {
    if (closed) return Promise.reject(new Error('fold pool is closed'));
    return new Promise((resolve, reject) => {
      waiting.push({ request, pending: { resolve, reject } });
      pump();
    });
  }

  return {
    slots: options.workers,
    // The worker answers a request of one kind with that kind's result.
    run: (job) => submit({ kind: 'fold', job }) as Promise<FoldLogits>,
    fit: (job) => submit({ kind: 'fit', job }) as Promise<Component>,
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
