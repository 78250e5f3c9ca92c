// The embedder contract the router depends on; implementations live beside it (transformers-embedder.ts),
// tests may pass a deterministic fake.

export interface Embedder {
  /** Identifies the exact embedding space; a classifier trained on one id must not be used with another. */
  readonly id: string;
  /** Length of every vector `embed` returns. */
  readonly dimension: number;
  /** One L2-normalised vector per text, in order. */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
  /** Releases native resources (ONNX sessions). */
  dispose(): Promise<void>;
}
