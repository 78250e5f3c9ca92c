// What `retrain` checks before any work: where the classifier will go, and whether the store's rows can
// train a router at all.
import fs from 'node:fs';
import { InvalidInputError } from '../src/errors';
import type { OutcomeStore } from '../src/store/types';
import { type LabelledRow, modelsOf } from './dataset';

/** Rows the learners need at the least, after the validation split (its inner folds need a few each). */
export const MIN_TRAINING_ROWS = 4;

/** The store's rows and the models they record, or a clear refusal; warns of configured models with none. */
export function trainableRows(deps: { store: OutcomeStore; classifierDir: string; log: (message: string) => void; configuredModels?: readonly string[] }): {
  rows: LabelledRow[];
  models: string[];
} {
  const log = deps.log;
  // Checked before the work whose result it would hold.
  if (fs.statSync(deps.classifierDir, { throwIfNoEntry: false })?.isDirectory() === false) {
    throw new InvalidInputError(`the classifier folder ${deps.classifierDir} (routing.classifierDir) is a file, not a folder`, null, 'file_not_writable');
  }
  const rows: LabelledRow[] = deps.store.listSamples();
  // Ratings given while prompts were not stored are in the log but hold nothing to learn from.
  const promptless = deps.store.countRatingsWithoutPrompt?.() ?? 0;
  const unusable =
    promptless > 0
      ? `${promptless} rated answer${promptless === 1 ? ' has' : 's have'} no stored prompt (storage.storePrompts: false) and cannot train`
      : '';
  if (rows.length < MIN_TRAINING_ROWS) {
    throw new InvalidInputError(
      `retrain needs at least ${MIN_TRAINING_ROWS} prompts with outcomes; the store has ${rows.length} (import some with \`switchyard import\`)${unusable ? `; ${unusable}` : ''}`,
      null,
      'not_enough_data',
    );
  }
  if (unusable) log(`note: ${unusable}`);
  const models = modelsOf(rows);
  // Live traffic records only the model that answered: a store of cold-start feedback names one model, and
  // a classifier of it would send every request there and leave the others as last-resort fallbacks, with
  // no traffic to ever learn them from.
  if (models.length < 2) {
    throw new InvalidInputError(
      `retrain needs outcomes of two models at least, to route between them; the store's ${rows.length} prompts record only ${models.join(', ') || 'none'}. ` +
        'Import outcomes of the others, or send some requests to them by name (model: "<id>") and rate those answers',
      null,
      'not_enough_data',
    );
  }
  const unseen = (deps.configuredModels ?? []).filter((m) => !models.includes(m));
  if (unseen.length > 0) {
    log(
      `warning: no outcomes in the store for configured model${unseen.length === 1 ? '' : 's'} ${unseen.join(', ')}: the classifier will not choose ` +
        `${unseen.length === 1 ? 'it' : 'them'} (only as last fallbacks). Import outcomes, or send requests by name and rate the answers`,
    );
  }
  return { rows, models };
}
