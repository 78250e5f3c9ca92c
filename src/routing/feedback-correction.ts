// The average policy promises a mean success over the traffic, and λ is set so that the classifier's
// *predicted* mean reaches the target. When the clients' ratings show the classifier over-predicting on
// this traffic (their rated answers succeed less often than predicted), the realised mean falls short by
// that gap; adding the gap to the target closes it. Opt-in (routing.average.feedback): it trusts that
// rated answers are a fair sample of all answers, which only the operator can know.
// Pure apart from the injected reader and clock.

/** Recent rated answers of one classifier version: mean prediction, mean rating, mean squared difference. */
export interface RatedGap {
  count: number;
  predicted: number;
  rated: number;
  /** Mean of (prediction − rating)², for the gap's standard error. */
  meanSquare: number;
}

/**
 * What to add to the target: mean predicted − mean rated, once there are `minRatings` rated answers and the
 * gap is more than twice its standard error (so noise in a few ratings does not move λ); else 0.
 */
export function targetCorrectionFrom(gap: RatedGap | null, minRatings: number): number {
  if (!gap || gap.count < Math.max(2, minRatings)) return 0;
  const d = gap.predicted - gap.rated;
  const variance = (Math.max(0, gap.meanSquare - d * d) * gap.count) / (gap.count - 1);
  const se = Math.sqrt(variance / gap.count);
  return Math.abs(d) > 2 * se ? d : 0;
}

export interface FeedbackCorrectionDeps {
  /** The latest rated answers of a classifier version (a SQL query: store/decision-stats.ts). */
  read: (version: string) => RatedGap | null;
  minRatings: number;
  /** Least time between two reads for a version. */
  refreshMs: number;
  now: () => number;
}

/** The router's `targetCorrection`: the correction per classifier version, re-read at most every refreshMs. */
export function createFeedbackCorrection(deps: FeedbackCorrectionDeps): (version: string) => number {
  const cache = new Map<string, { at: number; value: number }>();
  return (version) => {
    const t = deps.now();
    const hit = cache.get(version);
    if (hit && t - hit.at < deps.refreshMs) return hit.value;
    // Versions come and go with retrains; only the serving one is asked for in practice.
    if (!hit && cache.size >= 8) cache.clear();
    const value = targetCorrectionFrom(deps.read(version), deps.minRatings);
    cache.set(version, { at: t, value });
    return value;
  };
}
