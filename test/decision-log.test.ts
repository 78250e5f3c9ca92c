// The decision log's plumbing: the batched writer (bounded, never on the response path, nothing lost),
// time-ordered ids, the schema migration from a version-1 database, and graceful shutdown.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BatchWriter } from '../src/store/log-writer';
import { migrate, MIGRATIONS } from '../src/store/migrations';
import { SqliteStore, StoreBusyError, withBusyTimeout, writeOffLoop } from '../src/store/sqlite-store';
import { toErrorResponse } from '../src/http/error-handler';
import { createDecisionLogQueue, decisionRowBytes } from '../src/store/decision-log-queue';
import { DecisionStore } from '../src/store/decision-store';
import type { DecisionRecord } from '../src/store/decision-types';
import { aggregateAttempts, aggregateDecisions, ratedAnswers, ratedGap, recentAnswerLengths } from '../src/store/decision-stats';
import { createAnswerLengths, learnedLengths, roundLength } from '../src/routing/answer-lengths';
import { buildStats } from '../src/inspection/stats';
import { modelConfigSchema } from '../src/config/schema';
import { DECISION_ID_PATTERN, createDecisionIdGenerator } from '../src/gateway/decision-id';
import { completionBody, startFakeUpstream, streamEvents } from './support/fake-upstream';
import { eventually, startTestGateway } from './support/gateway';
import { makeTempDir } from './support/temp-dir';
import { loggedDecision } from './support/logged-decision';
import { createFakeEmbedder } from './support/fake-embedder';
import { loadConfigFile } from '../src/cli/context';
import { startServer, type RunningServer } from '../src/cli/serve';
import { replaySpill, spillRows } from '../src/store/decision-spill';

interface SecondConnection {
  store: SqliteStore;
  decisions: DecisionStore;
  /** Another process's connection to the same file: it takes the write lock. */
  other: Database.Database;
  writer: BatchWriter<DecisionRecord>;
  /** Timer turns so far: a wait inside SQLite's busy handler allows none. */
  turns: () => number;
}

/** A store, another connection to its file, the server's log queue over the store; all closed after `body`. */
async function withSecondConnection(
  queue: { batchRows: number; flushIntervalMs: number; maxRows: number; maxBytes?: number },
  log: (message: string) => void,
  body: (c: SecondConnection) => Promise<void> | void,
): Promise<void> {
  const tmp = makeTempDir();
  const file = path.join(tmp.dir, 'db.sqlite');
  const store = new SqliteStore({ path: file });
  const decisions = new DecisionStore(store.db);
  const other = new Database(file);
  const writer = createDecisionLogQueue(store.db, decisions, { maxBytes: 1 << 30, ...queue }, log);
  let turns = 0;
  const ticker = setInterval(() => turns++, 5);
  try {
    await body({ store, decisions, other, writer, turns: () => turns });
  } finally {
    clearInterval(ticker);
    writer.close();
    other.close();
    store.close();
    tmp.cleanup();
  }
}

