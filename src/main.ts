// The program's entry: parses the command line, reads the config and environment, builds the parts and
// runs a command. Importing this file does nothing; bin/switchyard.js calls runCli().
import fs from 'node:fs';
import path from 'node:path';
import { SwitchyardError } from './errors';
import { UsageError, parseFlags } from './cli/args';
import { configPath, loadConfigFile } from './cli/context';
import { type CommandContext, evalCommand, featuresCommand, importCommand, retrainCommand, scoreCommand } from './cli/commands';
import { startServer } from './cli/serve';
import { keysCommand } from './cli/keys';
import { SqliteStore } from './store/sqlite-store';
import { recentAnswerLengths } from './store/decision-stats';
import { learnedLengths } from './routing/answer-lengths';
import { ApiKeyStore } from './store/api-key-store';
import { createAgentFetch } from './providers/agent-fetch';
import { createTransformersEmbedder, ensureDefaultEmbedder } from './embedding/transformers-embedder';
import type { Embedder } from './embedding/embedder';
import type { LoadedConfig } from './cli/context';
import { pricesFromConfig, readPriceFile } from '../training/prices';
import { foldPoolOrNull } from '../training/fold-pool';
import { IN_PROCESS_FOLDS } from '../training/component-recipes';

const USAGE = `usage: switchyard <command> [options]

commands:
  serve            run the router service                  [--config file] [--port N]
  import <file>    store routing outcomes from JSONL        [--config file]
  retrain          learn a classifier from stored outcomes  [--force] [--seed N] [--prices file] [--learner NAME] [--features KIND]
                                                            [--policy per-request|near-best|average] [--workers N] [--interval N] [--config file]
  score            p_success per row of a JSONL file        --data in.jsonl --out out.jsonl [--config file]
  features         a classifier's input rows, for training   --data in.jsonl --out out.jsonl [--features KIND (default embedding)] [--config file]
                   one elsewhere (scikit-learn → ONNX)
  eval             routing quality on a labelled file       --data file.jsonl [--svg chart.svg (default <file>.quality.svg)] [--prices file]
                                                            [--policy P] [--by-source DEPTH [--min-source-rows N]] [--interval N] [--config file]
  build-embedder   build the default GloVe embedder         [--models-dir dir | --config file (its embedding.modelsDir)]
  keys create      make a client API key (printed once)     --name N [--admin] [--config file]
  keys list        list client API keys                     [--config file]
  keys revoke      revoke a client API key                  --name N [--config file]

The config file is --config, else $SWITCHYARD_CONFIG, else ./switchyard.yaml.`;

const log = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

async function openEmbedder(loaded: LoadedConfig): Promise<Embedder> {
  const { embedding } = loaded.config;
  const modelsDir = loaded.resolve(embedding.modelsDir);
  // The default embedder is built at install; build it on first use if that step was skipped.
  if (embedding.model === 'default') await ensureDefaultEmbedder({ modelsDir, onProgress: log });
  // A path is relative to the config file, as documented: one starting with '.', or a folder that exists
  // there ('embs/glove'), which would otherwise read as a hub id and be looked for in modelsDir.
  const local = loaded.resolve(embedding.model);
  const isPath = embedding.model !== 'default' && (embedding.model.startsWith('.') || path.isAbsolute(embedding.model) || fs.existsSync(local));
  const embedder = createTransformersEmbedder({
    model: isPath ? local : embedding.model,
    modelsDir,
    allowRemote: true,
  });
  await embedder.load();
  return embedder;
}

function commandContext(loaded: LoadedConfig, cleanup: (() => Promise<void> | void)[]): CommandContext {
  let store: SqliteStore | null = null;
  let embedder: Promise<Embedder> | null = null;
  const { config, resolve } = loaded;
  const storePath = resolve(config.storage.path);
  const openStore = (): SqliteStore => {
    if (!store) {
      store = new SqliteStore({ path: storePath });
      cleanup.push(() => store?.close());
    }
    return store;
  };
  // An in-memory store starts empty each run, so there is nothing to read in one that is not open yet.
  const existingStore = (): SqliteStore | null => store ?? (storePath !== ':memory:' && fs.existsSync(storePath) ? openStore() : null);
  const lengths = config.routing.answerLengths;
  return {
    store: openStore,
    existingStore,
    answerLengths: () => {
      const existing = lengths.enabled ? existingStore() : null;
      return existing ? learnedLengths(recentAnswerLengths(existing.db, lengths.window), lengths.minAnswers) : new Map();
    },
    embedder: () => {
      if (!embedder) {
        embedder = openEmbedder(loaded);
        // An embedder that failed to load has nothing to release (its error is reported once, by runCli).
        const opened = embedder;
        cleanup.push(() => opened.then((e) => e.dispose(), () => undefined));
      }
      return embedder;
    },
    classifierDir: resolve(config.routing.classifierDir),
    prices: pricesFromConfig(config.models),
    configuredModels: config.models.map((m) => m.id),
    expectedOutputTokens: config.routing.expectedOutputTokens,
    policy: config.routing.policy,
    readPrices: readPriceFile,
    foldRunner: (workers) => {
      const pool = foldPoolOrNull(workers);
      if (!pool) return IN_PROCESS_FOLDS;
      cleanup.push(() => pool.close());
      return pool;
    },
    log,
    report: (line) => process.stdout.write(`${line}\n`),
  };
}

