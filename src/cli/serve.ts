// `switchyard serve`: wires the configured parts together and listens. The only place (with the other
// commands' wiring in src/main.ts) that reads env, files and the clock for the server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoadedConfig } from './context';
import { ClassifierRegistry } from '../routing/classifier-registry';
import { createRouter } from '../routing/router';
import { createApp } from '../http/app';
import type { Embedder } from '../embedding/embedder';

export interface ServeOptions {
  loaded: LoadedConfig;
  embedder: Embedder;
  log: (message: string) => void;
  /** Overrides server.port (tests pass 0). */
  port?: number;
}

export interface RunningServer {
  url: string;
  registry: ClassifierRegistry;
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { config, resolve } = options.loaded;
  const { log, embedder } = options;
  const registry = new ClassifierRegistry({
    dir: resolve(config.routing.classifierDir),
    expectEmbedderId: embedder.id,
    onError: (msg) => log(`warning: ${msg}`),
    onLoad: (version) => log(`classifier ${version} loaded`),
  });
  await registry.refresh();
  const router = createRouter({
    models: config.models,
    minSuccess: config.routing.minSuccess,
    coldStart: config.routing.coldStart,
    expectedOutputTokens: config.routing.expectedOutputTokens,
    embedder,
    classifier: () => registry.current(),
  });
  const app = createApp({
    router,
    classifierVersion: () => registry.current()?.version ?? null,
    embedderId: embedder.id,
    bodyLimitBytes: config.server.bodyLimitBytes,
    onUnexpectedError: (err) => log(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
  });
  const poll =
    config.routing.reloadIntervalMs > 0 ? setInterval(() => void registry.refresh(), config.routing.reloadIntervalMs) : null;
  poll?.unref();

  const server = http.createServer(app);
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? config.server.port, config.server.host, () => resolveListen());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  if (!registry.current()) log(`no classifier yet in ${resolve(config.routing.classifierDir)}: routing cold-start to ${router.modelIds.includes(config.routing.coldStart ?? '') ? config.routing.coldStart : 'the dearest model'} until one is trained`);
  log(`switchyard listening on ${url} (models: ${router.modelIds.join(', ')})`);

  return {
    url,
    registry,
    async close() {
      if (poll) clearInterval(poll);
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await registry.dispose();
    },
  };
}
