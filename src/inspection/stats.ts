// /v1/stats: the decision log's per-model sums turned into what an operator asks — share of traffic,
// spend, spend saved against sending everything to the dearest configured model, failovers, errors,
// how clients rated the answers — next to each model's circuit breaker.
import type { ModelConfig, ModelPrice } from '../config/schema';
import type { CircuitBreaker } from '../providers/circuit-breaker';
import { estimateCost } from '../routing/cost';
import type { AttemptAggregate, ModelAggregate } from '../store/decision-stats';
import type { BatchWriterStats } from '../store/log-writer';

interface Totals {
  requests: number;
  share: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number;
  /** What the same tokens would have cost on the baseline model. */
  baseline_cost: number;
  cost_saved: number;
  /** Requests that moved on from their first model (it failed, or its circuit was open). */
  failovers: number;
  errors: number;
  error_rate: number;
  /** Requests the client abandoned before the answer was complete. */
  aborted: number;
  /**
   * Every upstream call made to the model (overall: to any model), whether the request's first choice or
   * a fallback, and those that failed: where a model that only ever serves as a fallback shows its faults,
   * which the per-request figures count under the model the request was routed to.
   */
  upstream_calls: { calls: number; errors: number; error_rate: number };
  feedback: {
    count: number;
    success_rate: number | null;
    /**
     * The rated answers whose model had a predicted success when routed: the mean prediction beside the
     * mean rating of the same answers. A prediction well above the rating says the classifier is
     * overconfident on this traffic (retrain learns from the feedback). Null when there are none.
     */
    calibration: { count: number; predicted_success: number; rated_success: number } | null;
  };
}

export interface StatsJson {
  object: 'switchyard.stats';
  window: { since: string; until: string };
  baseline_model: string;
  overall: Totals;
  models: (Totals & { model: string; configured: boolean; breaker: BreakerJson | null })[];
  log: LogJson;
}

interface BreakerJson {
  state: string;
  consecutive_failures: number;
  retry_at: string | null;
}

interface LogJson {
  queued: number;
  /** Approximate memory the queued rows hold (their prompts, mostly). */
  queued_bytes: number;
  written: number;
  dropped: number;
  batches: number;
  forced_flushes: number;
  failures: number;
  max_batch_rows: number;
  flush_ms_mean: number | null;
  flush_ms_max: number;
}

export interface StatsInput {
  aggregates: readonly ModelAggregate[];
  attempts: readonly AttemptAggregate[];
  models: readonly ModelConfig[];
  breakers: ReadonlyMap<string, CircuitBreaker>;
  log: BatchWriterStats;
  since: number;
  until: number;
}

/** The model everything would go to without a router: the one with the highest per-token prices. */
export function baselineModel(models: readonly ModelConfig[]): ModelConfig {
  return [...models].sort((a, b) => b.price.inputPerMTok + b.price.outputPerMTok - (a.price.inputPerMTok + a.price.outputPerMTok))[0];
}

export function buildStats(input: StatsInput): StatsJson {
  const baseline = baselineModel(input.models);
  const byModel = new Map(input.aggregates.map((a) => [a.model, a]));
  const ids = [...input.models.map((m) => m.id), ...input.aggregates.map((a) => a.model).filter((id) => !input.models.some((m) => m.id === id))];
  const total = input.aggregates.reduce((n, a) => n + a.requests, 0);
  const models = ids.map((id) => {
    const breaker = input.breakers.get(id)?.snapshot();
    return {
      model: id,
      configured: input.models.some((m) => m.id === id),
      ...totals([byModel.get(id) ?? empty(id)], total, baseline.price, input.attempts.filter((a) => a.model === id)),
      breaker: breaker
        ? { state: breaker.state, consecutive_failures: breaker.consecutiveFailures, retry_at: breaker.retryAt === null ? null : new Date(breaker.retryAt).toISOString() }
        : null,
    };
  });
  const log = input.log;
  return {
    object: 'switchyard.stats',
    window: { since: new Date(input.since).toISOString(), until: new Date(input.until).toISOString() },
    baseline_model: baseline.id,
    overall: totals(input.aggregates, total, baseline.price, input.attempts),
    models,
    log: {
      queued: log.queued,
      queued_bytes: log.queuedBytes,
      written: log.written,
      dropped: log.dropped,
      batches: log.batches,
      forced_flushes: log.forcedFlushes,
      failures: log.failures,
      max_batch_rows: log.maxBatchRows,
      flush_ms_mean: log.batches > 0 ? round(log.flushMsTotal / log.batches, 3) : null,
      flush_ms_max: round(log.flushMsMax, 3),
    },
  };
}

function totals(rows: readonly ModelAggregate[], allRequests: number, baselinePrice: ModelPrice, attempts: readonly AttemptAggregate[]): Totals {
  const sum = (f: (a: ModelAggregate) => number) => rows.reduce((n, a) => n + f(a), 0);
  const calls = attempts.reduce((n, a) => n + a.calls, 0);
  const callErrors = attempts.reduce((n, a) => n + a.errors, 0);
  const requests = sum((a) => a.requests);
  const cost = sum((a) => a.cost);
  const baselineCost = estimateCost(baselinePrice, sum((a) => a.costedPromptTokens), sum((a) => a.costedCompletionTokens));
  const errors = sum((a) => a.errors);
  const feedbackCount = sum((a) => a.feedbackCount);
  const predictedCount = sum((a) => a.predictedCount);
  return {
    requests,
    share: allRequests > 0 ? round(requests / allRequests, 6) : 0,
    prompt_tokens: sum((a) => a.promptTokens),
    completion_tokens: sum((a) => a.completionTokens),
    cost: round(cost, 9),
    baseline_cost: round(baselineCost, 9),
    cost_saved: round(baselineCost - cost, 9),
    failovers: sum((a) => a.failovers),
    errors,
    error_rate: requests > 0 ? round(errors / requests, 6) : 0,
    aborted: sum((a) => a.aborted),
    upstream_calls: { calls, errors: callErrors, error_rate: calls > 0 ? round(callErrors / calls, 6) : 0 },
    feedback: {
      count: feedbackCount,
      success_rate: feedbackCount > 0 ? round(sum((a) => a.feedbackScoreSum) / feedbackCount, 6) : null,
      calibration:
        predictedCount > 0
          ? {
              count: predictedCount,
              predicted_success: round(sum((a) => a.predictedSum) / predictedCount, 6),
              rated_success: round(sum((a) => a.predictedScoreSum) / predictedCount, 6),
            }
          : null,
    },
  };
}

function empty(model: string): ModelAggregate {
  return {
    model, requests: 0, ok: 0, errors: 0, aborted: 0, failovers: 0, promptTokens: 0, completionTokens: 0, cost: 0,
    costedPromptTokens: 0, costedCompletionTokens: 0, feedbackCount: 0, feedbackScoreSum: 0, predictedCount: 0, predictedSum: 0,
    predictedScoreSum: 0,
  };
}

/** Sums of float costs pick up noise in the last digits; it only confuses readers of the JSON. */
function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
