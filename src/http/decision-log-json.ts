// A logged decision as the inspection API shows it: snake_case, times as ISO strings, nothing secret
// (API keys appear by name only; upstream keys never reach the log in the first place).
import type { AttemptRecord } from '../providers/types';
import type { LoggedLambdaBasis, StoredDecision } from '../store/decision-types';
import { type CandidateJson, candidateJson } from './decision-json';

export interface AttemptJson {
  model: string;
  status: 'ok' | 'error' | 'skipped';
  skip_reason?: string;
  error_class?: string;
  http_status?: number;
  message?: string;
  started_at: string;
  latency_ms: number;
  first_chunk_ms?: number;
}

export interface DecisionLogJson {
  id: string;
  object: 'switchyard.decision_log';
  created_at: string;
  api_key: string | null;
  request: { model: string; stream: boolean; prompt: string | null; prompt_hash: string };
  decision: {
    model: string;
    fallbacks: string[];
    reason: string;
    target: number | null;
    policy: string | null;
    lambda: number | null;
    lambda_basis: LoggedLambdaBasis | null;
    target_correction: number | null;
    candidates: CandidateJson[];
    classifier_version: string | null;
    embedder_id: string | null;
    estimated_tokens: { input: number; output: number };
  };
  /** The model that answered; null when none did. */
  model: string | null;
  attempts: AttemptJson[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  cost: number | null;
  timings_ms: { embed: number; classify: number; upstream: number; total: number };
  status: 'ok' | 'error' | 'aborted';
  http_status: number;
  error: { code: string; message: string } | null;
  feedback: {
    model: string;
    score: number;
    success: boolean | null;
    comment: string | null;
    api_key: string | null;
    created_at: string;
    updated_at: string;
  } | null;
}

export function decisionLogJson(d: StoredDecision): DecisionLogJson {
  return {
    id: d.id,
    object: 'switchyard.decision_log',
    created_at: new Date(d.createdAt).toISOString(),
    api_key: d.apiKey?.name ?? null,
    request: { model: d.requestedModel, stream: d.stream, prompt: d.prompt, prompt_hash: d.promptHash },
    decision: {
      model: d.routedModel,
      fallbacks: d.fallbacks,
      reason: d.reason,
      target: d.target,
      policy: d.policy,
      lambda: d.lambda,
      lambda_basis: d.lambdaBasis,
      target_correction: d.targetCorrection,
      candidates: d.candidates.map(candidateJson),
      classifier_version: d.classifierVersion,
      embedder_id: d.embedderId,
      estimated_tokens: d.estimatedTokens,
    },
    model: d.answeredModel,
    attempts: d.attempts.map(attemptJson),
    usage: d.usage
      ? { prompt_tokens: d.usage.promptTokens, completion_tokens: d.usage.completionTokens, total_tokens: d.usage.promptTokens + d.usage.completionTokens }
      : null,
    cost: d.cost,
    timings_ms: { embed: d.timings.embedMs, classify: d.timings.classifyMs, upstream: d.timings.upstreamMs, total: d.timings.totalMs },
    status: d.status,
    http_status: d.httpStatus,
    error: d.error,
    feedback: d.feedback
      ? {
          model: d.feedback.model,
          score: d.feedback.score,
          success: d.feedback.success,
          comment: d.feedback.comment,
          api_key: d.feedback.apiKeyName,
          created_at: new Date(d.feedback.createdAt).toISOString(),
          updated_at: new Date(d.feedback.updatedAt).toISOString(),
        }
      : null,
  };
}

function attemptJson(a: AttemptRecord): AttemptJson {
  return {
    model: a.model,
    status: a.status,
    ...(a.skipReason ? { skip_reason: a.skipReason } : {}),
    ...(a.errorKind ? { error_class: a.errorKind } : {}),
    ...(a.httpStatus !== undefined ? { http_status: a.httpStatus } : {}),
    ...(a.message ? { message: a.message } : {}),
    started_at: new Date(a.startedAt).toISOString(),
    latency_ms: a.latencyMs,
    ...(a.firstChunkMs !== undefined ? { first_chunk_ms: a.firstChunkMs } : {}),
  };
}
