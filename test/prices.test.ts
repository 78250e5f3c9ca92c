// Price tables for eval and retrain: from a price file (models.json format) or from the config's models.
import fs from 'node:fs';
import path from 'node:path';
import { modelConfigSchema } from '../src/config/schema';
import { overlayPrices, pricesFromConfig, readPriceFile, withLearnedLengths } from '../training/prices';
import { makeTempDir } from './support/temp-dir';

describe('price tables', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());
  const write = (name: string, text: string): string => {
    const file = path.join(tmp.dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('reads prices and an optional answer length per model, ignoring other fields', () => {
    const file = write('ok.json', JSON.stringify({
      note: 'USD per million tokens',
      models: [
        { id: 'chat', inputPerMTok: 0.2, outputPerMTok: 0.6, vendor: 'x' },
        { id: 'think', inputPerMTok: 1, outputPerMTok: 4, expectedOutputTokens: 3000 },
      ],
    }));
    expect(readPriceFile(file)).toEqual({
      chat: { inputPerMTok: 0.2, outputPerMTok: 0.6 },
      think: { inputPerMTok: 1, outputPerMTok: 4, expectedOutputTokens: 3000 },
    });
  });

  it('refuses a bad file with the field at fault, and a file that is not JSON', () => {
    const bad = write('bad.json', JSON.stringify({ models: [{ id: 'think', inputPerMTok: 1, outputPerMTok: 4, expectedOutputTokens: 0 }] }));
    expect(() => readPriceFile(bad)).toThrow(/invalid price file .*bad\.json[\s\S]*models\.0\.expectedOutputTokens/);
    expect(() => readPriceFile(write('broken.json', '{"models": ['))).toThrow(/cannot read price file .*broken\.json/);
  });

  it('from the config: each model its price, with its answer length when it has one', () => {
    const models = [
      modelConfigSchema.parse({ id: 'chat', provider: 'sim', price: { inputPerMTok: 0.2, outputPerMTok: 0.6 } }),
      modelConfigSchema.parse({ id: 'think', provider: 'sim', price: { inputPerMTok: 1, outputPerMTok: 4 }, expectedOutputTokens: 3000 }),
    ];
    expect(pricesFromConfig(models)).toEqual({
      chat: { inputPerMTok: 0.2, outputPerMTok: 0.6 },
      think: { inputPerMTok: 1, outputPerMTok: 4, expectedOutputTokens: 3000 },
    });
  });

  it('a price file laid over the config replaces prices per model and keeps an answer length it does not give', () => {
    const config = { think: { inputPerMTok: 1, outputPerMTok: 4, expectedOutputTokens: 3000 }, chat: { inputPerMTok: 0.2, outputPerMTok: 0.6 } };
    const file = { think: { inputPerMTok: 2, outputPerMTok: 8 }, other: { inputPerMTok: 5, outputPerMTok: 5, expectedOutputTokens: 10 } };
    expect(overlayPrices(config, file)).toEqual({
      think: { inputPerMTok: 2, outputPerMTok: 8, expectedOutputTokens: 3000 },
      chat: { inputPerMTok: 0.2, outputPerMTok: 0.6 },
      other: { inputPerMTok: 5, outputPerMTok: 5, expectedOutputTokens: 10 },
    });
    expect(overlayPrices(config, { think: { inputPerMTok: 2, outputPerMTok: 8, expectedOutputTokens: 500 } }).think.expectedOutputTokens).toBe(500);
  });

  it('learned answer lengths fill in only where the table gives none', () => {
    const table = { chat: { inputPerMTok: 0.2, outputPerMTok: 0.6 }, think: { inputPerMTok: 1, outputPerMTok: 4, expectedOutputTokens: 3000 } };
    const learned = new Map([['chat', 180], ['think', 900], ['gone', 50]]);
    expect(withLearnedLengths(table, learned)).toEqual({
      prices: { chat: { inputPerMTok: 0.2, outputPerMTok: 0.6, expectedOutputTokens: 180 }, think: table.think },
      filled: ['chat'],
    });
    expect(table.chat).not.toHaveProperty('expectedOutputTokens');
  });
});
