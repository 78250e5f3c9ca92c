// The decision log in SQLite: batched inserts (called by the log writer, off the response path), look-ups,
// filtered cursor pages and feedback upserts. Shares the outcome store's connection and migrations.
import type Database from 'better-sqlite3';
import { writeTransaction } from './sqlite-store';
import type { AttemptRecord } from '../providers/types';
import type {
  DecisionFilter,
  DecisionRecord,
  DecisionStatus,
  FeedbackRecord,
  LoggedCandidate,
  StoredDecision,
} from './decision-types';

interface DecisionRow {
  id: string;
  created_at: number;
  api_key_id: string | null;
  api_key_name: string | null;
  prompt: string | null;
  prompt_hash: string;
  requested_model: string;
  stream: number;
  routed_model: string;
  answered_model: string | null;
  reason: string;
  target: number | null;
  policy: string | null;
  lambda: number | null;
  lambda_basis: string | null;
  lambda_prompts: number | null;
  target_correction: number | null;
  classifier_version: string | null;
  embedder_id: string | null;
  candidates: string;
  fallbacks: string;
  attempts: string;
  est_input_tokens: number;
  est_output_tokens: number;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cost: number | null;
  embed_ms: number;
  classify_ms: number;
  upstream_ms: number;
  total_ms: number;
  status: DecisionStatus;
  http_status: number;
  error_code: string | null;
  error_message: string | null;
  f_model: string | null;
  f_score: number | null;
  f_success: number | null;
  f_comment: string | null;
  f_api_key_name: string | null;
  f_created_at: number | null;
  f_updated_at: number | null;
}

const INSERT_COLUMNS = [
  'id', 'created_at', 'api_key_id', 'api_key_name', 'prompt', 'prompt_hash', 'requested_model', 'stream', 'routed_model',
  'answered_model', 'reason', 'target', 'policy', 'lambda', 'lambda_basis', 'lambda_prompts', 'classifier_version', 'embedder_id', 'candidates', 'fallbacks', 'attempts',
  'failed_over', 'est_input_tokens', 'est_output_tokens', 'prompt_tokens', 'completion_tokens', 'cost', 'embed_ms',
  'classify_ms', 'upstream_ms', 'total_ms', 'status', 'http_status', 'error_code', 'error_message', 'answered_p_success',
  'target_correction', 'answered_p_classifier',
] as const;

const SELECT = `SELECT d.*, f.model AS f_model, f.score AS f_score, f.success AS f_success, f.comment AS f_comment,
  f.api_key_name AS f_api_key_name, f.created_at AS f_created_at, f.updated_at AS f_updated_at
  FROM decisions d LEFT JOIN feedback f ON f.decision_id = d.id`;

export interface FeedbackInput {
  model: string;
  score: number;
  success: boolean | null;
  comment: string | null;
  apiKeyName: string | null;
}

export class DecisionStore {
  private readonly insert: Database.Statement;
  private readonly insertIfNew: Database.Statement;
  private readonly byId: Database.Statement<[string], DecisionRow>;
  private readonly upsertFeedbackStmt: Database.Statement;

  constructor(readonly db: Database.Database) {
    this.insert = db.prepare(
      `INSERT INTO decisions (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')})`,
    );
    this.insertIfNew = db.prepare(
      `INSERT OR IGNORE INTO decisions (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')})`,
    );
    this.byId = db.prepare<[string], DecisionRow>(`${SELECT} WHERE d.id = ?`);
    this.upsertFeedbackStmt = db.prepare(
      `INSERT INTO feedback (decision_id, model, score, success, comment, api_key_name, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(decision_id) DO UPDATE SET model = excluded.model, score = excluded.score, success = excluded.success,
         comment = excluded.comment, api_key_name = excluded.api_key_name, updated_at = excluded.updated_at`,
    );
  }

  /** All rows in one transaction: a batch is written whole or not at all. */
  insertMany(records: readonly DecisionRecord[]): void {
    this.db.transaction(() => {
      for (const r of records) this.insert.run(...toRow(r));
    })();
  }

  /**
   * Rows whose id is not stored yet, in one transaction waiting for the write lock (busy_timeout); returns
   * how many were new. For rows saved aside at a shutdown the store refused, which a replay may repeat.
   */
  insertMissing(records: readonly DecisionRecord[]): number {
    return writeTransaction(this.db, () => {
      let added = 0;
      for (const r of records) added += this.insertIfNew.run(...toRow(r)).changes;
      return added;
    });
  }

  get(id: string): StoredDecision | null {
    const row = this.byId.get(id);
    return row ? fromRow(row) : null;
  }

