// What the router benchmarks share: the default embedder, loaded (built first if needed), and a store in a
// temporary folder holding the rows a classifier is trained on, removed afterwards.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStore } from '../src/store/sqlite-store';
import { type TransformersEmbedder, createTransformersEmbedder, ensureDefaultEmbedder } from '../src/embedding/transformers-embedder';
import type { LabelledRow } from '../training/dataset';

export async function loadDefaultEmbedder(modelsDirFlag: string | undefined): Promise<TransformersEmbedder> {
  const modelsDir = path.resolve(modelsDirFlag ?? 'models/embedder');
  await ensureDefaultEmbedder({ modelsDir, onProgress: (m) => console.error(m) });
  const embedder = createTransformersEmbedder({ model: 'default', modelsDir });
  await embedder.load();
  return embedder;
}

/** Runs `fn` with a fresh store holding `rows` as imported outcomes, in a temporary folder `fn` may also use. */
export async function withImportedStore<T>(rows: readonly LabelledRow[], fn: (store: SqliteStore, dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-'));
  const store = new SqliteStore({ path: path.join(dir, 'bench.db') });
  try {
    store.importSamples(rows.map((r) => ({ ...r, origin: 'import' as const })));
    return await fn(store, dir);
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
