// How deeply a parsed JSON value nests, walked without recursion. JSON.parse takes thousands of levels,
// but JSON.stringify and zod recurse and overflow the stack on them: a 20 KB body nested 10,000 deep made
// forwarding it throw, which read as the upstream failing and opened every model's circuit breaker.

/** Deeper than any real request or answer (tool and response_format schemas included), far from a stack overflow. */
export const MAX_JSON_DEPTH = 256;

/** Whether `value` has arrays or objects nested more than `max` deep (a scalar is depth 0). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > max) return true;
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const child of children) if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
  }
  return false;
}
