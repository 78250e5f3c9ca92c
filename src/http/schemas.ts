// Request bodies, checked with zod at the boundary; types come from the schemas.
import { z } from 'zod';
import { InvalidInputError } from '../errors';
import { formatIssues } from '../config/load-config';
import { chatMessageSchema } from '../routing/prompt-text';

export const routerOptionsSchema = z
  .strictObject({
    min_success: z.number().min(0).max(1).optional(),
    models: z.array(z.string().min(1)).min(1).optional(),
  })
  .optional();

export const routeRequestSchema = z
  .looseObject({
    messages: z.array(chatMessageSchema).min(1).optional(),
    prompt: z.string().optional(),
    max_tokens: z.number().int().positive().optional(),
    max_completion_tokens: z.number().int().positive().optional(),
    router: routerOptionsSchema,
  })
  .refine((b) => (b.messages === undefined) !== (b.prompt === undefined), {
    message: 'give either "messages" (an OpenAI chat body) or "prompt", not both and not neither',
    path: ['messages'],
  });
export type RouteRequest = z.infer<typeof routeRequestSchema>;

/** Parses `body` or throws a 400 naming the first bad field (param) and listing all of them. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const param = first && first.path.length > 0 ? first.path.map(String).join('.') : null;
  throw new InvalidInputError(`invalid request body:\n${formatIssues(r.error.issues)}`, param, 'invalid_request');
}
