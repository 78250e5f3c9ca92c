// Starts the real server (startServer, as `npm start` does) from a YAML config in a temporary folder, with
// the fake embedder, and offers small typed helpers for calling it.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { loadConfigFile } from '../../src/cli/context';
import { startServer, type RunningServer } from '../../src/cli/serve';
import { SqliteStore } from '../../src/store/sqlite-store';
import { ApiKeyStore } from '../../src/store/api-key-store';
import { createFakeEmbedder } from './fake-embedder';
import { makeTempDir } from './temp-dir';

export type Json = Record<string, unknown>;
export interface ErrorJson {
  error: { message: string; type: string; param: string | null; code: string | null };
}
export interface ListJson<T> {
  object: 'list';
  data: T[];
  has_more?: boolean;
  next_cursor?: string | null;
}

export interface TestGateway {
  url: string;
  dir: string;
  dbPath: string;
  logs: string[];
  server: RunningServer;
  /** fetch against the server with an optional bearer key; returns status, headers and parsed JSON. */
  call<T = Json>(method: string, p: string, options?: { key?: string; body?: unknown; raw?: string }): Promise<{ status: number; headers: Headers; json: T; text: string }>;
  /** Reads the decision log straight from SQLite (a second connection; WAL lets it read while the server writes). */
  rows<T = Json>(sql: string, ...params: unknown[]): T[];
  close(): Promise<void>;
}

export interface GatewayOptions {
  yaml: string;
  env?: Record<string, string>;
  /** Keys created in the database before the server starts. */
  keys?: { name: string; admin?: boolean }[];
}

export async function startTestGateway(options: GatewayOptions): Promise<TestGateway & { keys: Record<string, string> }> {
  const tmp = makeTempDir();
  fs.writeFileSync(path.join(tmp.dir, 'switchyard.yaml'), options.yaml);
  const loaded = loadConfigFile(path.join(tmp.dir, 'switchyard.yaml'));
  const dbPath = loaded.resolve(loaded.config.storage.path);
  const keys: Record<string, string> = {};
  if (options.keys?.length) {
    const store = new SqliteStore({ path: dbPath });
    const keyStore = new ApiKeyStore(store.db);
    for (const k of options.keys) keys[k.name] = keyStore.create(k.name, k.admin ?? false).key;
    store.close();
  }
  const logs: string[] = [];
  // No fetch given: the server's default (the keep-alive agent fetch that production uses).
  const server = await startServer({ loaded, embedder: createFakeEmbedder(), log: (m) => logs.push(m), env: options.env ?? {} });
  let reader: Database.Database | null = null;
  let closed = false;

  return {
    url: server.url,
    dir: tmp.dir,
    dbPath,
    logs,
    server,
    keys,
    async call<T = Json>(method: string, p: string, { key, body, raw }: { key?: string; body?: unknown; raw?: string } = {}) {
      const headers: Record<string, string> = {};
      if (key) headers.authorization = `Bearer ${key}`;
      if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${server.url}${p}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
      const text = await res.text();
      let json: unknown = {};
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON: the test looks at `text`
      }
      // The test names the shape it expects and then asserts on it.
      return { status: res.status, headers: res.headers, json: json as T, text };
    },
    rows<T = Json>(sql: string, ...params: unknown[]): T[] {
      reader ??= new Database(dbPath, { readonly: true });
      return reader.prepare(sql).all(...params) as T[];
    },
    async close() {
      if (closed) return;
      closed = true;
      reader?.close();
      await server.close();
      tmp.cleanup();
    },
  };
}

/** Polls until `check` returns a value other than undefined, or fails after `ms`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, ms = 3_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
