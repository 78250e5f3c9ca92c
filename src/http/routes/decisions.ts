// The decision log over HTTP: list with filters and cursor pages (admin), one decision with its feedback
// (admin or the key that made it), and feedback on a decision (the same).
import { Router as ExpressRouter } from 'express';
import type { ModelConfig } from '../../config/schema';
import { ConflictError, NotFoundError } from '../../errors';
import { recordFeedback } from '../../inspection/feedback';
import type { CircuitBreaker } from '../../providers/circuit-breaker';
import type { DecisionStore } from '../../store/decision-store';
import type { StoredDecision } from '../../store/decision-types';
import type { BatchWriterStats } from '../../store/log-writer';
import { BUSY_TIMEOUT_MS, StoreBusyError, writeOffLoop } from '../../store/sqlite-store';
import type { OutcomeStore } from '../../store/types';
import { principalOf, requireAdmin, requireOwnerOrAdmin } from '../auth';
import { decisionLogJson } from '../decision-log-json';
import { decisionListQuerySchema, feedbackBodySchema, parseBody } from '../schemas';

export interface InspectionDeps {
  decisions: DecisionStore;
  outcomes: OutcomeStore;
  models: readonly ModelConfig[];
  breakers: ReadonlyMap<string, CircuitBreaker>;
  /**
   * The decision log's queue: written out before reads, so a client finds its own latest request (waiting
   * up to BUSY_TIMEOUT_MS for another process's write lock, off the event loop: BatchWriter.settle).
   */
  log: { settle(waitMs: number): Promise<void>; stats(): BatchWriterStats };
  /** Epoch milliseconds. */
  now: () => number;
  /** Whether a stream is still answering this decision (its record is written when it ends). */
  streaming?: (id: string) => boolean;
}

export function decisionRoutes(deps: InspectionDeps): ExpressRouter {
  const routes = ExpressRouter();

  const find = async (id: string): Promise<StoredDecision> => {
    await deps.log.settle(BUSY_TIMEOUT_MS);
    const d = deps.decisions.get(id);
    if (!d && deps.streaming?.(id)) {
      throw new ConflictError(`decision "${id}" is still streaming its answer; it can be read and rated once the stream ends`, 'decision_in_progress', 'id');
    }
    // Rows still queued after the wait mean another process holds the write lock: the decision may be one
    // of them, and a 404 would tell its client to give up on a valid id.
    if (!d && deps.log.stats().queued > 0) throw new StoreBusyError(deps.decisions.db.name, BUSY_TIMEOUT_MS, null);
    if (!d) throw new NotFoundError(`no decision with id "${id}"`, 'decision_not_found', 'id');
    return d;
  };

  routes.get('/v1/decisions', async (req, res) => {
    requireAdmin(principalOf(res), 'listing decisions');
    const q = parseBody(decisionListQuerySchema, req.query, 'query');
    await deps.log.settle(BUSY_TIMEOUT_MS);
    const page = deps.decisions.list(
      { model: q.model, status: q.status, reason: q.reason, apiKeyName: q.api_key, since: q.since, until: q.until, before: q.cursor },
      q.limit,
    );
    const last = page.rows.at(-1);
    res.json({ object: 'list', data: page.rows.map(decisionLogJson), has_more: page.hasMore, next_cursor: page.hasMore && last ? last.id : null });
  });

  routes.get('/v1/decisions/:id', async (req, res) => {
    const d = await find(req.params.id);
    requireOwnerOrAdmin(principalOf(res), d.apiKey?.id ?? null, 'reading');
    res.json(decisionLogJson(d));
  });

  routes.post('/v1/decisions/:id/feedback', async (req, res) => {
    const body = parseBody(feedbackBodySchema, req.body);
    const d = await find(req.params.id);
    const principal = principalOf(res);
    requireOwnerOrAdmin(principal, d.apiKey?.id ?? null, 'rating');
    const result = await writeOffLoop(deps.decisions.db, () => recordFeedback(deps, d, body, principal.key?.name ?? null), BUSY_TIMEOUT_MS);
    res.json({
      object: 'switchyard.feedback',
      decision_id: d.id,
      model: result.model,
      score: result.score,
      success: result.success,
      comment: result.comment,
      trains: result.trains,
      ...(result.trains
        ? {}
        : { note: 'prompts are not stored (storage.storePrompts: false), so this feedback is kept on the decision but cannot train the router' }),
    });
  });

  return routes;
}
