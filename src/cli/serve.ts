// `switchyard serve`: wires the configured parts together and listens. Env and fetch come from
// src/main.ts; this file reads the config's files (classifier, database) and the clock.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoadedConfig } from './context';
import { ClassifierRegistry } from '../routing/classifier-registry';
import { createRouter } from '../routing/router';
import { createFeedbackCorrection } from '../routing/feedback-correction';
import { applyShift, createRecalibration } from '../routing/recalibration';
import { createAnswerLengths } from '../routing/answer-lengths';
import { ratedAnswers, ratedGap, recentAnswerLengths } from '../store/decision-stats';
import { createApp } from '../http/app';
import { InFlightRequests, settlesWithin } from '../http/in-flight';
import type { Embedder } from '../embedding/embedder';
import { buildProviders } from '../providers/registry';
import { createAgentFetch } from '../providers/agent-fetch';
import { createCircuitBreakers } from '../providers/circuit-breaker';
import { createChatGateway } from '../gateway/chat-gateway';
import { createDecisionIdGenerator } from '../gateway/decision-id';
import { SqliteStore } from '../store/sqlite-store';
import { DecisionStore } from '../store/decision-store';
import { ApiKeyStore } from '../store/api-key-store';
import { createDecisionLogQueue } from '../store/decision-log-queue';
import { replaySpill, spillPath, spillRows } from '../store/decision-spill';
import { errorMessage } from '../errors';
import { createThrottledLog } from '../util/throttled-log';

export interface ServeOptions {
  loaded: LoadedConfig;
  embedder: Embedder;
  log: (message: string) => void;
  /** Overrides server.port (tests pass 0). */
  port?: number;
  /** What providers call upstreams with. Default: a keep-alive agent fetch, closed with the server. */
  fetch?: typeof fetch;
  /** Where models' `apiKeyEnv` names are looked up (main passes process.env). Default: empty. */
  env?: Record<string, string | undefined>;
}

export interface ShutdownReport {
  /** Decision rows neither written to the store nor saved beside it: the process should exit non-zero. */
  lostRows: number;
}

export interface RunningServer {
  url: string;
  registry: ClassifierRegistry;
  /**
   * Graceful: stops accepting, lets in-flight requests finish (server.shutdownGraceMs), writes the log
   * (rows the store refuses are saved beside it for the next start), closes SQLite.
   */
  close(): Promise<ShutdownReport>;
}

/** "a 40, b 400 (c: its configured 100 is used)": which learned lengths the router costs with. */
function describeLengths(lengths: ReadonlyMap<string, number>, models: LoadedConfig['config']['models']): string {
  const parts = models.flatMap((m) => {
    const t = lengths.get(m.id);
    if (t === undefined) return [];
    return [m.expectedOutputTokens === undefined ? `${m.id} ${t}` : `${m.id} ${t} (its configured ${m.expectedOutputTokens} is used)`];
  });
  return parts.join(', ') || 'none yet';
}

