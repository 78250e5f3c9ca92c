// Runs a classifier folder (model.onnx + classifier.json) with onnxruntime-node.
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ConfigError, ModelMismatchError } from '../errors';
import { CLASSIFIER_FILE, SIDECAR_FILE, type ClassifierSidecar, readClassifierJson, sidecarSchema } from './classifier-sidecar';
import type { SuccessClassifier } from './classifier';
import { readReference } from './classifier-reference';
import { featureKind, rowLength } from './features';

export function readSidecar(dir: string): ClassifierSidecar {
  return readClassifierJson(path.join(dir, SIDECAR_FILE), sidecarSchema, 'classifier sidecar');
}

export interface LoadClassifierOptions {
  /** The running embedder: a classifier trained on another embedder's vectors is refused. */
  expectEmbedderId?: string;
  /** The running embedder's width: a sidecar that says another would read rows out of bounds, or zero-padded. */
  expectEmbedderDimension?: number;
}

export async function loadOnnxClassifier(dir: string, options: LoadClassifierOptions = {}): Promise<SuccessClassifier & { sidecar: ClassifierSidecar }> {
  const sidecar = readSidecar(dir);
  if (options.expectEmbedderId !== undefined && sidecar.embedder.id !== options.expectEmbedderId) {
    throw new ModelMismatchError(
      `classifier ${sidecar.version} was trained on embedder "${sidecar.embedder.id}" but the running embedder is "${options.expectEmbedderId}"; retrain it with this embedder`,
    );
  }
  if (options.expectEmbedderDimension !== undefined && sidecar.embedder.dimension !== options.expectEmbedderDimension) {
    throw new ModelMismatchError(
      `classifier ${sidecar.version} says its embedder makes ${sidecar.embedder.dimension}-d vectors but the running embedder makes ${options.expectEmbedderDimension}-d ones; fix embedder.dimension in its sidecar or retrain it`,
    );
  }
  const kindName = sidecar.features?.kind ?? 'embedding';
  const kind = featureKind(kindName);
  const inputDim = rowLength(kind, sidecar.embedder.dimension);
  if (sidecar.features && sidecar.features.dimension !== inputDim) {
    throw new ConfigError(
      `classifier ${sidecar.version}: features "${kindName}" over a ${sidecar.embedder.dimension}-d embedding make ${inputDim} values, but the sidecar says ${sidecar.features.dimension}`,
      'classifier_invalid',
    );
  }
  const reference = readReference(dir, sidecar.models);
  let session: ort.InferenceSession;
  try {
    // One intra-op thread: a single routing row is tiny, and thread hand-offs cost more than they save.
    session = await ort.InferenceSession.create(path.join(dir, CLASSIFIER_FILE), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new ConfigError(`cannot load classifier ${path.join(dir, CLASSIFIER_FILE)}: ${(err as Error).message}`, 'classifier_invalid', err);
  }
  if (!session.inputNames.includes('embedding') || !session.outputNames.includes('p_success')) {
    await session.release();
    throw new ConfigError(
      `classifier ${dir} must have input "embedding" and output "p_success" (has inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')})`,
      'classifier_invalid',
    );
  }
  const models = sidecar.models;
  /** `probe`: the row of zeros run at load, which some graphs (a norm they divide by) may answer with NaN. */
  const run = async (features: Float32Array, rows: number, probe = false): Promise<Float32Array> => {
    const out = await session.run({ embedding: new ort.Tensor('float32', features, [rows, inputDim]) });
    const data = out.p_success.data as Float32Array;
    if (data.length !== rows * models.length) {
      throw new ModelMismatchError(`classifier ${sidecar.version} returned ${data.length} values for ${rows}×${models.length} (rows × the sidecar's models)`);
    }
    // A drop-in graph may output logits or NaN; the policies compare probabilities with a target.
    for (let k = 0; k < data.length; k++) {
      if (!(data[k] >= 0 && data[k] <= 1) && !(probe && Number.isNaN(data[k]))) {
        throw new ModelMismatchError(`classifier ${sidecar.version} returned p_success ${data[k]} for ${models[k % models.length]} (a probability in [0, 1] is expected)`);
      }
    }
    return data;
  };
  // A batch through the graph before the version is accepted: a graph whose input or output width
  // disagrees with the sidecar, that takes one row at a time (requests are batched), or that outputs
  // logits would otherwise load, replace the classifier serving, and fail every request. A row of zeros
  // and three rows of seeded values in [−1, 1].
  const probeRows = 4;
  const probe = new Float32Array(probeRows * inputDim);
  let seed = 12345;
  for (let k = inputDim; k < probe.length; k++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    probe[k] = (seed / 2147483648) * 2 - 1;
  }
  try {
    await run(probe, probeRows, true);
  } catch (err) {
    await session.release();
    throw new ConfigError(`classifier ${dir} fails on a batch of ${probeRows} ${inputDim}-value rows (zeros, then values in [−1, 1]): ${(err as Error).message}`, 'classifier_invalid', err);
  }
  return {
    sidecar,
    version: sidecar.version,
    models,
    embedderId: sidecar.embedder.id,
    inputDim,
    featureKind: kindName,
    reference,
    async predict(features: Float32Array, rows: number): Promise<Float32Array> {
      if (features.length !== rows * inputDim) {
        throw new ModelMismatchError(`classifier ${sidecar.version} expects ${inputDim} features per row, got ${features.length / Math.max(rows, 1)}`);
      }
      return run(features, rows);
    },
    async dispose(): Promise<void> {
      await session.release();
    },
  };
}
