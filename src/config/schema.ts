// The configuration file's schema. Types come from the schema, so what is validated is what is used.
import { z } from 'zod';
import { POLICY_KINDS } from '../routing/policy';

/** Node's timers hold a signed 32-bit delay: a longer one fires after 1 ms (a 3,000,000,000 ms timeout failed every call at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const TIMER_LIMIT = `at most ${MAX_TIMER_MS} ms (about 24.8 days): Node's timers cannot wait longer`;

/** The model names that ask for a routed choice; no configured model may take one. */
export const AUTO_MODEL_IDS: readonly string[] = ['auto', 'switchyard/auto'];

const price = z.strictObject({
  inputPerMTok: z.number().nonnegative(),
  outputPerMTok: z.number().nonnegative(),
});

const simOptions = z.strictObject({
  /** Fixed answer text; when absent the sim model echoes the last user message. */
  reply: z.string().optional(),
  latencyMs: z.number().nonnegative().max(MAX_TIMER_MS, TIMER_LIMIT).default(0),
  /** Share of requests answered with HTTP 500 (0..1), drawn from a seeded generator. */
  errorRate: z.number().min(0).max(1).default(0),
  /** Tokens reported as completion usage; default: about one per four characters of the answer. */
  completionTokens: z.number().int().nonnegative().optional(),
  seed: z.number().int().default(1),
});

export const modelConfigSchema = z.strictObject({
  // Sent back in the x-switchyard-model header: printable ASCII only. An en dash pasted from a web page
  // ("llama–3") passed, and then every request answered 500 when the header was set.
  id: z
    .string()
    .min(1)
    .regex(/^[^\s]+$/, 'model ids cannot contain white space')
    .regex(/^[\x21-\x7e]+$/, 'model ids must be printable ASCII (they are sent back in the x-switchyard-model header)'),
  provider: z.enum(['openai', 'sim']).default('openai'),
  // z.url() alone takes "localhost:11434/v1" (scheme "localhost:"), which then fails every call as a connect error.
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL, e.g. http://localhost:11434/v1' }).optional(),
  /** Name of the environment variable that holds the upstream API key (never the key itself). */
  apiKeyEnv: z.string().min(1).optional(),
  upstreamModel: z.string().min(1).optional(),
  price,
  /**
   * This model's typical answer length in tokens, for cost estimates (capped by a request's max_tokens);
   * default routing.expectedOutputTokens. Worth setting when models differ: reasoning models write far more.
   */
  expectedOutputTokens: z.number().int().positive().optional(),
  contextWindow: z.number().int().positive().optional(),
  timeouts: z
    .strictObject({
      connectMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_LIMIT).default(5_000),
      totalMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_LIMIT).default(120_000),
    })
    .default({ connectMs: 5_000, totalMs: 120_000 }),
  sim: simOptions.optional(),
});

/**
 * A correction read from the clients' ratings (opt-in): the last `window` rated answers, once there are
 * `minRatings`, re-read at most every `refreshMs` (at least `minRefreshMs`: one re-read on a timer must not
 * follow the last without a pause).
 */
const ratingsWindow = (minRefreshMs = 0) =>
  z
    .strictObject({
      enabled: z.boolean().default(false),
      window: z.number().int().min(1).max(100_000).default(1000),
      minRatings: z.number().int().min(2).default(100),
      refreshMs: z.number().int().min(minRefreshMs).max(MAX_TIMER_MS, TIMER_LIMIT).default(30_000),
    })
    .prefault({});

