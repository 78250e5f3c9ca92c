// The server's decision-log queue: a BatchWriter over the decision store that never holds up requests
// for another process's write lock, and says once (not every 50 ms) when writes stall.
import type Database from 'better-sqlite3';
import { errorMessage } from '../errors';
import { BatchWriter } from './log-writer';
import type { DecisionStore } from './decision-store';
import type { DecisionRecord } from './decision-types';
import { BUSY_TIMEOUT_MS, withBusyTimeout } from './sqlite-store';

export interface DecisionLogQueueOptions {
  batchRows: number;
  flushIntervalMs: number;
  maxRows: number;
  maxBytes: number;
  /** Read by the server's shutdown (see the config schema), not by the queue itself. */
  shutdownWaitMs?: number;
}

/**
 * About what a queued row holds in memory: its texts (two bytes a character, V8's wide strings) and a
 * fixed share per object. An estimate for the queue's bound, not an accounting: it must only grow with
 * the prompt, which is what can be large.
 */
export function decisionRowBytes(row: DecisionRecord): number {
  const text = (row.prompt?.length ?? 0) + (row.error?.message.length ?? 0) + row.attempts.reduce((n, a) => n + (a.message?.length ?? 0), 0);
  return 1_024 + 2 * text + 256 * (row.candidates.length + row.attempts.length);
}

/**
 * A stalled write is reported at its first failure and then at most this often. By time, not by count of
 * failures: every waiting request and reader retries on its own, so a count came round every second or so.
 */
const REPORT_EVERY_MS = 10_000;

export function createDecisionLogQueue(
  db: Database.Database,
  decisions: DecisionStore,
  options: DecisionLogQueueOptions,
  log: (message: string) => void,
  now: () => number = Date.now,
): BatchWriter<DecisionRecord> {
  let reportedAt = -Infinity;
  return new BatchWriter<DecisionRecord>({
    batchRows: options.batchRows,
    flushIntervalMs: options.flushIntervalMs,
    maxRows: options.maxRows,
    maxBytes: options.maxBytes,
    sizeOf: decisionRowBytes,
    // A request that finds the queue full waits for the lock as long as a patient write would.
    fullWaitMs: BUSY_TIMEOUT_MS,
    // In the background a busy store (another process importing) fails fast and is retried: waiting for
    // it would hold up every request. Someone waiting for the rows (a reader, a full queue) waits.
    write: (rows, patient) => (patient ? decisions.insertMany(rows) : withBusyTimeout(db, 0, () => decisions.insertMany(rows))),
    onError: (err, rows, streak) => {
      const t = now();
      if (streak === 1 || t - reportedAt >= REPORT_EVERY_MS) {
        reportedAt = t;
        log(`warning: decision log: writing ${rows} rows failed${streak > 1 ? ` ${streak} times in a row` : ''} (kept in memory, will retry): ${errorMessage(err)}`);
      }
    },
    onRecovered: (failures) => log(`decision log: writing again after ${failures} failed tries`),
  });
}
