// Builds the HTTP application from parts passed in; reads no files and opens no ports itself
// (src/main.ts does that), so tests can build it with fakes.
import express, { type Express } from 'express';
import type { ModelConfig } from '../config/schema';
import type { SwitchyardError } from '../errors';
import type { ChatGateway } from '../gateway/chat-gateway';
import type { Router } from '../routing/router';
import { type AuthDeps, authenticate } from './auth';
import { errorHandler, notFoundHandler } from './error-handler';
import { jsonBody } from './json-body';
import { chatCompletionRoutes } from './routes/chat-completions';
import { type InspectionDeps, decisionRoutes } from './routes/decisions';
import { modelRoutes } from './routes/models';
import { routeRoutes } from './routes/route';
import { statsRoutes } from './routes/stats';

export interface AppDeps {
  router: Router;
  /** What /healthz reports about the classifier in use. */
  classifierVersion: () => string | null;
  embedderId: string;
  models: readonly ModelConfig[];
  gateway: ChatGateway;
  auth: AuthDeps;
  inspection: InspectionDeps;
  /** Epoch ms the server started, shown as `created` in /v1/models. */
  startedAt: number;
  bodyLimitBytes?: number;
  onUnexpectedError?: (err: unknown) => void;
  /** Known errors answered with a 5xx (store busy, every upstream failed); the server logs them throttled. */
  onServiceError?: (err: SwitchyardError) => void;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Health checks come from load balancers that hold no key.
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', classifier_version: deps.classifierVersion(), embedder_id: deps.embedderId, models: deps.router.modelIds });
  });

  // Authentication runs before the body is read, so an unauthenticated client cannot make us parse 1 MB.
  app.use(authenticate(deps.auth));
  app.use(jsonBody(deps.bodyLimitBytes ?? 1_048_576));
  app.use(routeRoutes({ router: deps.router }));
  app.use(modelRoutes({ models: deps.models, startedAt: deps.startedAt }));
  app.use(chatCompletionRoutes({ gateway: deps.gateway }));
  app.use(decisionRoutes(deps.inspection));
  app.use(statsRoutes(deps.inspection));

  app.use(notFoundHandler);
  app.use(errorHandler(deps.onUnexpectedError ?? ((err) => console.error('unexpected error:', err)), deps.onServiceError));
  return app;
}
