// Builds the HTTP application from parts passed in; reads no files and opens no ports itself
// (src/main.ts does that), so tests can build it with fakes.
import express, { type Express } from 'express';
import type { Router } from '../routing/router';
import { promptText } from '../routing/prompt-text';
import { decisionJson } from './decision-json';
import { errorHandler, notFoundHandler } from './error-handler';
import { parseBody, routeRequestSchema } from './schemas';

export interface AppDeps {
  router: Router;
  /** What /healthz reports about the classifier in use. */
  classifierVersion: () => string | null;
  embedderId: string;
  bodyLimitBytes?: number;
  onUnexpectedError?: (err: unknown) => void;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(express.json({ limit: deps.bodyLimitBytes ?? 1_048_576 }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', classifier_version: deps.classifierVersion(), embedder_id: deps.embedderId, models: deps.router.modelIds });
  });

  app.post('/v1/route', async (req, res) => {
    const body = parseBody(routeRequestSchema, req.body);
    const prompt = body.prompt ?? promptText(body.messages ?? []);
    const decision = await deps.router.route({
      prompt,
      maxTokens: body.max_completion_tokens ?? body.max_tokens,
      minSuccess: body.router?.min_success,
      models: body.router?.models,
    });
    res.json(decisionJson(decision));
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.onUnexpectedError ?? ((err) => console.error('unexpected error:', err))));
  return app;
}
