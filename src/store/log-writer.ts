// Keeps decision-log writes off the response path: requests only push a row onto an in-memory queue, and
// rows are written in batches, one transaction each, after the response has gone. The queue is bounded:
// at the bound the row's request waits for the queue to be written (backpressure) rather than the row
// being dropped; it waits between turns of the event loop, so a lock another process holds stalls that
// request, not the server.
// Background flushes are impatient: when another process holds the store's write lock (an import, a
// retrain writing embeddings) they give up at once and retry a flush interval later, instead of
// blocking the event loop, and every request with it, for as long as the lock is held.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export interface BatchWriterOptions<T> {
  /**
   * Writes rows in one transaction; throws if nothing was written. `patient`: someone is waiting for
   * the rows (a full queue, a reader, shutdown), so wait for a busy store as long as it takes; false
   * for background flushes, which should fail fast and be retried.
   */
  write: (rows: readonly T[], patient: boolean) => void;
  batchRows: number;
  flushIntervalMs: number;
  maxRows: number;
  /**
   * The same bound in bytes, for rows of very different sizes (a decision row holds its prompt, up to the
   * body limit): the queue is full at `maxRows` rows or `maxBytes` of `sizeOf`, whichever comes first.
   */
  maxBytes?: number;
  /** A row's approximate size in memory; required with `maxBytes`. */
  sizeOf?: (row: T) => number;
  /**
   * How long a request that finds the queue full waits for it to be written, retrying between turns of
   * the event loop, before it goes on with its row still queued (default 5,000 ms).
   */
  fullWaitMs?: number;
  /**
   * A failed write; its rows stay queued for the next flush (see `maxRows` for when some must go).
   * `streak`: failures in a row, this one included (1: writes were going through until now).
   */
  onError: (err: unknown, rows: number, streak: number) => void;
  /** Writes go through again after `failures` failed ones in a row. */
  onRecovered?: (failures: number) => void;
  /** Monotonic milliseconds, for flush timings. */
  clock?: () => number;
}

export interface BatchWriterStats {
  queued: number;
  /** What `sizeOf` makes of the queued rows (0 without it). */
  queuedBytes: number;
  written: number;
  /** Rows given up after repeated write failures filled the queue past twice its bound (rows or bytes). */
  dropped: number;
  batches: number;
  /** Rows that found the queue full (their requests waited for the write). */
  forcedFlushes: number;
  failures: number;
  maxBatchRows: number;
  flushMsTotal: number;
  flushMsMax: number;
}

/** As long as a patient write waits for another process's lock (the store's busy timeout). */
const DEFAULT_FULL_WAIT_MS = 5_000;

