// Per-model aggregates of the decision log over a time window, summed in SQLite so a busy log is never
// loaded into memory. What they mean (shares, savings, rates) is worked out in src/inspection/stats.ts.
import type Database from 'better-sqlite3';

export interface ModelAggregate {
  /** The answering model, or for requests nothing answered, the routed one. */
  model: string;
  requests: number;
  ok: number;
  errors: number;
  aborted: number;
  failovers: number;
  promptTokens: number;
  completionTokens: number;
  cost: number;
  /** Token sums over the rows that have a cost, so a baseline can be priced on the same rows. */
  costedPromptTokens: number;
  costedCompletionTokens: number;
  feedbackCount: number;
  /** `success: true` counts 1, false 0, a score counts as given. */
  feedbackScoreSum: number;
  /** Rated answers whose model had a predicted success when it was routed (not cold start, not named). */
  predictedCount: number;
  /** Over those answers: the sum of the predicted successes and the sum of their ratings. */
  predictedSum: number;
  predictedScoreSum: number;
}

const SQL = `
  SELECT COALESCE(d.answered_model, d.routed_model) AS model,
         COUNT(*) AS requests,
         SUM(d.status = 'ok') AS ok,
         SUM(d.status = 'error') AS errors,
         SUM(d.status = 'aborted') AS aborted,
         SUM(d.failed_over) AS failovers,
         COALESCE(SUM(d.prompt_tokens), 0) AS promptTokens,
         COALESCE(SUM(d.completion_tokens), 0) AS completionTokens,
         COALESCE(SUM(d.cost), 0) AS cost,
         COALESCE(SUM(CASE WHEN d.cost IS NOT NULL THEN d.prompt_tokens END), 0) AS costedPromptTokens,
         COALESCE(SUM(CASE WHEN d.cost IS NOT NULL THEN d.completion_tokens END), 0) AS costedCompletionTokens,
         COUNT(f.decision_id) AS feedbackCount,
         COALESCE(SUM(f.score), 0) AS feedbackScoreSum,
         COUNT(CASE WHEN f.decision_id IS NOT NULL THEN d.answered_p_success END) AS predictedCount,
         COALESCE(SUM(CASE WHEN f.decision_id IS NOT NULL THEN d.answered_p_success END), 0) AS predictedSum,
         COALESCE(SUM(CASE WHEN d.answered_p_success IS NOT NULL THEN f.score END), 0) AS predictedScoreSum
  FROM decisions d LEFT JOIN feedback f ON f.decision_id = d.id
  WHERE d.created_at >= ? AND d.created_at < ?
  GROUP BY 1
  ORDER BY 1`;

export function aggregateDecisions(db: Database.Database, since: number, until: number): ModelAggregate[] {
  return db.prepare<[number, number], ModelAggregate>(SQL).all(since, until);
}
