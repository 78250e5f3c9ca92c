// Server-sent events reader for upstream streams. Bytes arrive in arbitrary TCP-sized pieces, so
// lines and events are reassembled here before anyone tries to parse JSON out of them.

export interface SseEvent {
  /** The `event:` field, if the server set one (OpenAI does not; some compatible servers do for errors). */
  event: string | undefined;
  /** All `data:` lines of the event, joined with "\n" as the SSE spec says. */
  data: string;
}

/** Accumulates text and hands back the complete events it contains. */
export class SseDecoder {
  private buffer = '';
  private dataLines: string[] = [];
  private eventName: string | undefined;

  push(text: string): SseEvent[] {
    this.buffer += text;
    const events: SseEvent[] = [];
    // A lone "\r" at the very end may be the first half of "\r\n"; keep it until more arrives.
    let start = 0;
    for (;;) {
      const match = /\r\n|\r|\n/g;
      match.lastIndex = start;
      const found = match.exec(this.buffer);
      if (!found) break;
      if (found[0] === '\r' && found.index === this.buffer.length - 1) break;
      this.line(this.buffer.slice(start, found.index), events);
      start = found.index + found[0].length;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** At end of input: an event not followed by a blank line is still delivered, to be lenient. */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.buffer.length > 0) this.line(this.buffer.replace(/\r$/, ''), events);
    this.buffer = '';
    this.line('', events);
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.dataLines.length > 0) events.push({ event: this.eventName, data: this.dataLines.join('\n') });
      this.dataLines = [];
      this.eventName = undefined;
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.dataLines.push(value);
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
