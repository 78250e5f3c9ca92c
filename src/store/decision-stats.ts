// Per-model aggregates of the decision log over a time window, summed in SQLite so a busy log is never
// loaded into memory. What they mean (shares, savings, rates) is worked out in src/inspection/stats.ts.
import type Database from 'better-sqlite3';
import type { AnswerLengthRow } from '../routing/answer-lengths';
import type { RatedGap } from '../routing/feedback-correction';
import type { RatedAnswer } from '../routing/recalibration';

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

/** Upstream calls per model over a window, whichever request made them (its first choice or a fallback). */
export interface AttemptAggregate {
  model: string;
  calls: number;
  errors: number;
}

// Skipped models (open circuit, unknown) made no call. Abandoned calls (the client went away) are neither.
const ATTEMPTS_SQL = `
  SELECT json_extract(a.value, '$.model') AS model,
         COUNT(*) AS calls,
         SUM(json_extract(a.value, '$.status') = 'error' AND COALESCE(json_extract(a.value, '$.errorKind'), '') <> 'aborted') AS errors
  FROM decisions d, json_each(d.attempts) a
  WHERE d.created_at >= ? AND d.created_at < ? AND json_extract(a.value, '$.status') <> 'skipped'
  GROUP BY 1
  ORDER BY 1`;

/**
 * Each model's upstream calls and failed calls: a fallback's failures belong to it, while the per-request
 * figures count a request under the model that answered it or, when none did, the one it was routed to.
 */
export function aggregateAttempts(db: Database.Database, since: number, until: number): AttemptAggregate[] {
  return db.prepare<[number, number], AttemptAggregate>(ATTEMPTS_SQL).all(since, until);
}

// CROSS JOIN keeps feedback as the outer loop, walked newest first on its updated_at index: without it
// SQLite may scan the whole decision log. The inner LIMIT bounds the walk when the version's ratings are
// sparse among other versions' (just after a retrain).
const RATED_SQL = `
  SELECT COUNT(*) AS count, AVG(p) AS predicted, AVG(y) AS rated, AVG((p - y) * (p - y)) AS meanSquare
  FROM (SELECT d.answered_p_classifier AS p, f.score AS y
        FROM (SELECT decision_id, score, updated_at FROM feedback ORDER BY updated_at DESC LIMIT ?) f
        CROSS JOIN decisions d ON d.id = f.decision_id
        WHERE d.classifier_version = ? AND d.answered_p_classifier IS NOT NULL
        ORDER BY f.updated_at DESC
        LIMIT ?)`;

/** How many of the newest ratings, per answer wanted, `ratedGap` looks through at most. */
const RATED_SCAN_FACTOR = 10;

/**
 * The last `window` rated answers of classifier `version` that had a prediction (by when they were rated),
 * among the newest 10 × `window` ratings: their mean predicted (the classifier's own prediction, before
 * any recalibration: the average policy sets λ on those) and mean rated success. Null when there are none.
 * Costs the window, not the log.
 */
export function ratedGap(db: Database.Database, version: string, window: number): RatedGap | null {
  const row = db.prepare<[number, string, number], RatedGap>(RATED_SQL).get(window * RATED_SCAN_FACTOR, version, window);
  return row && row.count > 0 ? row : null;
}

// As RATED_SQL, one window per answering model.
const RATED_ANSWERS_SQL = `
  SELECT model, predicted, rated
  FROM (SELECT d.answered_model AS model, d.answered_p_classifier AS predicted, f.score AS rated,
               ROW_NUMBER() OVER (PARTITION BY d.answered_model ORDER BY f.updated_at DESC, f.decision_id) AS rn
        FROM (SELECT decision_id, score, updated_at FROM feedback ORDER BY updated_at DESC LIMIT ?) f
        CROSS JOIN decisions d ON d.id = f.decision_id
        WHERE d.classifier_version = ? AND d.answered_p_classifier IS NOT NULL AND d.answered_model IS NOT NULL)
  WHERE rn <= ?
  ORDER BY model, rn`;

/**
 * Per answering model, its last `window` rated answers under classifier `version` that had a prediction
 * (by when they were rated), among the newest 10 × `window` ratings: the classifier's own prediction and
 * the rating. What routing.recalibration fits each model's shift on.
 */
export function ratedAnswers(db: Database.Database, version: string, window: number): RatedAnswer[] {
  return db.prepare<[number, string, number], RatedAnswer>(RATED_ANSWERS_SQL).all(window * RATED_SCAN_FACTOR, version, window);
}

// Newest first on the created_at index, bounded by a scan of the newest rows: a model that is rarely routed gets the
// answers it has among them, and the cost stays that of the window, not the log. An answer cut short by
// the request's max_tokens counts at its cut length, so a mean errs short rather than long.
const ANSWER_LENGTHS_SQL = `
  SELECT model, COUNT(*) AS answers, AVG(tokens) AS meanTokens
  FROM (SELECT answered_model AS model, completion_tokens AS tokens,
               ROW_NUMBER() OVER (PARTITION BY answered_model ORDER BY created_at DESC) AS rn
        FROM (SELECT answered_model, completion_tokens, created_at, status FROM decisions ORDER BY created_at DESC LIMIT ?)
        WHERE status = 'ok' AND answered_model IS NOT NULL AND completion_tokens IS NOT NULL)
  WHERE rn <= ?
  GROUP BY model
  ORDER BY model`;

/** Decisions scanned per answer wanted: enough for a model routed one time in fifty to fill its window. */
const ANSWER_SCAN_FACTOR = 50;

/** Per answering model, among the newest 50 × `window` decisions: its last `window` answers and their mean completion tokens. */
export function recentAnswerLengths(db: Database.Database, window: number): AnswerLengthRow[] {
  return db.prepare<[number, number], AnswerLengthRow>(ANSWER_LENGTHS_SQL).all(window * ANSWER_SCAN_FACTOR, window);
}