export class BatchWriter<T> {
  private queue: T[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private closed = false;
  private streak = 0;
  private readonly clock: () => number;
  private readonly counters: Omit<BatchWriterStats, 'queued' | 'queuedBytes'> = {
    written: 0, dropped: 0, batches: 0, forcedFlushes: 0, failures: 0, maxBatchRows: 0, flushMsTotal: 0, flushMsMax: 0,
  };

  constructor(private readonly options: BatchWriterOptions<T>) {
    this.clock = options.clock ?? (() => performance.now());
  }

  /**
   * Queues a row. Below the bound returns nothing: the row is written later. At the bound returns a
   * promise that settles once the queue is written or `fullWaitMs` has passed (the row then stays queued);
   * the caller awaits it, so the request that filled the queue is the one held up.
   */
  enqueue(row: T): Promise<void> | undefined {
    this.queue.push(row);
    this.queuedBytes += this.sizeOf(row);
    if (this.closed) {
      // Rows that arrive during shutdown (streams cut at the end of the grace period) are written at once.
      this.flush();
      return undefined;
    }
    if (this.full()) {
      this.counters.forcedFlushes += 1;
      // A patient flush here would wait out another process's lock inside SQLite, stopping every request
      // and stream for up to the busy timeout; settling waits between turns of the event loop instead.
      return this.settle(this.options.fullWaitMs ?? DEFAULT_FULL_WAIT_MS);
    } else if (this.queue.length >= this.options.batchRows) {
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.flush(false);
      });
    } else {
      this.scheduleBackground();
    }
    return undefined;
  }

  /**
   * Writes everything queued now, in batches of at most `batchRows`. Synchronous. Patient (the default)
   * when a caller waits for the rows; the writer's own timers flush impatiently.
   */
  flush(patient = true): void {
    this.cancelTimers();
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, this.options.batchRows);
      const t0 = this.clock();
      try {
        this.options.write(batch, patient);
      } catch (err) {
        this.counters.failures += 1;
        this.streak += 1;
        this.options.onError(err, batch.length, this.streak);
        // Memory stays bounded even while the disk refuses writes: past twice the bound the oldest go.
        const { maxRows, maxBytes } = this.options;
        let excess = 0;
        let bytes = this.queuedBytes;
        while (excess < this.queue.length && (this.queue.length - excess > 2 * maxRows || (maxBytes !== undefined && bytes > 2 * maxBytes))) {
          bytes -= this.sizeOf(this.queue[excess]);
          excess += 1;
        }
        if (excess > 0) {
          this.take(excess);
          this.counters.dropped += excess;
        }
        if (!this.closed) this.scheduleBackground();
        return;
      }
      if (this.streak > 0) {
        this.options.onRecovered?.(this.streak);
        this.streak = 0;
      }
      const ms = this.clock() - t0;
      this.take(batch.length);
      this.counters.written += batch.length;
      this.counters.batches += 1;
      this.counters.maxBatchRows = Math.max(this.counters.maxBatchRows, batch.length);
      this.counters.flushMsTotal += ms;
      this.counters.flushMsMax = Math.max(this.counters.flushMsMax, ms);
    }
  }

  /**
   * Writes everything queued, for a reader that wants its own latest rows: impatient tries, again every
   * `everyMs` while another process holds the lock, for up to `waitMs`; then it resolves with the rest
   * still queued (they are written once the lock is free). Unlike a patient `flush`, the waiting happens
   * between turns of the event loop, so other requests are not held up by it.
   */
  async settle(waitMs: number, everyMs = 20): Promise<void> {
    const deadline = this.clock() + waitMs;
    for (;;) {
      this.flush(false);
      if (this.queue.length === 0 || this.clock() >= deadline) return;
      await sleep(everyMs);
    }
  }

  /** Flushes what is queued and stops the timers; later rows are written as they arrive. */
  close(): void {
    this.closed = true;
    this.flush();
    this.cancelTimers();
  }

  /**
   * For shutdown: closes, then tries to write what is queued every `everyMs` (each try fails at once on a
   * store another process holds locked) until the queue is written or `waitMs` has passed, and hands back
   * whatever is still queued, taking it off the queue: the caller must keep those rows or they are lost.
   */
  async closeAndTake(waitMs: number, everyMs = 20): Promise<T[]> {
    this.closed = true;
    this.cancelTimers();
    await this.settle(waitMs, everyMs);
    return this.take(this.queue.length);
  }

  stats(): BatchWriterStats {
    return { queued: this.queue.length, queuedBytes: this.queuedBytes, ...this.counters };
  }

  private sizeOf(row: T): number {
    return this.options.sizeOf?.(row) ?? 0;
  }

  /** Whether the queue is at its bound: `maxRows` rows or `maxBytes` bytes. */
  private full(): boolean {
    const { maxRows, maxBytes } = this.options;
    return this.queue.length >= maxRows || (maxBytes !== undefined && this.queuedBytes >= maxBytes);
  }

  /** Takes the first `n` rows off the queue. */
  private take(n: number): T[] {
    const rows = this.queue.splice(0, n);
    for (const row of rows) this.queuedBytes -= this.sizeOf(row);
    return rows;
  }

  private scheduleBackground(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush(false);
    }, this.options.flushIntervalMs);
  }

  private cancelTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }
}
