// Client feedback on an answer. It is kept on the decision and, when the prompt was stored, also becomes a
// training outcome for the model that answered (sample id = decision id, origin 'feedback'), so the next
// `switchyard retrain` learns from it next to imported outcomes. The last feedback on a decision wins.
import { ConflictError } from '../errors';
import type { DecisionStore } from '../store/decision-store';
import type { StoredDecision } from '../store/decision-types';
import type { OutcomeStore } from '../store/types';

/**
 * The source of every outcome fed back from live traffic. It names no kind of prompt (training/experts.ts):
 * feedback is on whatever prompts clients send, and is trained on by the kind the gate reads from each.
 */
export const FEEDBACK_SOURCE = 'feedback';

export interface FeedbackDeps {
  decisions: DecisionStore;
  outcomes: OutcomeStore;
  now: () => number;
}

export interface FeedbackInput {
  success?: boolean;
  score?: number;
  comment?: string;
}

export interface FeedbackResult {
  model: string;
  score: number;
  success: boolean | null;
  comment: string | null;
  /** False when prompts are not stored: the feedback is kept but there is no text to train on. */
  trains: boolean;
}

export function recordFeedback(deps: FeedbackDeps, decision: StoredDecision, input: FeedbackInput, apiKeyName: string | null): FeedbackResult {
  const model = decision.answeredModel;
  if (model === null) {
    throw new ConflictError(
      `decision ${decision.id} got no answer from any model (status ${decision.status}); feedback rates the model that answered`,
      'no_answer_to_rate',
    );
  }
  const success = input.success ?? null;
  const score = success === null ? (input.score as number) : success ? 1 : 0;
  const comment = input.comment ?? null;
  const prompt = decision.prompt;
  deps.decisions.transaction(() => {
    deps.decisions.upsertFeedback(decision.id, { model, score, success, comment, apiKeyName }, deps.now());
    if (prompt !== null) {
      deps.outcomes.importSamples([
        {
          id: decision.id,
          prompt,
          source: FEEDBACK_SOURCE,
          origin: 'feedback',
          outcomes: { [model]: score },
          costs: decision.cost === null ? {} : { [model]: decision.cost },
        },
      ]);
    }
  });
  return { model, score, success, comment, trains: prompt !== null };
}
