// Counts requests that have started and not yet closed, so shutdown can wait for them (bounded) instead
// of cutting answers off mid-way.
import type http from 'node:http';

export class InFlightRequests {
  private active = 0;
  private draining = false;
  private waiters: (() => void)[] = [];

  /** Call from the server's 'request' event, before the app's listener (which may answer at once). */
  track(_req: http.IncomingMessage, res: http.ServerResponse): void {
    this.active += 1;
    // Keep-alive clients may send more on an open connection while we drain; this makes it their last.
    // Should a response already be out, setHeader would throw, and outside any handler that ends the
    // process with the queued log rows unwritten.
    if (this.draining && !res.headersSent) res.setHeader('connection', 'close');
    res.once('close', () => {
      this.active -= 1;
      if (this.active === 0) for (const w of this.waiters.splice(0)) w();
    });
  }

  get count(): number {
    return this.active;
  }

  /** From now on, every response closes its connection. */
  drain(): void {
    this.draining = true;
  }

  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** True if `work` settled within `ms`. */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
