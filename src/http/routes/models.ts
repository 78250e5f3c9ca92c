// GET /v1/models: what clients may put in `model`, in OpenAI's list shape ('auto' first).
import { Router as ExpressRouter } from 'express';
import type { ModelConfig } from '../../config/schema';

export function modelRoutes(deps: { models: readonly ModelConfig[]; startedAt: number }): ExpressRouter {
  const routes = ExpressRouter();
  const created = Math.floor(deps.startedAt / 1000);
  const data = [
    { id: 'auto', object: 'model', created, owned_by: 'switchyard' },
    ...deps.models.map((m) => ({ id: m.id, object: 'model', created, owned_by: m.provider === 'sim' ? 'switchyard-sim' : 'switchyard' })),
  ];
  routes.get('/v1/models', (_req, res) => {
    res.json({ object: 'list', data });
  });
  return routes;
}
