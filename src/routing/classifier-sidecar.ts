// The classifier's JSON sidecar (classifier.json beside model.onnx). Anything that writes an ONNX model
// with input `embedding` float32 [N, D] and output `p_success` float32 [N, M] plus this file can be
// dropped into models/router/<version>/ — including models trained outside Switchyard.
import fs from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors';
import { formatIssues } from '../config/load-config';

export const CLASSIFIER_FILE = 'model.onnx';
export const SIDECAR_FILE = 'classifier.json';
export const CURRENT_FILE = 'CURRENT';

const metricsRecord = z.record(z.string(), z.number().nullable());

export const sidecarSchema = z.object({
  format: z.literal('switchyard-classifier/1').default('switchyard-classifier/1'),
  version: z.string().min(1),
  createdAt: z.string(),
  /** Model ids in the order of the p_success columns. */
  models: z.array(z.string().min(1)).min(1),
  embedder: z.object({ id: z.string().min(1), dimension: z.number().int().positive() }),
  /** What the `embedding` input holds; `embedding` = the embedder's vector alone. */
  features: z
    .object({ kind: z.string().min(1).default('embedding'), dimension: z.number().int().positive(), notes: z.string().optional() })
    .optional(),
  training: z
    .object({
      rows: z.number().int().nonnegative(),
      outcomes: z.record(z.string(), z.number().int().nonnegative()).optional(),
      sources: z.record(z.string(), z.number().int().nonnegative()).optional(),
      learner: z.string().optional(),
      seed: z.number().int().optional(),
      /** How the validation rows were chosen (training/dataset.ts SPLIT_SCHEME); absent: by row id, before 2026-11-27. */
      split: z.string().optional(),
      seconds: z.number().optional(),
    })
    .loose()
    .optional(),
  validation: z
    .object({
      rows: z.number().int().nonnegative(),
      perModel: z.record(z.string(), metricsRecord).optional(),
      routing: metricsRecord.optional(),
      /** 95% bootstrap interval of each routing figure over the validation rows (null: undefined there). */
      routingIntervals: z.record(z.string(), z.object({ lo: z.number(), hi: z.number(), defined: z.number().int().nonnegative() }).nullable()).optional(),
      /** With rows of two kinds or more: the headline figures per kind (the first segment of the source). */
      routingBySource: z.record(z.string(), metricsRecord).optional(),
    })
    .loose()
    .optional(),
}).loose();

export type ClassifierSidecar = z.infer<typeof sidecarSchema>;

/** A JSON file of a classifier folder, validated; what is wrong is a ConfigError naming the file. */
export function readClassifierJson<T>(file: string, schema: z.ZodType<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${file}: ${(err as Error).message}`, 'classifier_invalid', err);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`invalid ${what} ${file}:\n${formatIssues(parsed.error.issues)}`, 'classifier_invalid');
  return parsed.data;
}
