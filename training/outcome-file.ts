// Reads routing-outcome JSONL (the format of ../shared/data/README.md): one object per line with `id`,
// `prompt`, `outcomes {model: 0|1|score}`, optional `source` and `costs`. Every line is checked; the
// first bad line stops the read with its line number, so nothing half-read is ever used.
import fs from 'node:fs';
import { z } from 'zod';
import { InvalidInputError } from '../src/errors';
import { formatIssues } from '../src/config/load-config';

const id = z.union([z.string().min(1), z.number().int()]).transform((v) => String(v));

export const outcomeRowSchema = z.object({
  id,
  prompt: z.string(),
  source: z.string().nullish().transform((v) => v ?? null),
  outcomes: z
    .record(z.string().min(1), z.number().min(0, 'outcomes must be in [0,1]').max(1, 'outcomes must be in [0,1]'))
    .refine((o) => Object.keys(o).length > 0, 'at least one model outcome is needed'),
  costs: z.record(z.string().min(1), z.number().nonnegative()).optional().transform((v) => v ?? {}),
});
export type OutcomeRow = z.infer<typeof outcomeRowSchema>;

/** Rows to score: only `id` and `prompt` are needed; anything else is ignored. */
export const promptRowSchema = z.object({ id, prompt: z.string() });
export type PromptRow = z.infer<typeof promptRowSchema>;

export function parseJsonl<T>(text: string, schema: z.ZodType<T>, origin: string): T[] {
  const rows: T[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const where = `${origin}: line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new InvalidInputError(`${where}: not valid JSON (${(err as Error).message})`, null, 'invalid_file');
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new InvalidInputError(`${where}: invalid row:\n${formatIssues(parsed.error.issues)}`, null, 'invalid_file');
    }
    const rowId = (parsed.data as { id?: string }).id;
    if (rowId !== undefined) {
      const first = seen.get(rowId);
      if (first !== undefined) {
        throw new InvalidInputError(`${where}: id "${rowId}" already appeared on line ${first}`, null, 'invalid_file');
      }
      seen.set(rowId, i + 1);
    }
    rows.push(parsed.data);
  }
  return rows;
}

export function readJsonlFile<T>(file: string, schema: z.ZodType<T>): T[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(`cannot read ${file}: ${(err as Error).message}`, null, 'file_not_readable');
  }
  return parseJsonl(text, schema, file);
}

export const readOutcomeFile = (file: string): OutcomeRow[] => readJsonlFile(file, outcomeRowSchema);
export const readPromptFile = (file: string): PromptRow[] => readJsonlFile(file, promptRowSchema);
