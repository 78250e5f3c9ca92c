// SQLite implementation of the outcome store (better-sqlite3, WAL). Synchronous by design: every call
// is a short indexed statement or one transaction, so it never waits on anything but the disk.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations';
import { promptHash } from './prompt-hash';
import type { ImportResult, OutcomeSample, OutcomeStore, SampleOrigin } from './types';

export interface SqliteStoreOptions {
  path: string;
  /** Clock for created/updated stamps; passed in so tests can fix it. */
  now?: () => number;
}

/** The samples `retrain` trains on (alias `s`): those with a prompt and at least one outcome. */
const TRAINABLE = 'prompt IS NOT NULL AND EXISTS (SELECT 1 FROM outcomes o WHERE o.sample_id = s.id)';

interface SampleRow { id: string; prompt: string | null; prompt_hash: string; source: string | null; origin: SampleOrigin }
interface OutcomeRow { sample_id: string; model: string; score: number; cost: number | null }

export function openDatabase(file: string): Database.Database {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

export class SqliteStore implements OutcomeStore {
  readonly db: Database.Database;
  private readonly now: () => number;

  constructor(options: SqliteStoreOptions) {
    this.db = openDatabase(options.path);
    this.now = options.now ?? Date.now;
    migrate(this.db);
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
    this.db.transaction(() => {
      const stamp = this.now();
      for (const s of samples) {
        const existing = getSample.get(s.id);
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
    })();
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
    this.db.transaction(() => {
      for (const e of entries) {
        stmt.run(embedderId, e.promptHash, e.vector.length, Buffer.from(e.vector.buffer, e.vector.byteOffset, e.vector.byteLength));
      }
    })();
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
