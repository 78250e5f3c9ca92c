// The shapes the routing metrics read and write, and the two helpers every metric shares.

export type NumberVector = ArrayLike<number>;

/** One labelled prompt; every vector is indexed like the `models` list passed alongside. */
export interface LabelledPrediction {
  /** Predicted probability that each model answers well. */
  p: NumberVector;
  /** What sending this prompt to each model costs (any unit, as long as it is the same everywhere). */
  cost: NumberVector;
  /**
   * What the policy sees of those costs when it chooses, in the same unit: the router's own estimate
   * (price × estimated tokens). Default `cost`. Set it when `cost` is what each answer really cost (a
   * row's recorded per-prompt costs): that depends on how long each model's answer turned out, which no
   * router knows before it asks, so choosing by it would flatter the policy.
   */
  estimate?: NumberVector;
  /** True outcome per model in [0,1] (graded allowed); null means unknown for that model. */
  outcome: ArrayLike<number | null>;
}

export interface CostQualityPoint {
  avgCost: number;
  avgQuality: number;
}
export interface NamedPoint extends CostQualityPoint {
  model: string;
}
/** A single model sent every prompt whose outcome for it is known. */
export interface ModelPoint extends NamedPoint {
  used: number;
  skipped: number;
}
/** The policy at one target: averages are over `used` rows; `skipped` rows chose a model with no outcome. */
export interface SweepPoint extends CostQualityPoint {
  /** Per-request policy: the bar each row's choice clears. Average policy: the mean predicted success. */
  target: number;
  /** Average policy only: the price of success at this point (the top of its λ interval; +∞ first). */
  lambda?: number;
  share: Record<string, number>;
  used: number;
  skipped: number;
}
export interface OraclePoint extends CostQualityPoint {
  share: Record<string, number>;
  used: number;
  skipped: number;
}
export interface Vertex {
  x: number;
  y: number;
}

export const known = (o: number | null | undefined): o is number => typeof o === 'number' && !Number.isNaN(o);
export const avg = (sum: number, n: number): number => (n ? sum / n : NaN);
