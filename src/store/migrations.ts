// Versioned schema migrations. Each runs once, in order, inside a transaction; the applied versions are
// recorded in schema_migrations so an older database is brought forward on open. Two processes may open
// a database at the same time, so each migration takes the write lock first and checks again under it.
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
  {
    version: 2,
    name: 'decision log, feedback and client API keys',
    // Attempts and candidates are JSON: they are read whole with their decision, never queried into.
    // `answered_model` is null when no model answered; stats and filters then count the routed model.
    sql: `
      CREATE TABLE decisions (
        id                 TEXT PRIMARY KEY,
        created_at         INTEGER NOT NULL,
        api_key_id         TEXT,
        api_key_name       TEXT,
        prompt             TEXT,
        prompt_hash        TEXT NOT NULL,
        requested_model    TEXT NOT NULL,
        stream             INTEGER NOT NULL,
        routed_model       TEXT NOT NULL,
        answered_model     TEXT,
        reason             TEXT NOT NULL,
        target             REAL,
        classifier_version TEXT,
        embedder_id        TEXT,
        candidates         TEXT NOT NULL,
        fallbacks          TEXT NOT NULL,
        attempts           TEXT NOT NULL,
        failed_over        INTEGER NOT NULL,
        est_input_tokens   INTEGER NOT NULL,
        est_output_tokens  INTEGER NOT NULL,
        prompt_tokens      INTEGER,
        completion_tokens  INTEGER,
        cost               REAL,
        embed_ms           REAL NOT NULL,
        classify_ms        REAL NOT NULL,
        upstream_ms        REAL NOT NULL,
        total_ms           REAL NOT NULL,
        status             TEXT NOT NULL CHECK (status IN ('ok', 'error', 'aborted')),
        http_status        INTEGER NOT NULL,
        error_code         TEXT,
        error_message      TEXT
      );
      CREATE INDEX decisions_created_at ON decisions (created_at);
      CREATE INDEX decisions_api_key ON decisions (api_key_name, id);
      CREATE TABLE feedback (
        decision_id  TEXT PRIMARY KEY REFERENCES decisions(id) ON DELETE CASCADE,
        model        TEXT NOT NULL,
        score        REAL NOT NULL CHECK (score >= 0 AND score <= 1),
        success      INTEGER,
        comment      TEXT,
        api_key_name TEXT,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE api_keys (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        key_hash   TEXT NOT NULL UNIQUE,
        prefix     TEXT NOT NULL,
        admin      INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );
      CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
    `,
  },
  {
    version: 3,
    name: 'decision policy and price of success',
    // Older rows were all decided by the per-request policy (or named a model / cold start): left null.
    sql: `
      ALTER TABLE decisions ADD COLUMN policy TEXT;
      ALTER TABLE decisions ADD COLUMN lambda REAL;
    `,
  },
  {
    version: 4,
    name: 'what the price of success was set on',
    // Older rows: null (their λ came from the classifier's reference prompts; the count was not kept).
    sql: `
      ALTER TABLE decisions ADD COLUMN lambda_basis TEXT;
      ALTER TABLE decisions ADD COLUMN lambda_prompts INTEGER;
    `,
  },
  {
    version: 5,
    name: 'predicted success of the answering model',
    // Kept as a column so /v1/stats can set it beside the clients' ratings in one SQL sum. Older rows get
    // it from their candidates (always written by JSON.stringify; json_valid guards against anything else).
    sql: `
      ALTER TABLE decisions ADD COLUMN answered_p_success REAL;
      UPDATE decisions SET answered_p_success = (
        SELECT json_extract(c.value, '$.pSuccess') FROM json_each(decisions.candidates) AS c
        WHERE json_extract(c.value, '$.model') = decisions.answered_model LIMIT 1)
      WHERE answered_model IS NOT NULL AND json_valid(candidates);
    `,
  },
  {
    version: 6,
    name: 'feedback correction of the average policy\'s target',
    // The correction reads the latest ratings (routing.average.feedback); older rows had none: null.
    sql: `
      ALTER TABLE decisions ADD COLUMN target_correction REAL;
      CREATE INDEX feedback_updated_at ON feedback (updated_at);
    `,
  },
  {
    version: 7,
    name: 'the classifier\'s own prediction for the answering model',
    // answered_p_success is what the policy used, recalibrated by ratings when routing.recalibration is on;
    // the fits read the classifier's own. Older rows were never recalibrated: the same value.
    sql: `
      ALTER TABLE decisions ADD COLUMN answered_p_classifier REAL;
      UPDATE decisions SET answered_p_classifier = answered_p_success;
    `,
  },
];

export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const appliedVersions = db.prepare<[], number>('SELECT version FROM schema_migrations').pluck();
  // Read without a lock first, so opening an up-to-date database never waits on a writer.
  const applied = new Set(appliedVersions.all());
  const ran: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    const didRun = db.transaction(() => {
      // Another process may have applied it since the read above; under the write lock nobody else can.
      if (appliedVersions.all().includes(m.version)) return false;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
      return true;
    }).immediate();
    if (didRun) ran.push(m.version);
  }
  return ran;
}
