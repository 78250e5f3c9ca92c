// How long each model's answers run, learned from the decision log. Cost is price × tokens, and the
// answer is most of the tokens: a model that writes three times as much costs three times as much per
// answer at the same price, which one default length (routing.expectedOutputTokens) cannot see. A length
// configured for a model (models[].expectedOutputTokens) still wins: the operator may know better.
// Pure apart from the injected reader; the server calls `refresh` on a timer, never on a request.

/** A model's recent answers in the log: how many were read and their mean completion tokens. */
export interface AnswerLengthRow {
  model: string;
  answers: number;
  meanTokens: number;
}

export interface AnswerLengthOptions {
  /** The latest answers per model (a SQL query: store/decision-stats.ts). */
  read: () => readonly AnswerLengthRow[];
  /** Answers a model needs before its mean replaces the default length. */
  minAnswers: number;
}

export interface AnswerLengths {
  /**
   * Learned length per model (models with too few answers are absent). The same map object until a
   * refresh changes a value, so callers may cache what they priced with it.
   */
  current(): ReadonlyMap<string, number>;
  /** Re-reads the log; true when a value changed. */
  refresh(): boolean;
}

/**
 * Two significant figures (183.4 → 180, 1,234 → 1,200, 47.6 → 48): a mean that drifts by a token or two
 * between refreshes must not invalidate every cached price curve, and cost estimates are not finer than that.
 */
export function roundLength(tokens: number): number {
  if (!(tokens > 0)) return 1;
  const scale = 10 ** Math.max(0, Math.floor(Math.log10(tokens)) - 1);
  return Math.max(1, Math.round(tokens / scale) * scale);
}

export function learnedLengths(rows: readonly AnswerLengthRow[], minAnswers: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) if (r.answers >= minAnswers && Number.isFinite(r.meanTokens)) out.set(r.model, roundLength(r.meanTokens));
  return out;
}

export function createAnswerLengths(options: AnswerLengthOptions): AnswerLengths {
  let lengths: ReadonlyMap<string, number> = new Map();
  return {
    current: () => lengths,
    refresh() {
      const next = learnedLengths(options.read(), options.minAnswers);
      const same = next.size === lengths.size && [...next].every(([m, t]) => lengths.get(m) === t);
      if (same) return false;
      lengths = next;
      return true;
    },
  };
}
