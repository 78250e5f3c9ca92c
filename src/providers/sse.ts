// Server-sent events reader for upstream streams. Bytes arrive in arbitrary TCP-sized pieces, so
// lines and events are reassembled here before anyone tries to parse JSON out of them.

export interface SseEvent {
  /** The `event:` field, if the server set one (OpenAI does not; some compatible servers do for errors). */
  event: string | undefined;
  /** All `data:` lines of the event, joined with "\n" as the SSE spec says. */
  data: string;
}

/**
 * Characters one line, or one event's data, may hold: far above any chat chunk (a whole answer in one
 * event is rarely 1 MB), and a bound on what an upstream that never ends its line can make this hold.
 */
export const MAX_SSE_CHARS = 8 * 1024 * 1024;

/** A line or an event past MAX_SSE_CHARS: the stream is not one a chat upstream sends. */
export class SseLimitError extends Error {}

/** Accumulates text and hands back the complete events it contains. */
export class SseDecoder {
  private buffer = '';
  /** How much of `buffer` is known to hold no line end: each push scans only what is new. */
  private scanned = 0;
  private dataLines: string[] = [];
  private dataChars = 0;
  /** Comment characters since the last field line. */
  private commentChars = 0;
  private eventName: string | undefined;

  constructor(private readonly maxChars = MAX_SSE_CHARS) {}

  push(text: string): SseEvent[] {
    this.buffer += text;
    const events: SseEvent[] = [];
    // A lone "\r" at the very end may be the first half of "\r\n"; keep it until more arrives.
    let start = 0;
    // Rescanning the whole buffer on every push was quadratic: a 16 MB line with no end cost 2.7 s.
    let from = this.scanned;
    for (;;) {
      const match = /\r\n|\r|\n/g;
      match.lastIndex = from;
      const found = match.exec(this.buffer);
      if (!found) break;
      if (found[0] === '\r' && found.index === this.buffer.length - 1) break;
      this.line(this.buffer.slice(start, found.index), events);
      start = found.index + found[0].length;
      from = start;
    }
    this.buffer = this.buffer.slice(start);
    this.scanned = this.buffer.endsWith('\r') ? this.buffer.length - 1 : this.buffer.length;
    if (this.buffer.length > this.maxChars) throw new SseLimitError(`a line longer than ${this.maxChars} characters`);
    return events;
  }

  /** At end of input: an event not followed by a blank line is still delivered, to be lenient. */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.buffer.length > 0) this.line(this.buffer.replace(/\r$/, ''), events);
    this.buffer = '';
    this.scanned = 0;
    this.line('', events);
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.dataLines.length > 0) events.push({ event: this.eventName, data: this.dataLines.join('\n') });
      this.dataLines = [];
      this.dataChars = 0;
      this.eventName = undefined;
      return;
    }
    if (line.startsWith(':')) {
      // Comments are keep-alives: a few bytes every few seconds. Megabytes of them and no event is an
      // upstream spinning, which would hold a core until the call's totalMs.
      this.commentChars += line.length + 1;
      if (this.commentChars > this.maxChars) throw new SseLimitError(`more than ${this.maxChars} characters of comments and no event`);
      return;
    }
    this.commentChars = 0;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.dataChars += value.length + 1;
      if (this.dataChars > this.maxChars) throw new SseLimitError(`an event longer than ${this.maxChars} characters`);
      this.dataLines.push(value);
    }
    else if (field === 'event') this.eventName = value;
    // `id:` and `retry:` only matter to reconnecting browsers.
  }
}

/** Reads a response body as SSE events. Errors from the body (cut connection, abort) propagate. */
export async function* readSseEvents(body: NonNullable<Response['body']>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const sse = new SseDecoder();
  let done = false;
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      yield* sse.push(decoder.decode(chunk.value, { stream: true }));
    }
    done = true;
    yield* sse.push(decoder.decode());
    yield* sse.end();
  } finally {
    // Stopping early must release the connection, not leave it half-read.
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