describe('BatchWriter', () => {
  const make = (over: Partial<ConstructorParameters<typeof BatchWriter<number>>[0]> = {}) => {
    const batches: number[][] = [];
    const errors: number[] = [];
    const writer = new BatchWriter<number>({
      write: (rows) => batches.push([...rows]),
      batchRows: 3,
      flushIntervalMs: 20,
      maxRows: 100,
      onError: (_e, n) => errors.push(n),
      ...over,
    });
    return { writer, batches, errors };
  };

  it('does not write on enqueue; writes after the interval, in one batch', async () => {
    const { writer, batches } = make();
    writer.enqueue(1);
    writer.enqueue(2);
    expect(batches).toEqual([]);
    await eventually(() => (batches.length ? true : undefined));
    expect(batches).toEqual([[1, 2]]);
    expect(writer.stats()).toMatchObject({ written: 2, batches: 1, queued: 0 });
  });

  it('a full batch is written on the next turn of the event loop, not inline', async () => {
    const { writer, batches } = make({ flushIntervalMs: 10_000 });
    for (let i = 0; i < 3; i++) writer.enqueue(i);
    expect(batches).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[0, 1, 2]]);
    writer.close();
  });

  it('at the queue bound writes inline instead of dropping (backpressure)', () => {
    const { writer, batches } = make({ maxRows: 5, batchRows: 100, flushIntervalMs: 10_000 });
    for (let i = 0; i < 5; i++) writer.enqueue(i);
    expect(batches).toEqual([[0, 1, 2, 3, 4]]);
    expect(writer.stats()).toMatchObject({ forcedFlushes: 1, dropped: 0 });
    writer.close();
  });

  it('keeps rows after a failed write and retries; past twice the bound drops the oldest, and says so', async () => {
    let fail = true;
    const written: number[] = [];
    const { writer, errors } = make({
      maxRows: 2,
      batchRows: 10,
      write: (rows) => {
        if (fail) throw new Error('disk full');
        written.push(...rows);
      },
    });
    for (let i = 0; i < 6; i++) writer.enqueue(i);
    expect(errors.length).toBeGreaterThan(0);
    expect(writer.stats()).toMatchObject({ queued: 4, dropped: 2 });
    fail = false;
    await eventually(() => (written.length === 4 ? true : undefined));
    expect(written).toEqual([2, 3, 4, 5]);
    writer.close();
  });

  it('is full at maxBytes before maxRows when rows are large, and past twice the bytes drops the oldest', async () => {
    let fail = true;
    const written: number[] = [];
    // Each row "holds" its own value in bytes: 10 rows fit the row bound, 300 bytes do not.
    const { writer } = make({
      maxRows: 10,
      batchRows: 10,
      flushIntervalMs: 10_000,
      maxBytes: 300,
      sizeOf: (n) => n,
      write: (rows) => {
        if (fail) throw new Error('locked');
        written.push(...rows);
      },
    });
    expect(writer.enqueue(100)).toBeUndefined();
    expect(writer.enqueue(150)).toBeUndefined();
    expect(writer.stats()).toMatchObject({ queued: 2, queuedBytes: 250 });
    // 350 bytes: the request that filled it waits for a write (it fails: the row stays queued).
    const waiting = writer.enqueue(100);
    expect(waiting).toBeInstanceOf(Promise);
    expect(writer.stats().forcedFlushes).toBe(1);
    // Past 600 bytes the oldest go until the rest fit twice the bound.
    writer.enqueue(200);
    writer.enqueue(200);
    expect(writer.stats()).toMatchObject({ queued: 3, queuedBytes: 500, dropped: 2 });
    fail = false;
    writer.flush();
    expect(written).toEqual([100, 200, 200]);
    expect(writer.stats()).toMatchObject({ queued: 0, queuedBytes: 0 });
    await waiting;
    writer.close();
  });

  it('sizes a decision row by its texts, so a 1 MB prompt weighs 2 MB against the bound', () => {
    const row = loggedDecision('d1', 'a', { a: 0.9, b: 0.5 }, { prompt: 'x'.repeat(1_000_000) });
    const bytes = decisionRowBytes(row);
    expect(bytes).toBeGreaterThan(2_000_000);
    expect(bytes).toBeLessThan(2_000_000 + 1_024 + 256 * (row.candidates.length + row.attempts.length) + 1_000);
  });

  it('flushes impatiently on its own timers and for a full queue (whose request waits off the event loop); a reader and shutdown wait for the store', async () => {
    const calls: boolean[] = [];
    const { writer } = make({ maxRows: 4, batchRows: 10, write: (_rows, patient) => void calls.push(patient) });
    writer.enqueue(1);
    await eventually(() => (calls.length ? true : undefined));
    writer.enqueue(2);
    writer.flush();
    for (let i = 0; i < 4; i++) writer.enqueue(i);
    writer.enqueue(9);
    writer.close();
    expect(calls).toEqual([false, true, false, true]);
  });

  it('counts failures in a row and says when writes go through again', async () => {
    let fail = true;
    const streaks: number[] = [];
    const recovered: number[] = [];
    const { writer } = make({
      write: () => {
        if (fail) throw new Error('busy');
      },
      onError: (_e, _n, streak) => streaks.push(streak),
      onRecovered: (n) => recovered.push(n),
    });
    writer.enqueue(1);
    await eventually(() => (streaks.length >= 3 ? true : undefined));
    fail = false;
    await eventually(() => (recovered.length ? true : undefined));
    expect(streaks.slice(0, 3)).toEqual([1, 2, 3]);
    expect(recovered).toEqual([streaks.length]);
    writer.close();
  });

  it('while another process holds the write lock, background flushes fail at once and the rows wait in memory', async () => {
    const messages: string[] = [];
    const errors = (): string[] => messages.filter((m) => m.startsWith('warning: decision log'));
    await withSecondConnection({ batchRows: 10, flushIntervalMs: 20, maxRows: 100 }, (m) => messages.push(m), async ({ store, decisions, other, writer }) => {
      other.prepare('BEGIN IMMEDIATE').run();
      writer.enqueue(loggedDecision('dec_busy_1', 'small', { small: 0.9 }));
      // Each try waiting out busy_timeout (5 s) would leave the event loop stuck well past this wait.
      await eventually(() => (writer.stats().failures >= 3 ? true : undefined));
      // Said once, not at every retry.
      expect(errors()).toEqual([expect.stringMatching(/^warning: decision log: writing 1 rows failed \(kept in memory, will retry\): database is locked/)]);
      expect(writer.stats()).toMatchObject({ queued: 1, written: 0, dropped: 0 });
      expect(store.db.pragma('busy_timeout', { simple: true })).toBe(5000);
      other.prepare('COMMIT').run();
      await eventually(() => (messages.some((m) => /^decision log: writing again after \d+ failed tries$/.test(m)) ? true : undefined));
      expect(decisions.get('dec_busy_1')).not.toBeNull();
      expect(writer.stats()).toMatchObject({ queued: 0, written: 1 });
    });
  });

  it('reports a stall at its first failure and then every 10 s, however many requests retry meanwhile', () => {
    const tmp = makeTempDir();
    const file = path.join(tmp.dir, 'db.sqlite');
    const store = new SqliteStore({ path: file });
    const other = new Database(file);
    const messages: string[] = [];
    let t = 0;
    const writer = createDecisionLogQueue(store.db, new DecisionStore(store.db), { batchRows: 10, flushIntervalMs: 60_000, maxRows: 100, maxBytes: 1 << 30 }, (m) => messages.push(m), () => t);
    try {
      other.exec('BEGIN IMMEDIATE');
      writer.enqueue(loggedDecision('dec_stall_1', 'small', { small: 0.9 }));
      // Many waiting requests and readers each retrying every 20 ms: 500 failures within 9.98 s.
      for (let i = 0; i < 500; i++, t += 20) writer.flush(false);
      expect(messages.filter((m) => m.startsWith('warning: decision log'))).toHaveLength(1);
      t = 10_000;
      writer.flush(false);
      expect(messages.filter((m) => m.startsWith('warning: decision log'))).toEqual([
        expect.stringMatching(/writing 1 rows failed \(kept/),
        expect.stringMatching(/writing 1 rows failed 501 times in a row/),
      ]);
      other.exec('COMMIT');
      writer.flush(false);
      expect(messages.at(-1)).toBe('decision log: writing again after 501 failed tries');
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      writer.close();
      other.close();
      store.close();
      tmp.cleanup();
    }
  });

  it('a request that fills the queue while another process holds the lock waits between turns of the event loop, not inside SQLite', async () => {
    await withSecondConnection({ batchRows: 10, flushIntervalMs: 10_000, maxRows: 3 }, () => {}, async ({ decisions, other, writer, turns }) => {
      other.prepare('BEGIN IMMEDIATE').run();
      expect(writer.enqueue(loggedDecision('dec_full_1', 'small', { small: 0.9 }))).toBeUndefined();
      expect(writer.enqueue(loggedDecision('dec_full_2', 'small', { small: 0.9 }))).toBeUndefined();
      const started = Date.now();
      const full = writer.enqueue(loggedDecision('dec_full_3', 'small', { small: 0.9 }));
      // The impatient first try fails at once; a patient one would have sat in SQLite's busy handler.
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(full).toBeInstanceOf(Promise);
      let settled = false;
      void full!.then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 100));
      expect(settled).toBe(false);
      expect(turns()).toBeGreaterThan(5);
      other.prepare('COMMIT').run();
      await full;
      expect(writer.stats()).toMatchObject({ queued: 0, written: 3, forcedFlushes: 1, dropped: 0 });
      expect(decisions.get('dec_full_3')).not.toBeNull();
    });
  });

  it("a feedback write while another process holds the lock is the store's busy error (a 503), not a raw SQLite one", async () => {
    await withSecondConnection({ batchRows: 10, flushIntervalMs: 10_000, maxRows: 100 }, () => {}, ({ store, decisions, other }) => {
      other.prepare('BEGIN IMMEDIATE').run();
      // busy_timeout 0 so the test need not wait out the 5 s the server would.
      const tried = (): unknown => withBusyTimeout(store.db, 0, () => decisions.transaction(() => 1));
      expect(tried).toThrow(StoreBusyError);
      expect(toErrorResponse(catchError(tried))).toMatchObject({ status: 503, body: { error: { code: 'store_busy' } } });
      other.prepare('COMMIT').run();
      expect(decisions.transaction(() => 1)).toBe(1);
    });
  });

  it('readers and feedback wait for another process\'s lock between turns of the event loop, not inside SQLite', async () => {
    await withSecondConnection({ batchRows: 10, flushIntervalMs: 10_000, maxRows: 100 }, () => {}, async ({ store, decisions, other, writer, turns }) => {
      other.prepare('BEGIN IMMEDIATE').run();
      writer.enqueue(loggedDecision('dec_read_1', 'small', { small: 0.9 }));
      setTimeout(() => other.prepare('COMMIT').run(), 150);
      const [settled, written] = await Promise.all([writer.settle(5000), writeOffLoop(store.db, () => decisions.transaction(() => 'fed back'), 5000)]);
      expect([settled, written]).toEqual([undefined, 'fed back']);
      expect(turns()).toBeGreaterThan(10);
      expect(decisions.get('dec_read_1')).not.toBeNull();
      expect(store.db.pragma('busy_timeout', { simple: true })).toBe(5000);

      // Past the wait: the reader goes on without the queued row; the write is the store's busy error.
      other.prepare('BEGIN IMMEDIATE').run();
      writer.enqueue(loggedDecision('dec_read_2', 'small', { small: 0.9 }));
      await writer.settle(60);
      expect(writer.stats().queued).toBe(1);
      await expect(writeOffLoop(store.db, () => decisions.transaction(() => 1), 60)).rejects.toThrow(/gave up after waiting \d{2,} ms/);
      other.prepare('COMMIT').run();
    });
  });

  it('close() flushes; rows after close are written at once', () => {
    const { writer, batches } = make({ flushIntervalMs: 10_000 });
    writer.enqueue(1);
    writer.close();
    expect(batches).toEqual([[1]]);
    writer.enqueue(2);
    expect(batches).toEqual([[1], [2]]);
  });
});