const OFFLINE: Record<string, (argv: string[], ctx: CommandContext) => Promise<number>> = {
  import: importCommand,
  retrain: retrainCommand,
  score: scoreCommand,
  eval: evalCommand,
  features: featuresCommand,
};

function configFlag(argv: string[]): string | undefined {
  const i = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (i < 0) return undefined;
  return argv[i].includes('=') ? argv[i].slice('--config='.length) : argv[i + 1];
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseFlags('serve', argv, { config: { type: 'string' }, port: { type: 'string' } }, 'switchyard serve [--config file] [--port N]');
  const loaded = loadConfigFile(configPath(values.config, process.env));
  const embedder = await openEmbedder(loaded);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) throw new UsageError(`--port must be 0..65535, got "${values.port}"`);
  // Upstream calls go through keep-alive node:http agents: undici's fetch costs ~4× the CPU per call.
  const upstreamFetch = createAgentFetch();
  const server = await startServer({ loaded, embedder, log, port, fetch: upstreamFetch, env: process.env });
  // Exit 1 when decision rows were lost at shutdown, so a supervisor's log shows it.
  return await new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      log(`${signal}: shutting down`);
      let code = 0;
      void server
        .close()
        .then(async (report) => {
          code = report.lostRows > 0 ? 1 : 0;
          await embedder.dispose();
        })
        .finally(() => {
          upstreamFetch.close();
          resolve(code);
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const cleanup: (() => Promise<void> | void)[] = [];
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    if (command === 'serve') return await serve(rest);
    if (command === 'build-embedder') {
      const { values } = parseFlags(
        'build-embedder',
        rest,
        { 'models-dir': { type: 'string' }, config: { type: 'string' } },
        'switchyard build-embedder [--models-dir dir | --config file]',
      );
      if (values['models-dir'] !== undefined && values.config !== undefined) {
        throw new UsageError('build-embedder takes --models-dir or --config, not both\nusage: switchyard build-embedder [--models-dir dir | --config file]');
      }
      // Without either flag it builds into ./models/embedder: `npm install` runs it before any config exists.
      const fromConfig = values.config === undefined ? null : loadConfigFile(values.config);
      const modelsDir = values['models-dir'] ?? (fromConfig ? fromConfig.resolve(fromConfig.config.embedding.modelsDir) : 'models/embedder');
      const built = await ensureDefaultEmbedder({ modelsDir: path.resolve(modelsDir), onProgress: log });
      log(`default embedder ready: ${built.embedderId}`);
      return 0;
    }
    if (command === 'keys') {
      const loaded = loadConfigFile(configPath(configFlag(rest), process.env));
      return await keysCommand(rest, {
        keys: () => {
          const store = new SqliteStore({ path: loaded.resolve(loaded.config.storage.path) });
          cleanup.push(() => store.close());
          return new ApiKeyStore(store.db);
        },
        out: (text) => process.stdout.write(text),
        log,
      });
    }
    const run = OFFLINE[command];
    if (!run) throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
    const loaded = loadConfigFile(configPath(configFlag(rest), process.env));
    return await run(rest, commandContext(loaded, cleanup));
  } catch (err) {
    if (err instanceof UsageError) {
      log(err.message);
      return 2;
    }
    if (err instanceof SwitchyardError) {
      log(`error: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    // Every clean-up runs (the store is closed even when the embedder's fails).
    for (const fn of cleanup.reverse()) {
      try {
        await fn();
      } catch (err) {
        log(`warning: clean-up failed: ${(err as Error).message}`);
      }
    }
  }
}
