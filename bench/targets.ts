// The targets for each public file, and how an evaluation's figure for each is read; shared by
// the benchmarks that print figures next to them (bench:quality, bench:held-out).
import type { Evaluation } from '../training/evaluate';

export interface Target {
  metric: 'apgr' | 'cpt50' | 'gainVsZero' | 'costSaving95OfBest';
  goal: number;
  /** true: higher is better. */
  atLeast: boolean;
}

export interface Part {
  name: string;
  file: string;
  targets: Target[];
}

export const MMLU: Part = { name: 'mmlu', file: 'routellm/mmlu.train.jsonl', targets: [{ metric: 'apgr', goal: 0.7, atLeast: true }, { metric: 'cpt50', goal: 0.3, atLeast: false }] };
export const GSM8K: Part = { name: 'gsm8k', file: 'routellm/gsm8k.train.jsonl', targets: [{ metric: 'apgr', goal: 0.65, atLeast: true }, { metric: 'cpt50', goal: 0.3, atLeast: false }] };
export const ROUTERBENCH: Part = {
  name: 'routerbench',
  file: 'routerbench/train.jsonl',
  targets: [{ metric: 'gainVsZero', goal: 0.02, atLeast: true }, { metric: 'costSaving95OfBest', goal: 0.5, atLeast: true }],
};
export const LLMROUTER: Part = { name: 'llmrouter', file: 'llmrouter/train.jsonl', targets: [{ metric: 'gainVsZero', goal: 0.02, atLeast: true }] };

export function metricValue(e: Evaluation, metric: Target['metric']): number {
  const r = e.routing;
  if (!r) return NaN;
  if (metric === 'apgr') return r.twoModel?.apgr ?? NaN;
  if (metric === 'cpt50') return r.twoModel?.cpt50 ?? NaN;
  if (metric === 'gainVsZero') return r.nModel.gainVsZero;
  return r.nModel.costSaving95OfBest;
}

/** Whether a figure meets its target. */
export const meets = (v: number, t: Target): boolean => (t.atLeast ? v >= t.goal : v <= t.goal);

/** `≥ 0.7`, `≤ 0.3`: the target as printed beside a figure. */
export const describeTarget = (t: Target): string => `${t.atLeast ? '≥' : '≤'} ${t.goal}`;
