// The outcome store's interface: labelled prompts (imported or fed back), their outcomes, and cached
// embeddings. Implementations: src/store/sqlite-store.ts.
import { SwitchyardError } from '../errors';

export type SampleOrigin = 'import' | 'feedback';

export interface OutcomeSample {
  id: string;
  prompt: string;
  source: string | null;
  /** Outcome per model in [0,1]; a model absent from the record is unknown for this prompt. */
  outcomes: Record<string, number>;
  /** Real cost per model for this prompt (USD), when the data carries it. */
  costs: Record<string, number>;
  origin: SampleOrigin;
}

export interface ImportResult {
  inserted: number;
  updated: number;
  unchanged: number;
}

export interface OutcomeStore {
  /**
   * Upserts samples by id in one transaction: all are written or none. An imported sample whose id is a
   * feedback row's throws FeedbackIdTakenError, and nothing is written.
   */
  importSamples(samples: readonly OutcomeSample[]): ImportResult;
  /** Every sample that has at least one outcome, in id order (deterministic training input). */
  listSamples(): OutcomeSample[];
  countSamples(): { samples: number; outcomes: number };
  /** Rated answers whose decision kept no prompt (storage.storePrompts: false): ratings `retrain` cannot use. */
  countRatingsWithoutPrompt?(): number;
  /** The prompt hashes of every stored sample with outcomes: what `retrain` would train on. */
  trainedPromptHashes(): Set<string>;
  /** Cached embeddings by prompt hash for one embedder; missing hashes are absent from the map. */
  getEmbeddings(embedderId: string, promptHashes: readonly string[]): Map<string, Float32Array>;
  putEmbeddings(embedderId: string, entries: readonly { promptHash: string; vector: Float32Array }[]): void;
  close(): void;
}

/** An imported row whose id is a rated decision's feedback row: imported rows must not replace client ratings. */
export class FeedbackIdTakenError extends SwitchyardError {
  constructor(readonly id: string) {
    super(`id "${id}" is the feedback row of a rated decision; imported rows need ids of their own`, { code: 'id_taken', httpStatus: 409 });
  }
}