/** "sim-small −1.85 (p 0.80 → 0.40)": each shifted model, with what the shift does to a prediction of 0.8. */
function describeShifts(shifts: ReadonlyMap<string, number>): string {
  const parts = [...shifts].map(([model, shift]) => `${model} ${shift >= 0 ? '+' : '−'}${Math.abs(shift).toFixed(2)} (p 0.80 → ${applyShift(0.8, shift).toFixed(2)})`);
  return parts.join(', ') || 'no model shifted';
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { config, resolve } = options.loaded;
  const { log, embedder } = options;
  // Providers first: a missing upstream key should stop start-up before anything is opened.
  let ownFetch: ReturnType<typeof createAgentFetch> | null = null;
  const upstreamFetch = options.fetch ?? (ownFetch = createAgentFetch());
  const providers = buildProviders(config.models, { fetch: upstreamFetch, env: options.env ?? {} });
  const registry = new ClassifierRegistry({
    dir: resolve(config.routing.classifierDir),
    expectEmbedderId: embedder.id,
    expectEmbedderDimension: embedder.dimension,
    onError: (msg) => log(`warning: ${msg}`),
    onLoad: (version) => log(`classifier ${version} loaded`),
    onUnload: () => log(`no CURRENT in ${resolve(config.routing.classifierDir)} any more: routing cold-start until a classifier is promoted`),
  });
  await registry.refresh();
  const store = new SqliteStore({ path: resolve(config.storage.path) });
  const feedback = config.routing.average.feedback;
  const recalibration = config.routing.recalibration;
  const lengthOptions = config.routing.answerLengths;
  const answerLengths = lengthOptions.enabled
    ? createAnswerLengths({ read: () => recentAnswerLengths(store.db, lengthOptions.window), minAnswers: lengthOptions.minAnswers })
    : null;
  answerLengths?.refresh();
  const recalibrated = recalibration.enabled
    ? createRecalibration({ read: (version) => ratedAnswers(store.db, version, recalibration.window), minRatings: recalibration.minRatings })
    : null;
  // Off the request path, like the answer lengths; said in the log when a shift changes.
  const recalibrate = (): void => {
    const version = registry.current()?.version ?? null;
    if (recalibrated?.refresh(version) && version !== null) log(`recalibration by ratings of ${version}: ${describeShifts(recalibrated.current(version))}`);
  };
  recalibrate();
  const router = createRouter({
    models: config.models,
    minSuccess: config.routing.minSuccess,
    policy: config.routing.policy,
    average: config.routing.average,
    coldStart: config.routing.coldStart,
    expectedOutputTokens: config.routing.expectedOutputTokens,
    embedder,
    classifier: () => registry.current(),
    acquireClassifier: () => registry.acquire(),
    ...(answerLengths ? { answerLengths: answerLengths.current } : {}),
    ...(feedback.enabled
      ? {
          targetCorrection: createFeedbackCorrection({
            read: (version) => ratedGap(store.db, version, feedback.window),
            minRatings: feedback.minRatings,
            refreshMs: feedback.refreshMs,
            now: Date.now,
          }),
        }
      : {}),
    ...(recalibrated ? { recalibration: recalibrated.current } : {}),
  });

  const decisions = new DecisionStore(store.db);
  const spill = spillPath(resolve(config.storage.path));
  try {
    const replayed = replaySpill(spill, (rows) => decisions.insertMissing(rows), Date.now);
    if (replayed) {
      log(
        `decision log: wrote ${replayed.written} rows saved at the last shutdown${replayed.present ? ` (${replayed.present} were stored already)` : ''}` +
          (replayed.keptAs ? `; ${replayed.unreadable} lines that are not decision rows are kept in ${replayed.keptAs}` : ''),
      );
    }
  } catch (err) {
    log(`warning: decision log: could not write the rows saved at the last shutdown (${errorMessage(err)}); they stay in ${spill} and are tried again at the next start`);
  }
  const keys = new ApiKeyStore(store.db);
  const writer = createDecisionLogQueue(store.db, decisions, config.storage.logQueue, log);
  const breakers = createCircuitBreakers(config.models.map((m) => m.id), { now: Date.now, ...config.routing.breaker });
  const gateway = createChatGateway({
    router,
    models: config.models,
    providers,
    breakers,
    maxAttempts: config.routing.maxAttempts,
    minSuccess: config.routing.minSuccess,
    expectedOutputTokens: config.routing.expectedOutputTokens,
    ...(answerLengths ? { answerLengths: answerLengths.current } : {}),
    storePrompts: config.storage.storePrompts,
    record: (row) => writer.enqueue(row),
    newId: createDecisionIdGenerator(),
  });

  // Without keys anyone who can reach the port can spend upstream credit: only this machine may.
  // Revoked keys count: a store whose keys were all revoked stays closed rather than reopening at restart.
  const keysAtStart = keys.hasAnyKeys();
  const host = keysAtStart || LOOPBACK.has(config.server.host) ? config.server.host : '127.0.0.1';
  // Running open, a key made with `switchyard keys create` switches auth on within a second; checked at
  // most once a second because the query would otherwise cost every request.
  let keysCheckedAt = 0;
  let keysNow = false;
  const keysCreatedSince = (): boolean => {
    const now = Date.now();
    if (!keysNow && now - keysCheckedAt >= 1_000) {
      keysCheckedAt = now;
      keysNow = keys.hasAnyKeys();
    }
    return keysNow;
  };
  const startedAt = Date.now();
  const serviceLog = createThrottledLog({ log, now: Date.now, intervalMs: 10_000 });
  const app = createApp({
    router,
    classifierVersion: () => registry.current()?.version ?? null,
    embedderId: embedder.id,
    models: config.models,
    gateway,
    auth: { verify: (key) => keys.verify(key), required: () => keysAtStart || keysCreatedSince() },
    inspection: { decisions, outcomes: store, models: config.models, breakers, log: writer, now: Date.now, streaming: (id) => gateway.streaming(id) },
    startedAt,
    bodyLimitBytes: config.server.bodyLimitBytes,
    onUnexpectedError: (err) => log(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
    // The full message (the store's path included), one line per code per 10 s at most.
    onServiceError: (err) => serviceLog(err.code, `answered ${err.httpStatus} ${err.code}: ${err.message}`),
  });
  router.warm();
  const poll =
    config.routing.reloadIntervalMs > 0
      ? setInterval(
          () =>
            void registry.refresh().then((swapped) => {
              if (!swapped) return;
              router.warm();
              recalibrate();
            }),
          config.routing.reloadIntervalMs,
        )
      : null;
  poll?.unref();
  // Re-read off the request path; when a length moved, the average policy's reference curve is re-priced
  // here too (warm), not by the next request.
  const lengthsPoll = answerLengths
    ? setInterval(() => {
        if (!answerLengths.refresh()) return;
        log(`answer lengths learned from the log: ${describeLengths(answerLengths.current(), config.models)}`);
        router.warm();
      }, lengthOptions.refreshMs)
    : null;
  lengthsPoll?.unref();
  const recalibrationPoll = recalibrated ? setInterval(recalibrate, recalibration.refreshMs) : null;
  recalibrationPoll?.unref();
  const stopTimers = (): void => {
    for (const timer of [poll, lengthsPoll, recalibrationPoll]) if (timer) clearInterval(timer);
  };

  const inFlight = new InFlightRequests();
  // The tracker listens first: Express answers some requests synchronously (healthz, 401, 404), and on a
  // keep-alive connection during the drain the tracker must mark the response before its headers go out.
  const server = http.createServer();
  server.on('request', (req, res) => inFlight.track(req, res));
  server.on('request', app);
  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? config.server.port, host, () => resolveListen());
    });
  } catch (err) {
    stopTimers();
    store.close();
    ownFetch?.close();
    await registry.dispose();
    throw err;
  }
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  if (!registry.current()) log(`no classifier yet in ${resolve(config.routing.classifierDir)}: routing cold-start to ${router.modelIds.includes(config.routing.coldStart ?? '') ? config.routing.coldStart : 'the dearest model'} until one is trained`);
  if (keysAtStart && !keys.hasActiveKeys()) {
    log('every API key is revoked: all requests but /healthz are refused until one is created with `switchyard keys create`.');
  }
  if (!keysAtStart) {
    log(
      `no API keys exist: open access, listening on 127.0.0.1 only${host === config.server.host ? '' : ` (not ${config.server.host})`}. ` +
        'Create one with `switchyard keys create --name <name> --admin` to require keys and allow other hosts.',
    );
  }
  log(`switchyard listening on ${url} (models: ${router.modelIds.join(', ')})`);

  let closing: Promise<ShutdownReport> | null = null;
  const shutdown = async (): Promise<ShutdownReport> => {
    stopTimers();
    inFlight.drain();
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    const graceMs = config.server.shutdownGraceMs;
    const finished = await settlesWithin(Promise.all([inFlight.idle(), gateway.idle()]), graceMs);
    if (!finished) log(`shutdown: ${inFlight.count} request(s) still running after ${graceMs} ms; closing their connections`);
    server.closeAllConnections();
    // Cut requests abort their upstream calls and are logged as aborted; give that a moment.
    await settlesWithin(gateway.idle(), 2_000);
    await closed;
    // A store another process holds locked (an import, a retrain) or a full disk gets a while; rows it
    // still refuses are saved beside it and written at the next start, not lost with the process.
    const unwritten = await writer.closeAndTake(config.storage.logQueue.shutdownWaitMs);
    let lost = writer.stats().dropped;
    let saved = 0;
    if (unwritten.length > 0) {
      try {
        spillRows(spill, unwritten);
        saved = unwritten.length;
      } catch (err) {
        lost += unwritten.length;
        log(`error: decision log: ${unwritten.length} rows the store refused could not be saved to ${spill} either (${errorMessage(err)}): they are lost`);
      }
    }
    const s = writer.stats();
    log(
      `decision log flushed: ${s.written} rows written${saved ? `, ${saved} the store refused saved to ${spill} (written at the next start)` : ''}` +
        `${lost ? `, ${lost} lost` : ''}`,
    );
    store.close();
    ownFetch?.close();
    await registry.dispose();
    return { lostRows: lost };
  };

  return {
    url,
    registry,
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}
