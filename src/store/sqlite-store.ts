// SQLite implementation of the outcome store (better-sqlite3, WAL). Synchronous by design: every call
// is a short indexed statement or one transaction, so it never waits on anything but the disk.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { ConfigError, errorMessage, SwitchyardError } from '../errors';
import { migrate } from './migrations';
import { promptHash } from './prompt-hash';
import { FeedbackIdTakenError, type ImportResult, type OutcomeSample, type OutcomeStore, type SampleOrigin } from './types';

export interface SqliteStoreOptions {
  path: string;
  /** Clock for created/updated stamps; passed in so tests can fix it. */
  now?: () => number;
}

/** The samples `retrain` trains on (alias `s`): those with a prompt and at least one outcome. */
const TRAINABLE = 'prompt IS NOT NULL AND EXISTS (SELECT 1 FROM outcomes o WHERE o.sample_id = s.id)';

interface SampleRow { id: string; prompt: string | null; prompt_hash: string; source: string | null; origin: SampleOrigin }
interface OutcomeRow { sample_id: string; model: string; score: number; cost: number | null }

/** How long a write waits for another connection's write lock before it fails. */
export const BUSY_TIMEOUT_MS = 5000;

/** A write waited busy_timeout for the store's write lock and another connection still held it. */
export class StoreBusyError extends SwitchyardError {
  constructor(file: string, waitedMs: number, cause: unknown) {
    super(`another process holds the write lock of the store at ${file} (storage.path); gave up after waiting ${waitedMs} ms`, {
      code: 'store_busy',
      httpStatus: 503,
      cause,
      // Clients are not told where the server keeps its files.
      publicMessage: `the store is busy: another process holds its write lock (waited ${waitedMs} ms); retry shortly`,
    });
  }

  /** Read by the HTTP error handler. */
  readonly headers = { 'Retry-After': '1' };
}

const isBusy = (err: unknown): boolean => /^SQLITE_BUSY/.test(String((err as { code?: unknown } | null)?.code ?? ''));

/** better-sqlite3 keeps the name it was opened with; messages give the absolute path. */
const displayPath = (file: string): string => (file === ':memory:' ? file : path.resolve(file));

