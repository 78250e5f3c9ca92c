// Price tables for cost metrics: the config's models, optionally overridden by a price file in the
// shared data's models.json format ({"models": [{"id", "inputPerMTok", "outputPerMTok"}]}, each model
// optionally with its own "expectedOutputTokens", as in the config).
import fs from 'node:fs';
import { z } from 'zod';
import { InvalidInputError } from '../src/errors';
import { formatIssues } from '../src/config/load-config';
import type { ModelConfig } from '../src/config/schema';
import type { PriceTable } from './evaluate';

const priceFileSchema = z.object({
  models: z.array(
    z.looseObject({
      id: z.string().min(1),
      inputPerMTok: z.number().nonnegative(),
      outputPerMTok: z.number().nonnegative(),
      expectedOutputTokens: z.number().int().positive().optional(),
    }),
  ),
});

export function pricesFromConfig(models: readonly ModelConfig[]): PriceTable {
  return Object.fromEntries(models.map((m) => [m.id, withOutput(m.price, m.expectedOutputTokens)]));
}

const withOutput = (price: ModelConfig['price'], expectedOutputTokens: number | undefined): PriceTable[string] =>
  expectedOutputTokens === undefined ? price : { ...price, expectedOutputTokens };

/**
 * The config's prices with a price file's laid over them, model by model: a file's entry replaces the
 * prices, and the answer length only when it gives one (a models.json from elsewhere rarely does).
 */
export function overlayPrices(base: PriceTable, file: PriceTable): PriceTable {
  const out: Record<string, PriceTable[string]> = { ...base };
  for (const [id, entry] of Object.entries(file)) out[id] = { ...base[id], ...entry };
  return out;
}

export function readPriceFile(file: string): PriceTable {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InvalidInputError(`cannot read price file ${file}: ${(err as Error).message}`, null, 'invalid_file');
  }
  const r = priceFileSchema.safeParse(raw);
  if (!r.success) throw new InvalidInputError(`invalid price file ${file}:\n${formatIssues(r.error.issues)}`, null, 'invalid_file');
  return Object.fromEntries(
    r.data.models.map((m) => [m.id, withOutput({ inputPerMTok: m.inputPerMTok, outputPerMTok: m.outputPerMTok }, m.expectedOutputTokens)]),
  );
}

/**
 * Learned answer lengths (src/routing/answer-lengths.ts) for the models whose entry gives none, as the
 * router costs them. Returns the table and the models that took one.
 */
export function withLearnedLengths(prices: PriceTable, learned: ReadonlyMap<string, number>): { prices: PriceTable; filled: string[] } {
  const out: Record<string, PriceTable[string]> = { ...prices };
  const filled: string[] = [];
  for (const [id, entry] of Object.entries(prices)) {
    const tokens = learned.get(id);
    if (entry.expectedOutputTokens !== undefined || tokens === undefined) continue;
    out[id] = { ...entry, expectedOutputTokens: tokens };
    filled.push(id);
  }
  return { prices: out, filled };
}