describe('decision ids', () => {
  it('are unique and sort in creation order, within one millisecond too', () => {
    let t = 1_700_000_000_000;
    const next = createDecisionIdGenerator({ now: () => t });
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) {
      if (i % 100 === 0) t += 1;
      ids.push(next());
    }
    expect(new Set(ids).size).toBe(1000);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(DECISION_ID_PATTERN);
    // A clock that steps back does not break the order.
    t -= 5_000;
    expect(next() > ids[999]).toBe(true);
  });
});

describe('migrations', () => {
  it('brings a version-1 database forward without touching its data', () => {
    const tmp = makeTempDir();
    const file = path.join(tmp.dir, 'old.db');
    const db = new Database(file);
    migrate(db, MIGRATIONS.filter((m) => m.version === 1));
    db.prepare("INSERT INTO samples (id, prompt, prompt_hash, origin, created_at) VALUES ('s1', 'p', 'h', 'import', 1)").run();
    db.close();
    const store = new SqliteStore({ path: file });
    try {
      expect(store.db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(MIGRATIONS.map((m) => m.version));
      expect(store.db.prepare('SELECT id FROM samples').pluck().all()).toEqual(['s1']);
      expect(store.db.prepare('SELECT COUNT(*) FROM decisions').pluck().get()).toBe(0);
    } finally {
      store.close();
      tmp.cleanup();
    }
  });
});

describe('migration 3: decision policy and λ', () => {
  it('keeps a version-2 database\'s decisions, reading their policy and λ as null', () => {
    const tmp = makeTempDir();
    const file = path.join(tmp.dir, 'v2.db');
    const db = new Database(file);
    migrate(db, MIGRATIONS.filter((m) => m.version <= 2));
    db.prepare(
      `INSERT INTO decisions (id, created_at, prompt_hash, requested_model, stream, routed_model, reason, target, candidates, fallbacks,
        attempts, failed_over, est_input_tokens, est_output_tokens, embed_ms, classify_ms, upstream_ms, total_ms, status, http_status)
       VALUES ('d1', 1, 'h', 'auto', 0, 'm', 'cheapest-above-target', 0.7, '[]', '[]', '[]', 0, 3, 256, 0, 0, 0, 1, 'ok', 200)`,
    ).run();
    db.close();
    const store = new SqliteStore({ path: file });
    try {
      const decisions = new DecisionStore(store.db);
      // Migration 4 too: what λ was set on is unknown for old rows.
      expect(decisions.get('d1')).toMatchObject({ reason: 'cheapest-above-target', target: 0.7, policy: null, lambda: null, lambdaBasis: null });
    } finally {
      store.close();
      tmp.cleanup();
    }
  });
});

describe('migration 5: the answering model\'s predicted success', () => {
  it('is read from a version-4 database\'s candidates; rows nothing answered and rows without JSON stay null', () => {
    const tmp = makeTempDir();
    const file = path.join(tmp.dir, 'v4.db');
    const db = new Database(file);
    migrate(db, MIGRATIONS.filter((m) => m.version <= 4));
    const insert = db.prepare(
      `INSERT INTO decisions (id, created_at, prompt_hash, requested_model, stream, routed_model, answered_model, reason, target, candidates,
        fallbacks, attempts, failed_over, est_input_tokens, est_output_tokens, embed_ms, classify_ms, upstream_ms, total_ms, status, http_status)
       VALUES (?, 1, 'h', 'auto', 0, 'a', ?, 'cheapest-above-target', 0.7, ?, '[]', '[]', 0, 3, 256, 0, 0, 0, 1, 'ok', 200)`,
    );
    const candidates = JSON.stringify([
      { model: 'a', pSuccess: 0.25, estimatedCost: 1, eligible: true },
      { model: 'b', pSuccess: 0.75, estimatedCost: 2, eligible: true },
    ]);
    insert.run('d1', 'b', candidates);
    insert.run('d2', null, candidates);
    insert.run('d3', 'a', 'not json');
    insert.run('d4', 'a', JSON.stringify([{ model: 'a', pSuccess: null, estimatedCost: 1, eligible: true }]));
    db.close();
    const store = new SqliteStore({ path: file });
    try {
      // Migration 7 copies it as the classifier's own prediction: no row was recalibrated before it.
      const rows = store.db.prepare('SELECT id, answered_p_success AS p, answered_p_classifier AS own FROM decisions ORDER BY id').all();
      expect(rows).toEqual([
        { id: 'd1', p: 0.75, own: 0.75 },
        { id: 'd2', p: null, own: null },
        { id: 'd3', p: null, own: null },
        { id: 'd4', p: null, own: null },
      ]);
    } finally {
      store.close();
      tmp.cleanup();
    }
  });
});

/** Runs `fn` on a fresh store in a temporary folder, then closes and removes both. */
function withTempStore(fn: (store: SqliteStore) => void): void {
  const tmp = makeTempDir();
  const store = new SqliteStore({ path: path.join(tmp.dir, 'store.db') });
  try {
    fn(store);
  } finally {
    store.close();
    tmp.cleanup();
  }
}

describe('/v1/stats calibration: predicted beside rated success', () => {
  it('averages the prediction and the rating over the same rated answers, per model and overall', () => {
    withTempStore((store) => {
      const decisions = new DecisionStore(store.db);
      decisions.insertMany([
        loggedDecision('d1', 'small', { small: 0.9, large: 0.95 }),
        loggedDecision('d2', 'small', { small: 0.8, large: 0.9 }),
        loggedDecision('d3', 'large', { small: 0.2, large: 0.6 }),
        // Rated, but routed without a prediction (cold start): counts in success_rate, not in calibration.
        loggedDecision('d4', 'small', { small: null, large: null }),
        // Predicted but never rated: in neither.
        loggedDecision('d5', 'small', { small: 0.7, large: 0.9 }),
        loggedDecision('d6', null, { small: 0.7, large: 0.9 }),
      ]);
      const rate = (id: string, model: string, score: number) =>
        decisions.upsertFeedback(id, { model, score, success: null, comment: null, apiKeyName: null }, 2_000);
      rate('d1', 'small', 1);
      rate('d2', 'small', 0);
      rate('d3', 'large', 1);
      rate('d4', 'small', 1);
      const stats = buildStats({
        aggregates: aggregateDecisions(store.db, 0, 10_000),
        attempts: aggregateAttempts(store.db, 0, 10_000),
        models: [
          modelConfigSchema.parse({ id: 'small', baseUrl: 'http://127.0.0.1:1', price: { inputPerMTok: 1, outputPerMTok: 2 } }),
          modelConfigSchema.parse({ id: 'large', baseUrl: 'http://127.0.0.1:1', price: { inputPerMTok: 10, outputPerMTok: 30 } }),
        ],
        breakers: new Map(),
        log: { queued: 0, queuedBytes: 0, written: 0, dropped: 0, batches: 0, forcedFlushes: 0, failures: 0, maxBatchRows: 0, flushMsTotal: 0, flushMsMax: 0 },
        since: 0,
        until: 10_000,
      });
      const small = stats.models.find((m) => m.model === 'small')!;
      // small: d1 (0.9, rated 1) and d2 (0.8, rated 0) → predicted 0.85, rated 0.5; d4 has no prediction.
      expect(small.feedback.count).toBe(3);
      expect(small.feedback.success_rate).toBeCloseTo(2 / 3, 6);
      expect(small.feedback.calibration).toEqual({ count: 2, predicted_success: 0.85, rated_success: 0.5 });
      expect(stats.models.find((m) => m.model === 'large')!.feedback.calibration).toEqual({ count: 1, predicted_success: 0.6, rated_success: 1 });
      expect(stats.overall.feedback.calibration!.count).toBe(3);
      expect(stats.overall.feedback.calibration!.predicted_success).toBeCloseTo(2.3 / 3, 6);
      expect(stats.overall.feedback.calibration!.rated_success).toBeCloseTo(2 / 3, 6);
    });
  });
});

describe('rated answers of a classifier version, newest ratings first', () => {
  it('averages prediction and rating over the last `window` ratings of that version only', () => {
    withTempStore((store) => {
      const decisions = new DecisionStore(store.db);
      const at = (id: string, version: string, p: number | null) => loggedDecision(id, 'a', { a: p }, { classifierVersion: version });
      decisions.insertMany([at('d1', 'v1', 0.9), at('d2', 'v1', 0.8), at('d3', 'v1', 0.6), at('d4', 'v2', 0.1), at('d5', 'v1', null), at('d6', 'v1', 0.7)]);
      // Rated in this order (d1 first); d6 is never rated.
      ['d1', 'd2', 'd3', 'd4', 'd5'].forEach((id, k) =>
        decisions.upsertFeedback(id, { model: 'a', score: id === 'd2' ? 1 : 0, success: null, comment: null, apiKeyName: null }, 100 + k),
      );
      // The two newest ratings of v1 with a prediction: d3 (0.6, 0) and d2 (0.8, 1).
      const two = ratedGap(store.db, 'v1', 2)!;
      expect(two.count).toBe(2);
      expect(two.predicted).toBeCloseTo(0.7, 6);
      expect(two.rated).toBeCloseTo(0.5, 6);
      expect(two.meanSquare).toBeCloseTo((0.36 + 0.04) / 2, 6);
      expect(ratedGap(store.db, 'v1', 100)!.count).toBe(3);
      expect(ratedGap(store.db, 'v3', 100)).toBeNull();
    });
  });
});

describe('rated answers per model, for routing.recalibration', () => {
  it("lists each model's last `window` rated answers of that version with the classifier's own prediction", () => {
    withTempStore((store) => {
      const decisions = new DecisionStore(store.db);
      const at = (id: string, model: string, version: string, p: number | null) => loggedDecision(id, model, { [model]: p }, { classifierVersion: version });
      // r1 was routed with its p recalibrated: the log keeps what the policy used and the classifier's own.
      const recalibrated = loggedDecision('r1', 'a', {}, {
        candidates: [{ model: 'a', pSuccess: 0.5, pClassifier: 0.9, logitShift: Math.log(1 / 9), estimatedCost: 1, eligible: true }],
        classifierVersion: 'v1',
      });
      decisions.insertMany([
        recalibrated, at('a1', 'a', 'v1', 0.8), at('a2', 'a', 'v1', 0.7), at('b1', 'b', 'v1', 0.6),
        at('x1', 'a', 'v2', 0.1), at('n1', 'a', 'v1', null), at('u1', 'a', 'v1', 0.3), loggedDecision('e1', null, { a: 0.4 }, { classifierVersion: 'v1' }),
      ]);
      // Rated in this order (r1 first); u1 is never rated, e1 (nothing answered) is rated all the same.
      ['r1', 'a1', 'a2', 'b1', 'x1', 'n1', 'e1'].forEach((id, k) =>
        decisions.upsertFeedback(id, { model: 'a', score: id === 'a2' ? 1 : 0, success: null, comment: null, apiKeyName: null }, 100 + k),
      );
      expect(ratedAnswers(store.db, 'v1', 100)).toEqual([
        { model: 'a', predicted: 0.7, rated: 1 },
        { model: 'a', predicted: 0.8, rated: 0 },
        { model: 'a', predicted: 0.9, rated: 0 },
        { model: 'b', predicted: 0.6, rated: 0 },
      ]);
      // A window of 2: each model's two newest ratings.
      expect(ratedAnswers(store.db, 'v1', 2).map((r) => `${r.model}:${r.predicted}`)).toEqual(['a:0.7', 'a:0.8', 'b:0.6']);
      expect(ratedAnswers(store.db, 'v3', 100)).toEqual([]);
      // The average policy's gap reads the classifier's own prediction too: (0.9 + 0.8 + 0.7 + 0.6) / 4.
      expect(ratedGap(store.db, 'v1', 100)!.predicted).toBeCloseTo(0.75, 6);
    });
  });
});

describe('answer lengths learned from the log', () => {
  it("averages each model's last `window` answered requests that report usage, newest first", () => {
    withTempStore((store) => {
      const decisions = new DecisionStore(store.db);
      const answer = (id: string, model: string, at: number, tokens: number | null, over: Partial<DecisionRecord> = {}) =>
        loggedDecision(id, model, { [model]: 0.5 }, { createdAt: at, usage: tokens === null ? null : { promptTokens: 5, completionTokens: tokens }, ...over });
      decisions.insertMany([
        answer('a1', 'small', 1, 1000), // oldest: outside a window of 2
        answer('a2', 'small', 2, 100),
        answer('a3', 'small', 3, 300),
        answer('a4', 'small', 4, null), // the upstream reported no usage
        answer('a5', 'small', 5, 5000, { status: 'aborted', httpStatus: 499 }), // the client went away
        answer('b1', 'large', 6, 40),
        loggedDecision('e1', null, { large: 0.5 }, { createdAt: 7, usage: null }), // nothing answered
      ]);
      expect(recentAnswerLengths(store.db, 2)).toEqual([
        { model: 'large', answers: 1, meanTokens: 40 },
        { model: 'small', answers: 2, meanTokens: 200 },
      ]);
      expect(recentAnswerLengths(store.db, 10).find((r) => r.model === 'small')).toEqual({ model: 'small', answers: 3, meanTokens: 1400 / 3 });
    });
  });

  it("a model's mean counts once it has minAnswers, at two significant figures; the map changes only with a value", () => {
    expect([47.6, 183.4, 1234, 0.2, 99.6].map(roundLength)).toEqual([48, 180, 1200, 1, 100]);
    expect(learnedLengths([{ model: 'a', answers: 49, meanTokens: 300 }, { model: 'b', answers: 50, meanTokens: 183.4 }], 50)).toEqual(new Map([['b', 180]]));
    let rows = [{ model: 'b', answers: 60, meanTokens: 183.4 }];
    const lengths = createAnswerLengths({ read: () => rows, minAnswers: 50 });
    const empty = lengths.current();
    expect(empty.size).toBe(0);
    expect(lengths.refresh()).toBe(true);
    const first = lengths.current();
    expect(first).toEqual(new Map([['b', 180]]));
    // 176 rounds to 180 too: the same map object, so prices cached on it stay valid.
    rows = [{ model: 'b', answers: 70, meanTokens: 176 }];
    expect(lengths.refresh()).toBe(false);
    expect(lengths.current()).toBe(first);
    rows = [{ model: 'b', answers: 70, meanTokens: 240 }];
    expect(lengths.refresh()).toBe(true);
    expect(lengths.current()).toEqual(new Map([['b', 240]]));
  });
});

describe('graceful shutdown', () => {
  const yaml = (baseUrl: string, graceMs: number) => `
server: { host: 127.0.0.1, port: 0, shutdownGraceMs: ${graceMs} }
storage: { path: data/shutdown.db, logQueue: { flushIntervalMs: 60000 } }
routing: { classifierDir: router, reloadIntervalMs: 0 }
models:
  - { id: m, provider: openai, baseUrl: "${baseUrl}", price: { inputPerMTok: 1, outputPerMTok: 1 } }
`;
  const post = (url: string, stream = false) =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', stream, messages: [{ role: 'user', content: 'hi' }] }),
    });
  const readRows = (file: string) => {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare('SELECT id, status, http_status FROM decisions ORDER BY id').all() as { id: string; status: string; http_status: number }[];
    } finally {
      db.close();
    }
  };

  it('stops accepting, lets in-flight requests (plain and streaming) finish, flushes the log and closes SQLite', async () => {
    const upstream = await startFakeUpstream();
    upstream.enqueue(
      { type: 'json', body: completionBody('slow but fine'), headersDelayMs: 300 },
      { type: 'sse', events: streamEvents('one two three', { pieces: 3 }), delayMs: 100 },
    );
    const gw = await startTestGateway({ yaml: yaml(upstream.baseUrl, 5_000) });
    try {
      const plain = post(gw.url);
      const streaming = await post(gw.url, true);
      await eventually(() => (upstream.received.length === 2 ? true : undefined));
      const closing = gw.server.close();
      await expect(post(gw.url)).rejects.toThrow();
      const [answer, streamed] = await Promise.all([plain.then((r) => r.json() as Promise<{ model: string }>), streaming.text()]);
      expect(answer.model).toBe('m');
      expect(streamed).toMatch(/data: \[DONE\]/);
      await closing;
      // The flush interval is a minute: these rows can only be there because shutdown flushed them.
      expect(readRows(gw.dbPath).map((r) => r.status)).toEqual(['ok', 'ok']);
      expect(gw.logs.join('\n')).toMatch(/decision log flushed: 2 rows written/);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('answers a request sent on a busy keep-alive connection during the drain and closes that connection', async () => {
    // Express answers /healthz synchronously; the in-flight tracker once marked such a response after its
    // headers were out, which threw outside any handler and ended the process mid-drain.
    const upstream = await startFakeUpstream();
    upstream.enqueue({ type: 'json', body: completionBody('slow but fine'), headersDelayMs: 400 });
    const gw = await startTestGateway({ yaml: yaml(upstream.baseUrl, 5_000) });
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
    try {
      let received = '';
      socket.on('data', (d) => (received += d.toString()));
      const ended = new Promise((r) => socket.once('close', r));
      await new Promise((r) => socket.once('connect', r));
      const body = JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] });
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      await eventually(() => (upstream.received.length === 1 ? true : undefined));
      const closing = gw.server.close();
      socket.write('GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n');
      await closing;
      await ended;
      // Pipelined: the chat answer first, then /healthz's, marked as the connection's last.
      expect(received.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
      expect(received).toMatch(/slow but fine[\s\S]*HTTP\/1\.1 200 OK\r\nconnection: close[\s\S]*"status":"ok"/i);
      expect(uncaught).toEqual([]);
      expect(readRows(gw.dbPath).map((r) => r.status)).toEqual(['ok']);
    } finally {
      process.off('uncaughtException', onUncaught);
      socket.destroy();
      await gw.close();
      await upstream.close();
    }
  });

  it('after the grace period cuts what is left, aborts its upstream call and still logs it', async () => {
    const upstream = await startFakeUpstream(() => ({ type: 'hang' }));
    const gw = await startTestGateway({ yaml: yaml(upstream.baseUrl, 100) });
    try {
      const pending = post(gw.url);
      pending.catch(() => undefined);
      await eventually(() => (upstream.received.length === 1 ? true : undefined));
      const t0 = Date.now();
      await gw.server.close();
      expect(Date.now() - t0).toBeLessThan(3_000);
      await expect(pending).rejects.toThrow(/fetch failed/);
      expect(await upstream.received[0].closed).toBe(true);
      expect(readRows(gw.dbPath)).toMatchObject([{ status: 'aborted', http_status: 499 }]);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

/** A server on one simulated model, with the storage block given. */
const simConfig = (storage: string): string => `
server: { host: 127.0.0.1, port: 0 }
storage: ${storage}
routing: { classifierDir: router, reloadIntervalMs: 0 }
models:
  - { id: sim-one, provider: sim, price: { inputPerMTok: 1, outputPerMTok: 1 }, sim: { reply: ok } }
`;

describe('shutdown while another process holds the write lock', () => {
  it('saves the rows the store refuses beside it, and the next start writes them; nothing is lost', async () => {
    const yaml = simConfig('{ path: data/locked.db, logQueue: { flushIntervalMs: 60000, shutdownWaitMs: 200 } }');
    const gw = await startTestGateway({ yaml });
    const spill = `${gw.dbPath}.unwritten.jsonl`;
    const other = new Database(gw.dbPath);
    let restarted: RunningServer | null = null;
    try {
      // An import or a retrain holds the lock through the whole shutdown (a deploy during `switchyard import`).
      other.exec('BEGIN IMMEDIATE');
      const ids: string[] = [];
      for (const content of ['one', 'two']) {
        const res = await gw.call('POST', '/v1/chat/completions', { body: { model: 'auto', messages: [{ role: 'user', content }] } });
        expect(res.status).toBe(200);
        ids.push(res.headers.get('x-switchyard-decision-id')!);
      }
      const t0 = Date.now();
      expect(await gw.server.close()).toEqual({ lostRows: 0 });
      expect(Date.now() - t0).toBeLessThan(3_000);
      expect(gw.logs.join('\n')).toContain(`decision log flushed: 0 rows written, 2 the store refused saved to ${spill} (written at the next start)`);
      expect(fs.readFileSync(spill, 'utf8').trim().split('\n')).toHaveLength(2);
      other.exec('COMMIT');

      const logs: string[] = [];
      restarted = await startServer({ loaded: loadConfigFile(path.join(gw.dir, 'switchyard.yaml')), embedder: createFakeEmbedder(), log: (m) => logs.push(m), env: {} });
      expect(logs).toContain('decision log: wrote 2 rows saved at the last shutdown');
      expect(fs.existsSync(spill)).toBe(false);
      const stored = other.prepare('SELECT id, status, prompt FROM decisions ORDER BY id').all();
      expect(stored).toEqual([
        { id: ids[0], status: 'ok', prompt: 'one' },
        { id: ids[1], status: 'ok', prompt: 'two' },
      ]);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await restarted?.close();
      await gw.close();
    }
  }, 20_000);

  it('reports rows it could neither write nor save as lost, so `serve` exits 1', async () => {
    const gw = await startTestGateway({
      yaml: simConfig('{ path: data/lost.db, logQueue: { flushIntervalMs: 60000, shutdownWaitMs: 0 } }'),
    });
    const other = new Database(gw.dbPath);
    try {
      other.exec('BEGIN IMMEDIATE');
      // Something where the saved rows would go that cannot take them (a full disk refuses the same way).
      fs.mkdirSync(`${gw.dbPath}.unwritten.jsonl`);
      expect((await gw.call('POST', '/v1/chat/completions', { body: { model: 'auto', messages: [{ role: 'user', content: 'x' }] } })).status).toBe(200);
      expect(await gw.server.close()).toEqual({ lostRows: 1 });
      expect(gw.logs.join('\n')).toMatch(/error: decision log: 1 rows the store refused could not be saved to .*: they are lost/);
      expect(gw.logs.join('\n')).toContain('decision log flushed: 0 rows written, 1 lost');
    } finally {
      other.exec('ROLLBACK');
      other.close();
      await gw.close();
    }
  });

  it('adds to a saved file a second shutdown finds (no start between), row by row', () => {
    const dir = makeTempDir();
    try {
      const file = path.join(dir.dir, 'x.db.unwritten.jsonl');
      const row = (id: string) => loggedDecision(id, 'small', { small: 0.9 });
      spillRows(file, [row('dec_a'), row('dec_b')]);
      spillRows(file, [row('dec_c')]);
      const ids = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
      expect(ids).toEqual(['dec_a', 'dec_b', 'dec_c']);
      expect(fs.readdirSync(dir.dir)).toEqual(['x.db.unwritten.jsonl']);
    } finally {
      dir.cleanup();
    }
  });

  it('says a line of the saved file that is not a row, keeps the file for the operator, and writes the rest', () => {
    const dir = makeTempDir();
    try {
      const file = path.join(dir.dir, 'x.db.unwritten.jsonl');
      const row = { id: 'dec_1', createdAt: 1, candidates: [], attempts: [] };
      fs.writeFileSync(file, `${JSON.stringify(row)}\n{"half": \n`);
      const written: unknown[] = [];
      const result = replaySpill(file, (rows) => (written.push(...rows), rows.length), () => 42);
      expect(result).toEqual({ written: 1, present: 0, unreadable: 1, keptAs: path.join(dir.dir, 'x.db.unwritten.unreadable-42.jsonl') });
      expect(written).toEqual([row]);
      expect(fs.existsSync(file)).toBe(false);
      expect(fs.existsSync(result!.keptAs!)).toBe(true);
      // The store refusing the write leaves the file where it is, for the next start.
      fs.writeFileSync(file, `${JSON.stringify(row)}\n`);
      expect(() => replaySpill(file, () => { throw new Error('SQLITE_BUSY'); }, () => 43)).toThrow('SQLITE_BUSY');
      expect(fs.existsSync(file)).toBe(true);
      expect(replaySpill(path.join(dir.dir, 'none.jsonl'), () => 0, () => 0)).toBeNull();
    } finally {
      dir.cleanup();
    }
  });
});

describe('reading and rating a decision while another process holds the write lock', () => {
  it("is the store's busy error (503, Retry-After), not a 404 that tells the client its id does not exist", async () => {
    const gw = await startTestGateway({
      yaml: simConfig('{ path: data/busy.db }'),
    });
    const other = new Database(gw.dbPath);
    try {
      // An import or a retrain storing embeddings: the decision's row stays queued past the readers' 5 s wait.
      other.exec('BEGIN IMMEDIATE');
      const res = await gw.call('POST', '/v1/chat/completions', { body: { model: 'auto', messages: [{ role: 'user', content: 'hi' }] } });
      expect(res.status).toBe(200);
      const id = res.headers.get('x-switchyard-decision-id');
      const rated = await gw.call('POST', `/v1/decisions/${id}/feedback`, { body: { success: true } });
      expect(rated.status).toBe(503);
      expect(rated.headers.get('retry-after')).toBe('1');
      expect(rated.json).toMatchObject({ error: { code: 'store_busy', type: 'server_error' } });
      other.exec('COMMIT');
      expect((await gw.call('POST', `/v1/decisions/${id}/feedback`, { body: { success: true } })).status).toBe(200);
      expect((await gw.call('GET', '/v1/decisions/dec_01M8FVZ12NY6J4XCM87QCBJFJQ')).status).toBe(404);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await gw.close();
    }
  }, 20_000);
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