  /** Newest first. `hasMore` says whether a page starting before the last row returned would find any. */
  list(filter: DecisionFilter, limit: number): { rows: StoredDecision[]; hasMore: boolean } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (clause: string, value: string | number | undefined) => {
      if (value === undefined) return;
      where.push(clause);
      params.push(value);
    };
    add('COALESCE(d.answered_model, d.routed_model) = ?', filter.model);
    add('d.status = ?', filter.status);
    add('d.reason = ?', filter.reason);
    add('d.created_at >= ?', filter.since);
    add('d.created_at < ?', filter.until);
    add('d.api_key_name = ?', filter.apiKeyName);
    add('d.id < ?', filter.before);
    const sql = `${SELECT}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY d.id DESC LIMIT ?`;
    const rows = this.db.prepare<(string | number)[], DecisionRow>(sql).all(...params, limit + 1);
    return { rows: rows.slice(0, limit).map(fromRow), hasMore: rows.length > limit };
  }

  upsertFeedback(decisionId: string, input: FeedbackInput, now: number): void {
    const success = input.success === null ? null : input.success ? 1 : 0;
    this.upsertFeedbackStmt.run(decisionId, input.model, input.score, success, input.comment, input.apiKeyName, now, now);
  }

  count(): number {
    return this.db.prepare('SELECT COUNT(*) FROM decisions').pluck().get() as number;
  }

  /** Holds the write lock from the start; a lock another process keeps past busy_timeout is a StoreBusyError (503). */
  transaction<T>(fn: () => T): T {
    return writeTransaction(this.db, fn);
  }
}

function toRow(r: DecisionRecord): (string | number | null)[] {
  const answered = r.answeredModel === null ? undefined : r.candidates.find((c) => c.model === r.answeredModel);
  const values: Record<(typeof INSERT_COLUMNS)[number], string | number | null> = {
    id: r.id,
    created_at: r.createdAt,
    api_key_id: r.apiKey?.id ?? null,
    api_key_name: r.apiKey?.name ?? null,
    prompt: r.prompt,
    prompt_hash: r.promptHash,
    requested_model: r.requestedModel,
    stream: r.stream ? 1 : 0,
    routed_model: r.routedModel,
    answered_model: r.answeredModel,
    reason: r.reason,
    target: r.target,
    policy: r.policy,
    lambda: r.lambda,
    lambda_basis: r.lambdaBasis?.source ?? null,
    lambda_prompts: r.lambdaBasis?.prompts ?? null,
    target_correction: r.targetCorrection,
    classifier_version: r.classifierVersion,
    embedder_id: r.embedderId,
    candidates: JSON.stringify(r.candidates),
    fallbacks: JSON.stringify(r.fallbacks),
    attempts: JSON.stringify(r.attempts),
    // Any attempt beyond the first means the request moved on from the model it was routed to.
    failed_over: r.attempts.length > 1 ? 1 : 0,
    est_input_tokens: r.estimatedTokens.input,
    est_output_tokens: r.estimatedTokens.output,
    prompt_tokens: r.usage?.promptTokens ?? null,
    completion_tokens: r.usage?.completionTokens ?? null,
    cost: r.cost,
    embed_ms: r.timings.embedMs,
    classify_ms: r.timings.classifyMs,
    upstream_ms: r.timings.upstreamMs,
    total_ms: r.timings.totalMs,
    status: r.status,
    http_status: r.httpStatus,
    error_code: r.error?.code ?? null,
    error_message: r.error?.message ?? null,
    // What the classifier predicted for the answer the client got (and may rate): /v1/stats compares them.
    answered_p_success: answered?.pSuccess ?? null,
    // The classifier's own prediction, before any recalibration by ratings: what the recalibration and the
    // average policy's correction are fitted on.
    answered_p_classifier: answered ? (answered.pClassifier ?? answered.pSuccess) : null,
  };
  return INSERT_COLUMNS.map((c) => values[c]);
}

function fromRow(row: DecisionRow): StoredDecision {
  const feedback: FeedbackRecord | null =
    row.f_model === null
      ? null
      : {
          model: row.f_model,
          score: row.f_score as number,
          success: row.f_success === null ? null : row.f_success === 1,
          comment: row.f_comment,
          apiKeyName: row.f_api_key_name,
          createdAt: row.f_created_at as number,
          updatedAt: row.f_updated_at as number,
        };
  return {
    id: row.id,
    createdAt: row.created_at,
    apiKey: row.api_key_id === null ? null : { id: row.api_key_id, name: row.api_key_name ?? '' },
    prompt: row.prompt,
    promptHash: row.prompt_hash,
    requestedModel: row.requested_model,
    stream: row.stream === 1,
    routedModel: row.routed_model,
    answeredModel: row.answered_model,
    reason: row.reason,
    target: row.target,
    policy: row.policy,
    lambda: row.lambda,
    lambdaBasis:
      row.lambda_basis === 'reference' || row.lambda_basis === 'traffic'
        ? { source: row.lambda_basis, prompts: row.lambda_prompts ?? 0 }
        : null,
    targetCorrection: row.target_correction ?? null,
    classifierVersion: row.classifier_version,
    embedderId: row.embedder_id,
    // Written by toRow from typed values; the casts only restore what JSON.stringify flattened.
    candidates: JSON.parse(row.candidates) as LoggedCandidate[],
    fallbacks: JSON.parse(row.fallbacks) as string[],
    attempts: JSON.parse(row.attempts) as AttemptRecord[],
    estimatedTokens: { input: row.est_input_tokens, output: row.est_output_tokens },
    usage:
      row.prompt_tokens === null || row.completion_tokens === null
        ? null
        : { promptTokens: row.prompt_tokens, completionTokens: row.completion_tokens },
    cost: row.cost,
    timings: { embedMs: row.embed_ms, classifyMs: row.classify_ms, upstreamMs: row.upstream_ms, totalMs: row.total_ms },
    status: row.status,
    httpStatus: row.http_status,
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? '' },
    feedback,
  };
}
