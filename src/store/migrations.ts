// Versioned schema migrations. Each runs once, in order, inside a transaction; the applied versions are
// recorded in schema_migrations so an older database is brought forward on open.
import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'outcomes and embedding cache',
    sql: `
      CREATE TABLE samples (
        id          TEXT PRIMARY KEY,
        prompt      TEXT,
        prompt_hash TEXT NOT NULL,
        source      TEXT,
        origin      TEXT NOT NULL CHECK (origin IN ('import', 'feedback')),
        created_at  INTEGER NOT NULL
      );
      CREATE TABLE outcomes (
        sample_id  TEXT NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        model      TEXT NOT NULL,
        score      REAL NOT NULL CHECK (score >= 0 AND score <= 1),
        cost       REAL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (sample_id, model)
      ) WITHOUT ROWID;
      CREATE TABLE embeddings (
        embedder_id TEXT NOT NULL,
        prompt_hash TEXT NOT NULL,
        dim         INTEGER NOT NULL,
        vector      BLOB NOT NULL,
        PRIMARY KEY (embedder_id, prompt_hash)
      ) WITHOUT ROWID;
    `,
  },
];

export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const applied = new Set(
    db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[],
  );
  const ran: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
    ran.push(m.version);
  }
  return ran;
}
