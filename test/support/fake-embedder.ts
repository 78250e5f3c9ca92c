// A deterministic stand-in embedder for fast tests: hashed bag of words, L2-normalised. Similar prompts
// (sharing words) land close together, which is all the routing tests need.
import type { Embedder } from '../../src/embedding/embedder';

export function createFakeEmbedder(dimension = 32, id = 'fake-bow-32'): Embedder & { calls: number } {
  const embedder = {
    id,
    dimension,
    calls: 0,
    async embed(texts: readonly string[]): Promise<Float32Array[]> {
      embedder.calls += texts.length;
      return texts.map((t) => {
        const v = new Float32Array(dimension);
        for (const w of t.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
          let h = 2166136261;
          for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 16777619) >>> 0;
          v[h % dimension] += 1;
        }
        let n = 0;
        for (const x of v) n += x * x;
        n = Math.sqrt(n);
        if (n === 0) v[0] = 1;
        else for (let i = 0; i < dimension; i++) v[i] /= n;
        return v;
      });
    },
    async dispose(): Promise<void> {},
  };
  return embedder;
}
