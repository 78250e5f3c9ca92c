// The decision log's records: one per chat completion that reached routing, with what was decided, what
// each upstream attempt did, and the outcome. Written by the gateway, read by the inspection API.
import type { AttemptRecord } from '../providers/types';

export type DecisionStatus = 'ok' | 'error' | 'aborted';
export const DECISION_STATUSES: readonly DecisionStatus[] = ['ok', 'error', 'aborted'];

/** What the average policy's λ was set on: the classifier's reference prompts or recent traffic. */
export interface LoggedLambdaBasis {
  source: 'reference' | 'traffic';
  prompts: number;
}

export interface LoggedCandidate {
  model: string;
  pSuccess: number | null;
  estimatedCost: number;
  /** The answer length the cost assumed and where it came from; absent in rows logged before 2026-11-26. */
  outputTokens?: number;
  outputTokensBasis?: string;
  eligible: boolean;
  excludedBecause?: string;
  /** Set when the clients' ratings recalibrated the model (routing.recalibration): the classifier's own p and the logit shift. */
  pClassifier?: number;
  logitShift?: number;
}

export interface DecisionRecord {
  /** Time-ordered (src/gateway/decision-id.ts), so id order is creation order. */
  id: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** The client key that made the request; null when the server runs without keys. */
  apiKey: { id: string; name: string } | null;
  /** Null when `storage.storePrompts` is false; the hash is always kept. */
  prompt: string | null;
  promptHash: string;
  /** What the client sent as `model` ('auto', or a configured id). */
  requestedModel: string;
  stream: boolean;
  /** The decision's first choice. */
  routedModel: string;
  /** The model whose answer the client got (or started to get); null when none answered. */
  answeredModel: string | null;
  reason: string;
  target: number | null;
  /** The routing policy that decided (null: a model named by the client, or a row logged before policies). */
  policy: string | null;
  /** The average policy's price of success λ; null otherwise or when infinite. */
  lambda: number | null;
  /** The prompts λ was set on (the classifier's reference ones or recent traffic); null without λ. */
  lambdaBasis: LoggedLambdaBasis | null;
  /** What the clients' ratings added to the average policy's target (routing.average.feedback); null: nothing. */
  targetCorrection: number | null;
  classifierVersion: string | null;
  embedderId: string | null;
  candidates: LoggedCandidate[];
  fallbacks: string[];
  attempts: AttemptRecord[];
  estimatedTokens: { input: number; output: number };
  usage: { promptTokens: number; completionTokens: number } | null;
  /** USD from the answering model's configured prices and the upstream's usage; null without usage. */
  cost: number | null;
  timings: { embedMs: number; classifyMs: number; upstreamMs: number; totalMs: number };
  status: DecisionStatus;
  /** What the client was answered with (499 when it went away first). */
  httpStatus: number;
  error: { code: string; message: string } | null;
}

export interface FeedbackRecord {
  model: string;
  score: number;
  /** Set when the feedback was given as `success`; null when given as a score. */
  success: boolean | null;
  comment: string | null;
  apiKeyName: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface StoredDecision extends DecisionRecord {
  feedback: FeedbackRecord | null;
}

export interface DecisionFilter {
  /** The answering model, or for requests nothing answered, the routed one. */
  model?: string;
  status?: DecisionStatus;
  reason?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  apiKeyName?: string;
  /** Return decisions older than this id (the previous page's last id). */
  before?: string;
}
