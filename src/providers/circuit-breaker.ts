// Per-model circuit breaker: after repeated failures a model is skipped for a cooldown instead of
// costing every request a timeout, then a single probe decides whether it is back.

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Epoch milliseconds; passed in so tests can move time. */
  now: () => number;
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long an open circuit refuses calls before letting a probe through. Default 30 s. */
  cooldownMs?: number;
}

export interface BreakerSnapshot {
  state: BreakerState;
  consecutiveFailures: number;
  /** When the circuit last opened (epoch ms), null if it never has. */
  openedAt: number | null;
  /** When an open circuit will let a probe through; null unless open. */
  retryAt: number | null;
  totalFailures: number;
  totalSuccesses: number;
  /** Calls refused while open or while a probe was in flight. */
  rejected: number;
}

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private openedAt: number | null = null;
  private probeStartedAt: number | null = null;
  private totalFailures = 0;
  private totalSuccesses = 0;
  private rejected = 0;
  private readonly now: () => number;
  private readonly failureThreshold: number;
  private readonly cooldownMs: number;

  constructor(options: CircuitBreakerOptions) {
    this.now = options.now;
    this.failureThreshold = options.failureThreshold ?? 5;
    this.cooldownMs = options.cooldownMs ?? 30_000;
  }

  /**
   * Asks to make a call. True means go ahead, and the caller must then report exactly one of
   * recordSuccess / recordFailure / releaseProbe.
   */
  tryAcquire(): boolean {
    const now = this.now();
    if (this.state === 'open' && this.openedAt !== null && now - this.openedAt >= this.cooldownMs) {
      this.state = 'half_open';
      this.probeStartedAt = null;
    }
    if (this.state === 'closed') return true;
    // A probe whose caller never reported (a bug, a crash) must not wedge the circuit forever.
    const probeLost = this.probeStartedAt !== null && now - this.probeStartedAt >= this.cooldownMs;
    if (this.state === 'half_open' && (this.probeStartedAt === null || probeLost)) {
      this.probeStartedAt = now;
      return true;
    }
    this.rejected += 1;
    return false;
  }

  /** The upstream answered; whatever state we were in, it is evidently working. */
  recordSuccess(): void {
    this.totalSuccesses += 1;
    this.consecutiveFailures = 0;
    this.state = 'closed';
    this.probeStartedAt = null;
  }

  recordFailure(): void {
    this.totalFailures += 1;
    this.consecutiveFailures += 1;
    if (this.state === 'half_open' || (this.state === 'closed' && this.consecutiveFailures >= this.failureThreshold)) {
      this.open();
    }
    // Failures of calls that started before the circuit opened do not extend the cooldown.
  }

  /** The call ended without saying anything about the upstream's health (client abort, 4xx). */
  releaseProbe(): void {
    if (this.state === 'half_open') this.probeStartedAt = null;
  }

  snapshot(): BreakerSnapshot {
    // Report half-open as soon as the cooldown is over, even before the next call notices.
    const cooled = this.state === 'open' && this.openedAt !== null && this.now() - this.openedAt >= this.cooldownMs;
    return {
      state: cooled ? 'half_open' : this.state,
      consecutiveFailures: this.consecutiveFailures,
      openedAt: this.openedAt,
      retryAt: this.state === 'open' && !cooled && this.openedAt !== null ? this.openedAt + this.cooldownMs : null,
      totalFailures: this.totalFailures,
      totalSuccesses: this.totalSuccesses,
      rejected: this.rejected,
    };
  }

  private open(): void {
    this.state = 'open';
    this.openedAt = this.now();
    this.probeStartedAt = null;
  }
}

/** One breaker per model id, all with the same settings. */
export function createCircuitBreakers(modelIds: Iterable<string>, options: CircuitBreakerOptions): Map<string, CircuitBreaker> {
  const breakers = new Map<string, CircuitBreaker>();
  for (const id of modelIds) breakers.set(id, new CircuitBreaker(options));
  return breakers;
}
