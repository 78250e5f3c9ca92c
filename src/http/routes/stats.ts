// GET /v1/stats (admin): per-model and overall figures over a window, default the last 24 hours.
import { Router as ExpressRouter } from 'express';
import { InvalidInputError } from '../../errors';
import { buildStats } from '../../inspection/stats';
import { aggregateAttempts, aggregateDecisions } from '../../store/decision-stats';
import { BUSY_TIMEOUT_MS } from '../../store/sqlite-store';
import { principalOf, requireAdmin } from '../auth';
import { MAX_TIME_MS, parseBody, statsQuerySchema } from '../schemas';
import type { InspectionDeps } from './decisions';

const DAY_MS = 24 * 60 * 60 * 1000;

export function statsRoutes(deps: InspectionDeps): ExpressRouter {
  const routes = ExpressRouter();
  routes.get('/v1/stats', async (req, res) => {
    requireAdmin(principalOf(res), 'reading stats');
    const q = parseBody(statsQuerySchema, req.query, 'query');
    const until = q.until ?? deps.now() + 1;
    // Clamped to the earliest instant a Date holds: `until` may be that early itself.
    const since = q.since ?? Math.max(until - DAY_MS, -MAX_TIME_MS);
    if (since >= until) {
      throw q.since === undefined ? new InvalidInputError('"until" is the earliest instant there is: no window ends there', 'until') : new InvalidInputError('"since" must be before "until"', 'since');
    }
    await deps.log.settle(BUSY_TIMEOUT_MS);
    res.json(
      buildStats({
        aggregates: aggregateDecisions(deps.decisions.db, since, until),
        attempts: aggregateAttempts(deps.decisions.db, since, until),
        models: deps.models,
        breakers: deps.breakers,
        log: deps.log.stats(),
        since,
        until,
      }),
    );
  });
  return routes;
}
