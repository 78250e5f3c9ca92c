// POST /v1/route: the routing decision alone, without calling any model (a dry run of `model: "auto"`).
import { Router as ExpressRouter } from 'express';
import type { Router } from '../../routing/router';
import { promptText } from '../../routing/prompt-text';
import { decisionJson } from '../decision-json';
import { parseBody, routeRequestSchema } from '../schemas';

export function routeRoutes(deps: { router: Router }): ExpressRouter {
  const routes = ExpressRouter();
  routes.post('/v1/route', async (req, res) => {
    const body = parseBody(routeRequestSchema, req.body);
    const prompt = body.prompt ?? promptText(body.messages ?? []);
    const decision = await deps.router.route({
      prompt,
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
      minSuccess: body.router?.min_success,
      policy: body.router?.policy,
      models: body.router?.models,
      promptField: body.prompt !== undefined ? 'prompt' : 'messages',
    });
    res.json(decisionJson(decision));
  });
  return routes;
}
