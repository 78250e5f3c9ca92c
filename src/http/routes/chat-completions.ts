// POST /v1/chat/completions: OpenAI-compatible, streaming or not. Every response after routing carries
// the decision id and the model (for streams, the one that sent the first chunk).
import { Router as ExpressRouter } from 'express';
import type { ChatGateway } from '../../gateway/chat-gateway';
import { principalOf } from '../auth';
import { chatCompletionBodySchema, parseBody } from '../schemas';
import { DECISION_ID_HEADER, MODEL_HEADER, writeSse } from '../sse-writer';

export function chatCompletionRoutes(deps: { gateway: ChatGateway }): ExpressRouter {
  const routes = ExpressRouter();
  routes.post('/v1/chat/completions', async (req, res) => {
    const { router, ...request } = parseBody(chatCompletionBodySchema, req.body);
    const { key } = principalOf(res);
    // A client that goes away aborts the upstream call (and any failover still to come).
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const prepared = await deps.gateway.prepare({ request, router, caller: key ? { keyId: key.id, keyName: key.name } : null });
    res.set(DECISION_ID_HEADER, prepared.id).set(MODEL_HEADER, prepared.decision.chosen);
    if (request.stream !== true) {
      const { model, response } = await deps.gateway.complete(prepared, controller.signal);
      res.set(MODEL_HEADER, model).json(response);
      return;
    }
    const stream = await deps.gateway.stream(prepared, controller.signal);
    await writeSse(res, stream, controller.signal);
  });
  return routes;
}
