// Request bodies, checked with zod at the boundary; types come from the schemas.
import { z } from 'zod';
import { InvalidInputError } from '../errors';
import { formatIssues } from '../config/load-config';
import { chatMessageSchema } from '../routing/prompt-text';
import { wellFormedText } from '../util/well-formed-text';
import { chatRequestSchema } from '../providers/types';
import { DECISION_STATUSES } from '../store/decision-types';
import { DECISION_ID_PATTERN } from '../gateway/decision-id';
import { DECISION_REASONS, POLICY_KINDS, RETIRED_DECISION_REASONS } from '../routing/policy';

export const routerOptionsSchema = z
  .strictObject({
    min_success: z.number().min(0).max(1).optional(),
    policy: z.enum(POLICY_KINDS).optional(),
    models: z.array(z.string().min(1)).min(1).optional(),
  })
  .optional();

export const routeRequestSchema = z
  .looseObject({
    messages: z.array(chatMessageSchema).min(1).optional(),
    prompt: wellFormedText().optional(),
    // As in the chat body (providers/types.ts): OpenAI clients send null for "not set".
    max_tokens: z.number().int().positive().nullish(),
    max_completion_tokens: z.number().int().positive().nullish(),
    router: routerOptionsSchema,
  })
  .refine((b) => (b.messages === undefined) !== (b.prompt === undefined), {
    message: 'give either "messages" (an OpenAI chat body) or "prompt", not both and not neither',
    path: ['messages'],
  });
export type RouteRequest = z.infer<typeof routeRequestSchema>;

/** Parses `body` or throws a 400 naming the first bad field (param) and listing all of them. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown, what = 'request body'): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const first = r.error.issues[0];
  // An unknown field is named by the issue's keys, not its path (the object that holds it).
  const path = first && first.code === 'unrecognized_keys' ? [...first.path, first.keys[0]] : first?.path;
  const param = path && path.length > 0 ? path.map(String).join('.') : null;
  throw new InvalidInputError(`invalid ${what}:\n${formatIssues(r.error.issues)}`, param, 'invalid_request');
}

// ---- Gateway ---------------------------------------------------------------------------------

/** OpenAI's chat body (fields the gateway does not read pass through) plus Switchyard's `router` options. */
export const chatCompletionBodySchema = chatRequestSchema.extend({ router: routerOptionsSchema });

/** JavaScript's dates end 8.64e15 ms either side of 1970; beyond, `new Date(ms).toISOString()` throws. */
export const MAX_TIME_MS = 8.64e15;

/**
 * A time as ISO 8601 or epoch milliseconds, to epoch milliseconds. Ten digits or more are milliseconds;
 * fewer are read as ISO 8601, so `2024` is that year, not 2.024 s after 1970.
 */
const instant = z.string().transform((s, ctx) => {
  const ms = /^\d{10,}$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a time (use ISO 8601 or epoch milliseconds)` });
    return z.NEVER;
  }
  return ms;
});

export const decisionListQuerySchema = z.strictObject({
  model: z.string().min(1).optional(),
  status: z.enum(DECISION_STATUSES).optional(),
  // A typo would otherwise list nothing, which reads as "no such decisions".
  reason: z.enum([...DECISION_REASONS, ...RETIRED_DECISION_REASONS]).optional(),
  api_key: z.string().min(1).optional(),
  since: instant.optional(),
  until: instant.optional(),
  /** The previous page's `next_cursor`. */
  cursor: z.string().regex(DECISION_ID_PATTERN, 'not a cursor from a previous page').optional(),
  // Given twice (?limit=1&limit=2) it arrives as a list, which coerces to NaN: say what is wanted.
  limit: z.coerce.number({ error: 'a whole number from 1 to 500, given once' }).int().min(1).max(500).default(50),
});

export const statsQuerySchema = z.strictObject({
  since: instant.optional(),
  until: instant.optional(),
});

export const feedbackBodySchema = z
  .strictObject({
    success: z.boolean().optional(),
    score: z.number().min(0).max(1).optional(),
    comment: wellFormedText().max(4000).optional(),
  })
  .refine((b) => (b.success === undefined) !== (b.score === undefined), {
    message: 'give either "success" (true/false) or "score" (0..1), not both and not neither',
    path: ['success'],
  });
