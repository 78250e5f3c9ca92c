// A classifier's reference prompts (reference.json beside classifier.json, optional): the classifier's
// honest (out-of-fold) predictions for a sample of its training prompts and those prompts' estimated
// input tokens. The average policy (value-policy.ts) sets its price of success λ so that the mean
// predicted success over these prompts, at today's configured prices, reaches the target.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors';
import { readClassifierJson } from './classifier-sidecar';

export const REFERENCE_FILE = 'reference.json';

export const referenceSchema = z
  .object({
    format: z.literal('switchyard-reference/1'),
    /** Column order of `p`; must be the classifier's models, in its order. */
    models: z.array(z.string().min(1)).min(1),
    inputTokens: z.array(z.number().int().positive()),
    p: z.array(z.array(z.number().min(0).max(1))),
  })
  .refine((r) => r.p.length === r.inputTokens.length, { message: 'p and inputTokens must have one entry per prompt' })
  .refine((r) => r.p.every((row) => row.length === r.models.length), { message: 'each row of p needs one value per model' });

export type ClassifierReference = z.infer<typeof referenceSchema>;

/** The folder's reference, null when it has none; a file that is there but wrong is an error. */
export function readReference(dir: string, models: readonly string[]): ClassifierReference | null {
  const file = path.join(dir, REFERENCE_FILE);
  if (!fs.existsSync(file)) return null;
  const reference = readClassifierJson(file, referenceSchema, 'classifier reference');
  if (reference.models.join('\n') !== models.join('\n')) {
    throw new ConfigError(`classifier reference ${file} lists models ${reference.models.join(', ')} but the classifier has ${models.join(', ')}`, 'classifier_invalid');
  }
  return reference;
}