export function openDatabase(file: string): Database.Database {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file);
  try {
    // First: switching a new file to WAL takes the write lock, and a second process opening it at the same
    // moment must wait for that rather than fail.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Runs `fn` as one write transaction holding the write lock from its start. A deferred transaction that
 * reads first cannot wait for the lock when it comes to write (SQLite returns SQLITE_BUSY at once rather
 * than risk a deadlock, or SQLITE_BUSY_SNAPSHOT if another process committed since the read); BEGIN
 * IMMEDIATE waits busy_timeout for it instead. Inside an open transaction it is a savepoint, as before.
 */
export function writeTransaction<T>(db: Database.Database, fn: () => T): T {
  try {
    return db.transaction(fn).immediate();
  } catch (err) {
    if (isBusy(err)) throw new StoreBusyError(displayPath(db.name), db.pragma('busy_timeout', { simple: true }) as number, err);
    throw err;
  }
}

/**
 * Runs `fn` with this connection's busy_timeout set to `ms` (0: a write another process holds the lock
 * for fails at once with SQLITE_BUSY), then restores it. For writes that can be retried later and must
 * not hold up the event loop meanwhile.
 */
export function withBusyTimeout<T>(db: Database.Database, ms: number, fn: () => T): T {
  const before = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(ms))}`);
  try {
    return fn();
  } finally {
    db.pragma(`busy_timeout = ${before}`);
  }
}

/**
 * A write that may meet another process's write lock, for a server: tried with busy_timeout 0 and again
 * every `everyMs` until `waitMs` have passed. SQLite's own wait (busy_timeout) sleeps inside the call, on
 * the event loop, holding up every other request and stream for as long as the lock is held; this waits
 * between turns of the loop instead. Past `waitMs` it throws StoreBusyError (503) saying how long it waited.
 */
export async function writeOffLoop<T>(db: Database.Database, fn: () => T, waitMs: number, everyMs = 20): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      return withBusyTimeout(db, 0, fn);
    } catch (err) {
      const busy = err instanceof StoreBusyError || isBusy(err);
      if (!busy) throw err;
      const waited = Date.now() - started;
      if (waited >= waitMs) throw new StoreBusyError(displayPath(db.name), waited, err instanceof StoreBusyError ? err.cause : err);
    }
    await sleep(everyMs);
  }
}

/**
 * Opens and migrates, retrying while another process is doing the same to a new file: SQLite answers
 * some of those collisions (switching to WAL, its first read of a file being initialised) with
 * SQLITE_BUSY at once instead of calling the busy handler, so busy_timeout alone does not cover them.
 */
function openAndMigrate(file: string): Database.Database {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    let db: Database.Database | null = null;
    try {
      db = openDatabase(file);
      migrate(db);
      return db;
    } catch (err) {
      db?.close();
      const waited = Date.now() - started;
      if (isBusy(err) && waited < BUSY_TIMEOUT_MS) {
        sleepSync(Math.min(25 * attempt, 250));
        continue;
      }
      // SQLite's own messages ("unable to open database file", "file is not a database") do not say which file.
      const reason = isBusy(err) ? `another process holds its write lock (waited ${waited} ms)` : errorMessage(err);
      throw new ConfigError(`cannot open the store at ${displayPath(file)} (storage.path): ${reason}`, 'store_unusable', err);
    }
  }
}

/** The store is synchronous (better-sqlite3), and so is its wait between attempts to open it. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class SqliteStore implements OutcomeStore {
  readonly db: Database.Database;
  private readonly now: () => number;

  constructor(options: SqliteStoreOptions) {
    this.db = openAndMigrate(options.path);
    this.now = options.now ?? Date.now;
  }

  importSamples(samples: readonly OutcomeSample[]): ImportResult {
    const getSample = this.db.prepare<[string], SampleRow>('SELECT id, prompt, prompt_hash, source, origin FROM samples WHERE id = ?');
    const getOutcomes = this.db.prepare<[string], OutcomeRow>('SELECT sample_id, model, score, cost FROM outcomes WHERE sample_id = ? ORDER BY model');
    const upsertSample = this.db.prepare(
      `INSERT INTO samples (id, prompt, prompt_hash, source, origin, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET prompt = excluded.prompt, prompt_hash = excluded.prompt_hash,
         source = excluded.source, origin = excluded.origin`,
    );
    const deleteOutcomes = this.db.prepare('DELETE FROM outcomes WHERE sample_id = ?');
    const insertOutcome = this.db.prepare('INSERT INTO outcomes (sample_id, model, score, cost, updated_at) VALUES (?, ?, ?, ?, ?)');
    const result: ImportResult = { inserted: 0, updated: 0, unchanged: 0 };
    writeTransaction(this.db, () => {
      const stamp = this.now();
      for (const s of samples) {
        const existing = getSample.get(s.id);
        // Ids are shared by imported and feedback rows (a feedback row's is its decision's): an import
        // keyed by decision id (rated decisions exported and edited) would silently replace the ratings.
        if (existing?.origin === 'feedback' && s.origin !== 'feedback') throw new FeedbackIdTakenError(s.id);
        if (existing && sameSample(existing, getOutcomes.all(s.id), s)) {
          result.unchanged++;
          continue;
        }
        upsertSample.run(s.id, s.prompt, promptHash(s.prompt), s.source, s.origin, stamp);
        deleteOutcomes.run(s.id);
        for (const [model, score] of Object.entries(s.outcomes)) {
          insertOutcome.run(s.id, model, score, s.costs[model] ?? null, stamp);
        }
        if (existing) result.updated++;
        else result.inserted++;
      }
    });
    return result;
  }

  listSamples(): OutcomeSample[] {
    const rows = this.db
      .prepare<[], SampleRow>(
        `SELECT id, prompt, prompt_hash, source, origin FROM samples s WHERE ${TRAINABLE} ORDER BY id`,
      )
      .all();
    const outcomes = this.db.prepare<[], OutcomeRow>('SELECT sample_id, model, score, cost FROM outcomes ORDER BY sample_id, model').all();
    const bySample = new Map<string, OutcomeRow[]>();
    for (const o of outcomes) {
      const list = bySample.get(o.sample_id);
      if (list) list.push(o);
      else bySample.set(o.sample_id, [o]);
    }
    return rows.map((r) => {
      const sample: OutcomeSample = { id: r.id, prompt: r.prompt ?? '', source: r.source, origin: r.origin, outcomes: {}, costs: {} };
      for (const o of bySample.get(r.id) ?? []) {
        sample.outcomes[o.model] = o.score;
        if (o.cost !== null) sample.costs[o.model] = o.cost;
      }
      return sample;
    });
  }

  trainedPromptHashes(): Set<string> {
    const hashes = this.db
      .prepare<[], string>(`SELECT prompt_hash FROM samples s WHERE ${TRAINABLE}`)
      .pluck()
      .all();
    return new Set(hashes);
  }

  countSamples(): { samples: number; outcomes: number } {
    const samples = this.db.prepare('SELECT COUNT(*) FROM samples').pluck().get() as number;
    const outcomes = this.db.prepare('SELECT COUNT(*) FROM outcomes').pluck().get() as number;
    return { samples, outcomes };
  }

  countRatingsWithoutPrompt(): number {
    return this.db.prepare('SELECT COUNT(*) FROM feedback f JOIN decisions d ON d.id = f.decision_id WHERE d.prompt IS NULL').pluck().get() as number;
  }

  getEmbeddings(embedderId: string, promptHashes: readonly string[]): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    const stmt = this.db.prepare<[string, string], { vector: Buffer }>('SELECT vector FROM embeddings WHERE embedder_id = ? AND prompt_hash = ?');
    for (const h of promptHashes) {
      const row = stmt.get(embedderId, h);
      if (row) out.set(h, bufferToFloat32(row.vector));
    }
    return out;
  }

  putEmbeddings(embedderId: string, entries: readonly { promptHash: string; vector: Float32Array }[]): void {
    const stmt = this.db.prepare('INSERT OR REPLACE INTO embeddings (embedder_id, prompt_hash, dim, vector) VALUES (?, ?, ?, ?)');
    writeTransaction(this.db, () => {
      for (const e of entries) {
        stmt.run(embedderId, e.promptHash, e.vector.length, Buffer.from(e.vector.buffer, e.vector.byteOffset, e.vector.byteLength));
      }
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function bufferToFloat32(buf: Buffer): Float32Array {
  // Copy: the Buffer may not be 4-byte aligned and better-sqlite3 may reuse it.
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new Float32Array(copy.buffer);
}

function sameSample(row: SampleRow, outcomes: OutcomeRow[], s: OutcomeSample): boolean {
  if (row.prompt !== s.prompt || row.source !== s.source || row.origin !== s.origin) return false;
  const models = Object.keys(s.outcomes).sort();
  if (models.length !== outcomes.length) return false;
  return outcomes.every((o, i) => o.model === models[i] && o.score === s.outcomes[o.model] && o.cost === (s.costs[o.model] ?? null));
}