export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65_535).default(8080),
        /** Largest accepted request body in bytes. */
        bodyLimitBytes: z.number().int().positive().default(1_048_576),
        /** On SIGTERM, how long in-flight requests may run on before their connections are cut. */
        shutdownGraceMs: z.number().int().nonnegative().max(MAX_TIMER_MS, TIMER_LIMIT).default(10_000),
      })
      .prefault({}),
    storage: z
      .strictObject({
        path: z.string().min(1).default('data/switchyard.db'),
        storePrompts: z.boolean().default(true),
        /** The decision log is written in batches off the response path; these bound how. */
        logQueue: z
          .strictObject({
            /** Rows written per transaction at most. */
            batchRows: z.number().int().positive().default(256),
            /** Longest a row waits in memory before it is written. */
            flushIntervalMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_LIMIT).default(50),
            /** Rows held in memory at most; at the bound a request's row is written at once instead of dropped. */
            maxRows: z.number().int().positive().default(10_000),
            /**
             * The same bound in bytes of memory (a row holds its prompt, up to server.bodyLimitBytes): rows
             * of 1 MB prompts queued behind a lock would otherwise run the process out of memory long before
             * maxRows.
             */
            maxBytes: z.number().int().positive().default(256 * 1024 * 1024),
            /**
             * At shutdown, how long to keep trying to write queued rows into a store another process holds
             * locked; rows still unwritten then are saved beside the database and written at the next start.
             */
            shutdownWaitMs: z.number().int().nonnegative().max(MAX_TIMER_MS, TIMER_LIMIT).default(10_000),
          })
          .prefault({}),
      })
      .prefault({}),
    embedding: z
      .strictObject({
        /** `default` (the GloVe embedder built at install), a local folder, or a Hugging Face model id. */
        model: z.string().min(1).default('default'),
        /** Where `default` and hub downloads live. */
        modelsDir: z.string().min(1).default('models/embedder'),
      })
      .default({ model: 'default', modelsDir: 'models/embedder' }),
    routing: z
      .strictObject({
        classifierDir: z.string().min(1).default('models/router'),
        minSuccess: z.number().min(0).max(1).default(0.7),
        /**
         * How minSuccess is read: `per-request`, the bar each request's model must clear (cheapest model with
         * p ≥ minSuccess); `near-best`, how much predicted success a request may give up against its best
         * model (best p − (1 − minSuccess)·log price share: never more than 1 − minSuccess below the best p);
         * `average`, the mean success wanted over the traffic (best p − λ·cost per request).
         */
        policy: z.enum(POLICY_KINDS).default('per-request'),
        /**
         * The average policy's price of success λ is set on the classifier's reference prompts until
         * `minTraffic` prompts have been routed, then on the last `trafficWindow` routed prompts (0: always
         * the reference), re-derived at most every `refreshMs`.
         */
        average: z
          .strictObject({
            trafficWindow: z.number().int().min(0).max(100_000).default(2000),
            minTraffic: z.number().int().min(1).default(200),
            refreshMs: z.number().int().nonnegative().max(MAX_TIMER_MS, TIMER_LIMIT).default(5000),
            /**
             * Opt-in: add to the target how much the classifier over-predicted the last `window` rated
             * answers (mean predicted − mean rated success, once `minRatings` and when beyond twice its
             * standard error), re-read at most every `refreshMs`. Right when rated answers are a fair sample.
             */
            feedback: ratingsWindow(),
          })
          .prefault({}),
        /**
         * Opt-in: per-request and near-best policies correct each model's predicted success by its last
         * `window` rated answers (a logit shift fitted to them, once `minRatings` and when beyond twice its
         * standard error), re-read every `refreshMs` on a timer. Right when rated answers are a fair sample.
         */
        recalibration: ratingsWindow(10),
        /** Model used while no classifier has been trained. */
        coldStart: z.string().min(1).optional(),
        /** Completion length assumed when estimating a request's cost and the request sets no max_tokens. */
        expectedOutputTokens: z.number().int().positive().default(256),
        /**
         * Each model's answer length learned from the log, for models without their own
         * expectedOutputTokens: the mean completion tokens of its last `window` answers, once it has
         * `minAnswers`, re-read every `refreshMs`. Until then the default above.
         */
        answerLengths: z
          .strictObject({
            enabled: z.boolean().default(true),
            window: z.number().int().min(1).max(100_000).default(500),
            minAnswers: z.number().int().min(1).default(50),
            refreshMs: z.number().int().min(1_000).max(MAX_TIMER_MS, TIMER_LIMIT).default(60_000),
          })
          .prefault({}),
        /** How often the server checks the classifier directory for a newly promoted version. */
        reloadIntervalMs: z.number().int().nonnegative().max(MAX_TIMER_MS, TIMER_LIMIT).default(2_000),
        maxAttempts: z.number().int().min(1).max(10).default(3),
        /** Per-model circuit breaker: consecutive failures that open it, and how long it then stays open. */
        breaker: z
          .strictObject({
            failureThreshold: z.number().int().min(1).default(5),
            cooldownMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_LIMIT).default(30_000),
          })
          .prefault({}),
      })
      .prefault({}),
    models: z.array(modelConfigSchema).min(1, 'configure at least one model'),
  })
  .superRefine(
    (cfg, ctx) => {
      // Run even when some field is already wrong (`when` below), so every bad field is reported at once:
      // the value may then be only partly valid, hence the checks of shape before each use.
      const models: unknown[] = Array.isArray(cfg.models) ? cfg.models : [];
      const seen = new Set<string>();
      let everyId = true;
      models.forEach((raw, i) => {
        const m = (typeof raw === 'object' && raw !== null ? raw : {}) as { id?: unknown; provider?: unknown; baseUrl?: unknown };
        if (typeof m.id !== 'string') everyId = false;
        else if (seen.has(m.id)) ctx.addIssue({ code: 'custom', path: ['models', i, 'id'], message: `duplicate model id "${m.id}"` });
        else if (AUTO_MODEL_IDS.includes(m.id)) {
          // A request naming it would be routed, never sent to this model.
          ctx.addIssue({ code: 'custom', path: ['models', i, 'id'], message: `"${m.id}" asks for routing (${AUTO_MODEL_IDS.join(', ')}); give the model another id` });
        }
        else seen.add(m.id);
        if (m.provider === 'openai' && !m.baseUrl) {
          ctx.addIssue({ code: 'custom', path: ['models', i, 'baseUrl'], message: 'required for provider "openai"' });
        }
      });
      const cold: unknown = (cfg.routing as { coldStart?: unknown } | undefined)?.coldStart;
      // With a model's id itself invalid, an unknown cold-start model may be that one: said once it is fixed.
      if (typeof cold === 'string' && everyId && !seen.has(cold)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routing', 'coldStart'],
          message: `"${cold}" is not a configured model (configured: ${[...seen].join(', ')})`,
        });
      }
    },
    { when: () => true },
  );

export type SwitchyardConfig = z.infer<typeof configSchema>;
export type ModelConfig = z.infer<typeof modelConfigSchema>;
export type ModelPrice = z.infer<typeof price>;
