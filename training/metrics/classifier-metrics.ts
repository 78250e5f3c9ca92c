// Per-model classifier quality: ROC AUC, Brier score and reliability bins.

import { InvalidInputError } from '../../src/errors';
import type { NumberVector } from './types';

const isPositive = (label: number): boolean => label >= 0.5;

function checkSameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string): void {
  if (a.length !== b.length) throw new InvalidInputError(`${what}: ${a.length} values but ${b.length} labels`);
}

/** ROC AUC by the rank-sum (Mann-Whitney) formula; tied scores share their average rank. */
export function auc(scores: NumberVector, labels: NumberVector): number {
  checkSameLength(scores, labels, 'auc');
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let nPos = 0;
  let rankSumPos = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (isPositive(labels[order[k]])) {
        nPos++;
        rankSumPos += avgRank;
      }
    }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** Mean squared error between probabilities and (possibly soft) labels. */
export function brier(probs: NumberVector, labels: NumberVector): number {
  checkSameLength(probs, labels, 'brier');
  let sum = 0;
  for (let i = 0; i < probs.length; i++) sum += (probs[i] - labels[i]) ** 2;
  return probs.length === 0 ? NaN : sum / probs.length;
}

export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  /** NaN when the bin is empty. */
  meanPredicted: number;
  meanObserved: number;
}
export interface Reliability {
  bins: ReliabilityBin[];
  /** Expected calibration error: count-weighted mean |meanPredicted − meanObserved|. */
  ece: number;
}

/** Equal-width bins over [0,1]; p = 1 falls in the last bin. */
export function reliability(probs: NumberVector, labels: NumberVector, bins = 10): Reliability {
  checkSameLength(probs, labels, 'reliability');
  const count = new Array<number>(bins).fill(0);
  const sumP = new Array<number>(bins).fill(0);
  const sumY = new Array<number>(bins).fill(0);
  for (let i = 0; i < probs.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(probs[i] * bins)));
    count[b]++;
    sumP[b] += probs[i];
    sumY[b] += labels[i];
  }
  let ece = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const meanPredicted = count[b] ? sumP[b] / count[b] : NaN;
    const meanObserved = count[b] ? sumY[b] / count[b] : NaN;
    if (count[b]) ece += (count[b] / probs.length) * Math.abs(meanPredicted - meanObserved);
    out.push({ lo: b / bins, hi: (b + 1) / bins, count: count[b], meanPredicted, meanObserved });
  }
  return { bins: out, ece: probs.length ? ece : NaN };
}
