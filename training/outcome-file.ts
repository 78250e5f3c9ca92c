// Reads routing-outcome JSONL (the format of ../shared/data/README.md): one object per line with `id`,
// `prompt`, `outcomes {model: 0|1|score}`, optional `source` and `costs`. Every line is checked; the
// first bad line stops the read with its line number, so nothing half-read is ever used.
import fs from 'node:fs';
import { z } from 'zod';
import { InvalidInputError } from '../src/errors';
import { formatIssues } from '../src/config/load-config';
import { wellFormedText } from '../src/util/well-formed-text';

// Half a surrogate pair would be stored as U+FFFD, and every re-import would "update" the row: refused with its line.
const text = wellFormedText;
// One message for every wrong id: a union's own is "Invalid input", which says nothing of what is wanted.
const ID_EXPECTED = 'a non-empty string or an integer is expected';
const idAsGiven = z.union([text().min(1), z.number().int()], { error: (issue) => (issue.input === undefined ? `required: ${ID_EXPECTED}` : ID_EXPECTED) });
/** Stored ids are strings: 7 and "7" name the same prompt. */
const id = idAsGiven.transform((v) => String(v));

export const outcomeRowSchema = z.object({
  id,
  prompt: text(),
  source: text().nullish().transform((v) => v ?? null),
  outcomes: z
    .record(z.string().min(1), z.number().min(0, 'outcomes must be in [0,1]').max(1, 'outcomes must be in [0,1]'))
    .refine((o) => Object.keys(o).length > 0, 'at least one model outcome is needed'),
  costs: z.record(z.string().min(1), z.number().nonnegative()).optional().transform((v) => v ?? {}),
});
export type OutcomeRow = z.infer<typeof outcomeRowSchema>;

/**
 * Rows to score: only `id` and `prompt` are needed; anything else is ignored. The id is echoed as given
 * (a number stays a number), so the scores join back to the input file on it.
 */
export const promptRowSchema = z.object({ id: idAsGiven, prompt: text() });
export type PromptRow = z.infer<typeof promptRowSchema>;

/**
 * Top-level keys rows have that the schema does not name (a typo such as "cost" would otherwise vanish),
 * each with the first line it was on, in the order met.
 */
export type UnknownKeys = Map<string, number>;

/** Rows with the line each came from (1-based), so later checks can name lines too. */
export function parseJsonlWithLines<T>(text: string, schema: z.ZodType<T>, origin: string, unknown?: { known: readonly string[]; found: UnknownKeys }): { row: T; line: number }[] {
  const rows: { row: T; line: number }[] = [];
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
    if (unknown && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const key of Object.keys(value)) {
        if (!unknown.known.includes(key) && !unknown.found.has(key)) unknown.found.set(key, i + 1);
      }
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new InvalidInputError(`${where}: invalid row:\n${formatIssues(parsed.error.issues)}`, null, 'invalid_file');
    }
    rows.push({ row: parsed.data, line: i + 1 });
  }
  return rows;
}

export function readJsonlFile<T>(file: string, schema: z.ZodType<T>): T[] {
  return readJsonlFileWithLines(file, schema).map((r) => r.row);
}

export function readJsonlFileWithLines<T>(file: string, schema: z.ZodType<T>, unknown?: { known: readonly string[]; found: UnknownKeys }): { row: T; line: number }[] {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new InvalidInputError(`cannot read ${file}: ${(err as Error).message}`, null, 'file_not_readable');
  }
  return parseJsonlWithLines(decodeUtf8(bytes, file), schema, file, unknown);
}

/**
 * Strict UTF-8: a lenient decode would store a Latin-1 "café" as "caf\uFFFD" without a word, and the
 * prompt would no longer match what live traffic sends.
 */
function decodeUtf8(bytes: Buffer, file: string): string {
  const strict = new TextDecoder('utf-8', { fatal: true });
  try {
    return strict.decode(bytes);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_ENCODING_INVALID_ENCODED_DATA') {
      // Valid, but longer than one JavaScript string can be (about 512 MiB).
      throw new InvalidInputError(
        `${file}: cannot be read whole (${bytes.length} bytes; ${(err as Error).message}): split it into smaller files and give them one at a time`,
        null,
        'invalid_file',
      );
    }
    let start = 0;
    for (let line = 1; ; line++) {
      const end = bytes.indexOf(0x0a, start);
      try {
        strict.decode(bytes.subarray(start, end < 0 ? bytes.length : end));
      } catch {
        throw new InvalidInputError(`${file}: line ${line}: not valid UTF-8 (save the file as UTF-8)`, null, 'invalid_file');
      }
      if (end < 0) throw new InvalidInputError(`${file}: not valid UTF-8 (save the file as UTF-8)`, null, 'invalid_file');
      start = end + 1;
    }
  }
}

export const readOutcomeFile = (file: string): OutcomeRow[] => readJsonlFile(file, outcomeRowSchema);
export const readPromptFile = (file: string): PromptRow[] => readJsonlFile(file, promptRowSchema);

/**
 * Keeps the last row of each id (an import is an upsert by id, so a later line replaces an earlier one,
 * as it would across two imports) and reports the ids that repeat with the lines they were on.
 */
export function lastRowPerId<T extends { id: string }>(rows: readonly { row: T; line: number }[]): { rows: T[]; repeated: { id: string; lines: number[] }[] } {
  const byId = new Map<string, { row: T; lines: number[] }>();
  for (const { row, line } of rows) {
    const seen = byId.get(row.id);
    if (seen) {
      seen.row = row;
      seen.lines.push(line);
    } else byId.set(row.id, { row, lines: [line] });
  }
  const repeated = [...byId.entries()].filter(([, v]) => v.lines.length > 1).map(([id, v]) => ({ id, lines: v.lines }));
  return { rows: [...byId.values()].map((v) => v.row), repeated };
}
