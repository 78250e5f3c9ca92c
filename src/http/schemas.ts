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

// ISO 8601 as people write it: a year, a date, or a date and time with an optional offset (none: the
// server's local time, as Date.parse reads it). Date.parse alone also takes "Nov 28" (the year 2001),
// "0" (2000) or "-5", each a window silently somewhere else.
const ISO_8601 = /^(?:\d{4}|[+-]\d{6})(?:-\d{2}(?:-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$/i;
/** Fewer milliseconds than this (March 1973) given as digits are epoch seconds by mistake, not a time. */
const EARLIEST_EPOCH_MS = 1e11;

/**
 * A time as ISO 8601 or epoch milliseconds, to epoch milliseconds. Digits alone are milliseconds; below
 * 1e11 (a ten-digit number: epoch seconds, as `date +%s` prints) they are refused with a hint, since read as
 * milliseconds they would put the window in January 1970 and answer an empty 200.
 */
const instant = z.string().transform((s, ctx) => {
  const digits = /^\d+$/.test(s) && s.length > 4;
  if (digits && Number(s) < EARLIEST_EPOCH_MS) {
    ctx.addIssue({ code: 'custom', message: `"${s}" looks like epoch seconds: give epoch milliseconds (${s}000) or ISO 8601` });
    return z.NEVER;
  }
  const ms = digits ? Number(s) : ISO_8601.test(s) ? Date.parse(s) : NaN;
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a time (use ISO 8601, e.g. 2026-11-28 or 2026-11-28T10:00:00Z, or epoch milliseconds)` });
    return z.NEVER;
  }
  return ms;
});

/** `since` must come before `until` when both are given: an empty window is a mistake, not an answer. */
const orderedWindow = <T extends { since?: number; until?: number }>(q: T, ctx: z.RefinementCtx): void => {
  if (q.since !== undefined && q.until !== undefined && q.since >= q.until) {
    ctx.addIssue({ code: 'custom', path: ['since'], message: '"since" must be before "until"' });
  }
};

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
}).superRefine(orderedWindow);

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
