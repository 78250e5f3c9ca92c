import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite-store';
import { promptHash } from '../src/store/prompt-hash';
import type { OutcomeSample } from '../src/store/types';
import { makeTempDir } from './support/temp-dir';

const sample = (id: string, outcomes: Record<string, number>, extra: Partial<OutcomeSample> = {}): OutcomeSample => ({
  id, prompt: `prompt ${id}`, source: 'test', outcomes, costs: {}, origin: 'import', ...extra,
});

describe('SqliteStore', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let store: SqliteStore;
  beforeEach(() => {
    tmp = makeTempDir();
    store = new SqliteStore({ path: path.join(tmp.dir, 'nested', 'db.sqlite'), now: () => 1_700_000_000_000 });
  });
  afterEach(() => {
    store.close();
    tmp.cleanup();
  });

  it('creates the file, records the schema version and upserts samples idempotently by id', () => {
    expect(fs.existsSync(path.join(tmp.dir, 'nested', 'db.sqlite'))).toBe(true);
    const versions = store.db.prepare('SELECT version FROM schema_migrations').pluck().all();
    expect(versions).toContain(1);
    expect(store.importSamples([sample('a', { m1: 1, m2: 0 }), sample('b', { m1: 0.5 }, { costs: { m1: 0.002 } })])).toEqual({ inserted: 2, updated: 0, unchanged: 0 });
    expect(store.importSamples([sample('a', { m1: 1, m2: 0 }), sample('b', { m1: 0.5 }, { costs: { m1: 0.002 } })])).toEqual({ inserted: 0, updated: 0, unchanged: 2 });
    expect(store.importSamples([sample('a', { m1: 0 })])).toEqual({ inserted: 0, updated: 1, unchanged: 0 });
    const rows = store.listSamples();
    expect(rows.map((r) => r.id)).toEqual(['a', 'b']);
    // The update replaced a's outcomes wholesale: m2 is unknown now, not a stale 0.
    expect(rows[0].outcomes).toEqual({ m1: 0 });
    expect(rows[1]).toMatchObject({ outcomes: { m1: 0.5 }, costs: { m1: 0.002 } });
    expect(store.countSamples()).toEqual({ samples: 2, outcomes: 2 });
  });

  it('writes all samples of an import or none', () => {
    store.importSamples([sample('keep', { m1: 1 })]);
    // The second sample violates the outcome range check inside the transaction.
    expect(() => store.importSamples([sample('new', { m1: 1 }), sample('bad', { m1: 7 })])).toThrow();
    expect(store.listSamples().map((r) => r.id)).toEqual(['keep']);
    expect(store.countSamples()).toEqual({ samples: 1, outcomes: 1 });
  });

  it('lists the prompt hashes retrain would train on: samples with outcomes only', () => {
    store.importSamples([sample('a', { m1: 1 }), sample('b', {}), sample('c', { m2: 0.5 })]);
    expect(store.trainedPromptHashes()).toEqual(new Set([promptHash('prompt a'), promptHash('prompt c')]));
  });

  it('caches embeddings per embedder and prompt hash', () => {
    const v = Float32Array.from([0.5, -0.25, 1]);
    store.putEmbeddings('emb-a', [{ promptHash: 'h1', vector: v }]);
    expect(Array.from(store.getEmbeddings('emb-a', ['h1', 'h2']).get('h1')!)).toEqual([0.5, -0.25, 1]);
    expect(store.getEmbeddings('emb-a', ['h2']).size).toBe(0);
    expect(store.getEmbeddings('emb-b', ['h1']).size).toBe(0);
  });

  it('brings an existing database forward without touching its data', () => {
    store.importSamples([sample('a', { m1: 1 })]);
    store.close();
    const reopened = new SqliteStore({ path: path.join(tmp.dir, 'nested', 'db.sqlite') });
    expect(reopened.listSamples()).toHaveLength(1);
    reopened.close();
    const raw = new Database(path.join(tmp.dir, 'nested', 'db.sqlite'));
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });
});
