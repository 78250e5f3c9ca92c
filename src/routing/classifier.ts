// The success classifier's interface: for a batch of feature rows, the probability that each known model
// answers well. Implementation: src/routing/onnx-classifier.ts.
import type { ClassifierReference } from './classifier-reference';

export interface SuccessClassifier {
  readonly version: string;
  /** Model ids in the order of the probability columns. */
  readonly models: readonly string[];
  readonly embedderId: string;
  /** Length of one feature row (the `embedding` input's second dimension). */
  readonly inputDim: number;
  /** How feature rows are built from the embedding and prompt (src/routing/features.ts). */
  readonly featureKind: string;
  /** Predictions for sample prompts, which the average policy needs; null when the folder has none. */
  readonly reference?: ClassifierReference | null;
  /** rows × models probabilities, row-major, for `rows` feature rows laid end to end. */
  predict(features: Float32Array, rows: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}
