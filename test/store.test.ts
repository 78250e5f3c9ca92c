import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import Database from 'better-sqlite3';
import { ConfigError, SwitchyardError } from '../src/errors';
import { migrate, MIGRATIONS } from '../src/store/migrations';
import { openDatabase, SqliteStore } from '../src/store/sqlite-store';
import { promptHash } from '../src/store/prompt-hash';
import type { OutcomeSample } from '../src/store/types';
import { makeTempDir } from './support/temp-dir';

const sample = (id: string, outcomes: Record<string, number>, extra: Partial<OutcomeSample> = {}): OutcomeSample => ({
  id, prompt: `prompt ${id}`, source: 'test', outcomes, costs: {}, origin: 'import', ...extra,
});

const ROOT = path.resolve(__dirname, '..');

// Lets a child process require the TypeScript sources, as jest does for this one.
const TS_HOOK = `
  const ts = require('typescript');
  require.extensions['.ts'] = (module, filename) => {
    const source = require('node:fs').readFileSync(filename, 'utf8');
    const options = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true };
    module._compile(ts.transpileModule(source, { compilerOptions: options, fileName: filename }).outputText, filename);
  };
  const onLine = (fn) => require('node:readline').createInterface({ input: process.stdin }).on('line', fn);
  const say = (line) => process.stdout.write(line + '\\n');
`;

interface Child {
  send(line: string): void;
  /** The child's next line of output; rejects if it exits first. */
  next(): Promise<string>;
  close(): void;
}

/** Another process on the same file: better-sqlite3 blocks this one's event loop while it waits on a lock. */
function spawnChild(script: string): Child {
  const child = spawn(process.execPath, ['-e', `${TS_HOOK}\n${script}`], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  let stderr = '';
  let exited: Error | null = null;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w.resolve(line);
    else lines.push(line);
  });
  child.on('close', (code) => {
    exited = new Error(`child exited (${code}) before answering: ${stderr}`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  return {
    send: (line) => child.stdin.write(`${line}\n`),
    next: () => {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(line);
      if (exited) return Promise.reject(exited);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    close: () => {
      child.stdin.end();
      if (child.exitCode === null) child.kill();
    },
  };
}

/**
 * Holds the file's write lock (with an uncommitted row, as the server's decision-log batch would) from
 * 'locked' until a line arrives on stdin and `holdMs` more have passed; then commits and says 'released <time>'.
 */
const lockHolder = (file: string, holdMs: number): string => `
  const db = new (require('better-sqlite3'))(${JSON.stringify(file)});
  db.pragma('busy_timeout = 5000');
  db.exec('BEGIN IMMEDIATE');
  db.prepare("INSERT INTO samples (id, prompt, prompt_hash, source, origin, created_at) VALUES ('held', 'p', 'h', NULL, 'import', 0)").run();
  say('locked');
  onLine(() => setTimeout(() => {
    db.exec('COMMIT');
    db.close();
    say('released ' + Date.now());
    process.exit(0);
  }, ${holdMs}));
`;

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

  it('names the file when it cannot open the store', () => {
    const dir = path.join(tmp.dir, 'a-directory');
    fs.mkdirSync(dir);
    const text = path.join(tmp.dir, 'notes.txt');
    fs.writeFileSync(text, 'not a database, just some text that is long enough to fill a header page\n'.repeat(20));
    for (const [file, reason] of [[dir, 'unable to open database file'], [text, 'file is not a database']]) {
      let caught: unknown;
      try {
        new SqliteStore({ path: path.relative(process.cwd(), file) }).close();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as Error).message).toBe(`cannot open the store at ${file} (storage.path): ${reason}`);
      expect((caught as Error).cause).toMatchObject({ code: expect.stringMatching(/^SQLITE_/) });
    }
  });

  it('skips a migration that another connection applied after this one first looked', () => {
    const file = path.join(tmp.dir, 'late.sqlite');
    const first = openDatabase(file);
    const second = openDatabase(file);
    // migrate() reads the applied versions, then walks the list: the second connection migrates in between,
    // as another process opening the same new file may.
    const racing = Object.assign([...MIGRATIONS], {
      *[Symbol.iterator]() {
        migrate(second);
        yield* MIGRATIONS;
      },
    });
    try {
      expect(migrate(first, racing)).toEqual([]);
      expect(first.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      first.close();
      second.close();
    }
  });

  describe('beside another process', () => {
    const file = () => path.join(tmp.dir, 'nested', 'db.sqlite');
    let children: Child[] = [];
    const start = (script: string): Child => {
      const child = spawnChild(script);
      children.push(child);
      return child;
    };
    afterEach(() => {
      for (const c of children) c.close();
      children = [];
    });

    it('waits for the write lock to import instead of failing on a read taken before it', async () => {
      const holder = start(lockHolder(file(), 300));
      expect(await holder.next()).toBe('locked');
      holder.send('release');
      const started = Date.now();
      // Reads samples before writing: a deferred transaction failed here at once with SQLITE_BUSY.
      expect(store.importSamples([sample('a', { m1: 1 }), sample('b', { m1: 0 })])).toEqual({ inserted: 2, updated: 0, unchanged: 0 });
      const released = await holder.next();
      expect(Number(released.split(' ')[1])).toBeGreaterThan(started);
      expect(store.countSamples().samples).toBe(3);
    });

    it('says who holds the lock when a write gives up waiting for it', async () => {
      const holder = start(lockHolder(file(), 0));
      expect(await holder.next()).toBe('locked');
      store.db.pragma('busy_timeout = 100');
      const busy = `another process holds the write lock of the store at ${file()} (storage.path)`;
      for (const write of [
        () => store.importSamples([sample('a', { m1: 1 })]),
        () => store.putEmbeddings('emb', [{ promptHash: 'h', vector: Float32Array.from([1]) }]),
      ]) {
        let caught: unknown;
        try {
          write();
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(SwitchyardError);
        expect((caught as Error).message).toContain(busy);
        expect((caught as Error).cause).toMatchObject({ code: expect.stringMatching(/^SQLITE_BUSY/) });
      }
      holder.send('release');
      expect(await holder.next()).toMatch(/^released/);
      expect(store.importSamples([sample('a', { m1: 1 })])).toEqual({ inserted: 1, updated: 0, unchanged: 0 });
    });

    it('lets two processes create the same new database at once: each migration runs once', async () => {
      const opener = `
        const { SqliteStore } = require('./src/store/sqlite-store.ts');
        onLine((file) => {
          try {
            new SqliteStore({ path: file }).close();
            say('ok');
          } catch (err) {
            say('error ' + err.message);
          }
        });
        say('ready');
      `;
      const openers = [start(opener), start(opener)];
      expect(await Promise.all(openers.map((c) => c.next()))).toEqual(['ready', 'ready']);
      for (let round = 0; round < 10; round++) {
        const db = path.join(tmp.dir, `race-${round}`, 'db.sqlite');
        for (const c of openers) c.send(db);
        expect(await Promise.all(openers.map((c) => c.next()))).toEqual(['ok', 'ok']);
        const raw = new Database(db);
        const applied = raw.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
        raw.close();
        expect(applied).toEqual(MIGRATIONS.map((m) => m.version));
      }
    });
  });
});
