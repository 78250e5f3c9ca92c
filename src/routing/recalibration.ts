// The per-request and near-best policies compare each request's own predicted success with the target,
// so a classifier that over-predicts one model on this traffic (its rated answers succeed less often than
// predicted) makes the bar mean less than it says, for that model alone. The clients' ratings show it: a
// shift of that model's logit, fitted to its recent rated answers, brings its predictions back to what the
// ratings say. One shift per model (not one gap for all: one model may be over-predicted while another is
// under-predicted), applied only where it is beyond twice its standard error. Opt-in
// (routing.recalibration): it trusts that rated answers are a fair sample of each model's answers, which
// only the operator can know. Pure apart from the injected reader; the server calls `refresh` on a timer,
// never on a request (reading each model's window costs ≈ 20 ms on a busy log).
import { logit as clampedLogit, sigmoid } from '../../training/matrix';

/** One rated answer: what the classifier predicted for the model that answered, and the client's rating in [0, 1]. */
export interface RatedAnswer {
  model: string;
  predicted: number;
  rated: number;
}

export interface LogitShift {
  /** Added to the model's logit: σ(logit(p) + shift). */
  shift: number;
  /** Its standard error (from the log-likelihood's curvature at the fit). */
  se: number;
  count: number;
}

/** Predictions are clamped this far from 0 and 1 before their logit is taken: a stored 1 stays finite. */
const P_CLAMP = 1e-4;
/**
 * A weak normal prior on the shift (standard deviation 2 in logits): with every rated answer a success the
 * likelihood alone would push the shift without end; the prior keeps it finite and leaves well-fed fits
 * as they are.
 */
const PRIOR_PRECISION = 1 / 4;

export const logit = (p: number): number => clampedLogit(p, P_CLAMP);

/** The logit shift that best explains the ratings given the predictions (Newton's method; the objective is concave). */
export function fitLogitShift(answers: readonly Pick<RatedAnswer, 'predicted' | 'rated'>[]): LogitShift {
  const z = answers.map((a) => logit(a.predicted));
  let shift = 0;
  let curvature = PRIOR_PRECISION;
  for (let iter = 0; iter < 50; iter++) {
    let gradient = -PRIOR_PRECISION * shift;
    curvature = PRIOR_PRECISION;
    for (let i = 0; i < z.length; i++) {
      const p = sigmoid(z[i] + shift);
      gradient += answers[i].rated - p;
      curvature += p * (1 - p);
    }
    const step = gradient / curvature;
    shift += step;
    if (Math.abs(step) < 1e-9) break;
  }
  return { shift, se: 1 / Math.sqrt(curvature), count: answers.length };
}

/**
 * Per model, the shift to apply: fitted on its rated answers once there are `minRatings` of them, and kept
 * only when beyond twice its standard error (so a few unlucky ratings do not move the bar). Models not in
 * the map keep the classifier's predictions.
 */
export function shiftsFrom(answers: readonly RatedAnswer[], minRatings: number): Map<string, number> {
  const byModel = new Map<string, RatedAnswer[]>();
  for (const a of answers) {
    const list = byModel.get(a.model);
    if (list) list.push(a);
    else byModel.set(a.model, [a]);
  }
  const shifts = new Map<string, number>();
  for (const [model, list] of byModel) {
    if (list.length < Math.max(2, minRatings)) continue;
    const fit = fitLogitShift(list);
    if (Math.abs(fit.shift) > 2 * fit.se) shifts.set(model, fit.shift);
  }
  return shifts;
}

/** A model's predicted success with its shift applied. */
export const applyShift = (p: number, shift: number): number => sigmoid(logit(p) + shift);

export interface RecalibrationDeps {
  /** The latest rated answers of a classifier version, per model (a SQL query: store/decision-stats.ts). */
  read: (version: string) => RatedAnswer[];
  minRatings: number;
}

export interface Recalibration {
  /** Each model's shift for classifier `version` as of the last refresh (the same map until one changes); empty for any other version. */
  current(version: string): ReadonlyMap<string, number>;
  /** Re-reads the ratings of `version` (the serving classifier's; null: none yet); true when a shift changed. */
  refresh(version: string | null): boolean;
}

const NONE: ReadonlyMap<string, number> = new Map();

export function createRecalibration(deps: RecalibrationDeps): Recalibration {
  let state: { version: string | null; shifts: ReadonlyMap<string, number> } = { version: null, shifts: NONE };
  return {
    // A classifier promoted since the last refresh has no ratings of its own yet: nothing to shift.
    current: (version) => (version === state.version ? state.shifts : NONE),
    refresh(version) {
      const shifts = version === null ? NONE : shiftsFrom(deps.read(version), deps.minRatings);
      const same = version === state.version && shifts.size === state.shifts.size && [...shifts].every(([m, v]) => state.shifts.get(m) === v);
      if (same) return false;
      state = { version, shifts };
      return true;
    },
  };
}
