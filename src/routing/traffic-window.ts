// The average policy's view of recent traffic: the classifier's predictions and the estimated costs of the
// last `capacity` routed prompts. The policy's target is a success rate over the traffic, so once enough
// prompts have been seen, λ is set on them rather than on the classifier's reference prompts (a sample
// of its training prompts): when live prompts are harder or easier than the training ones, the target
// still holds on what is actually routed. Fixed memory (a ring buffer); pure, no clock.

export class TrafficWindow {
  private readonly p: Float64Array;
  private readonly cost: Float64Array;
  private next = 0;
  private held = 0;
  private seen = 0;

  /** `width`: values per prompt (the models the policy chooses among). */
  constructor(
    readonly capacity: number,
    readonly width: number,
  ) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new Error(`traffic window capacity must be a positive whole number, got ${capacity}`);
    if (!(Number.isInteger(width) && width > 0)) throw new Error(`traffic window width must be a positive whole number, got ${width}`);
    this.p = new Float64Array(capacity * width);
    this.cost = new Float64Array(capacity * width);
  }

  /** Records one prompt; the oldest is forgotten once the window is full. */
  add(p: ArrayLike<number>, cost: ArrayLike<number>): void {
    if (p.length !== this.width || cost.length !== this.width) {
      throw new Error(`traffic window rows need ${this.width} predictions and costs, got ${p.length} and ${cost.length}`);
    }
    const at = this.next * this.width;
    for (let j = 0; j < this.width; j++) {
      this.p[at + j] = p[j];
      this.cost[at + j] = cost[j];
    }
    this.next = (this.next + 1) % this.capacity;
    this.held = Math.min(this.held + 1, this.capacity);
    this.seen++;
  }

  /** Prompts held now (at most `capacity`). */
  get size(): number {
    return this.held;
  }

  /** Prompts ever added, to tell whether anything arrived since a curve was built. */
  get total(): number {
    return this.seen;
  }

  /** The held rows, row-major [size × width] (in no particular order: the curve does not depend on it). */
  rows(): { P: Float64Array; C: Float64Array; n: number } {
    const n = this.held * this.width;
    return { P: this.p.slice(0, n), C: this.cost.slice(0, n), n: this.held };
  }
}
