// The text a request is routed on: every message's text content, in order. Image and audio parts carry
// no text and are skipped. An assistant message's `tool_calls` are not read (they are a model's own
// output); what the tools returned arrives as `tool` messages, whose content counts like any other.
import { z } from 'zod';
import { wellFormedText } from '../util/well-formed-text';

// Text is checked for half surrogate pairs: it is what the decision log stores.
const contentPart = z.looseObject({ type: z.string(), text: wellFormedText().optional() });
export const chatMessageSchema = z.looseObject({
  role: z.string().min(1),
  content: z.union([wellFormedText(), z.array(contentPart), z.null()]).optional(),
  name: z.string().optional(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export function messageText(message: ChatMessage): string {
  const c = message.content;
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p) => p.text ?? '').filter((t) => t !== '').join('\n');
  return '';
}

export function promptText(messages: readonly ChatMessage[]): string {
  return messages.map(messageText).filter((t) => t !== '').join('\n');
}
