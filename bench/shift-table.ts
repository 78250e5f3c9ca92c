// bench:quality --policy average: where the average policy's target lands when the traffic is not like
// the training prompts, λ set on the reference prompts against λ set on the traffic itself.
import type { LabelledRow } from '../training/dataset';
import { type Realised, averageUnderShift } from '../training/average-shift';
import { hashString } from '../training/matrix';
import type { LabelledPrediction } from '../training/metrics';

const SHIFT_TARGETS = [0.6, 0.7, 0.8];

/**
 * The average policy's target when the traffic is a shifted third of the data (its hardest or easiest
 * sources, or with a single source its longest or shortest prompts): λ set on a 2,000-row reference sample
 * (as reference.json holds) against λ set on the stream's first half (as the router does once it has seen
 * traffic), each measured on the stream's second half.
 */
export function shiftTable(rows: LabelledRow[], models: string[], P: Float32Array, costs: Float64Array, estimates: Float64Array | null, seed: number): string {
  const m = models.length;
  const labelled: LabelledPrediction[] = rows.map((r, i) => ({
    p: P.subarray(i * m, (i + 1) * m),
    cost: costs.subarray(i * m, (i + 1) * m),
    ...(estimates ? { estimate: estimates.subarray(i * m, (i + 1) * m) } : {}),
    outcome: models.map((model) => r.outcomes[model] ?? null),
  }));
  const order = (idx: number[]): number[] => [...idx].sort((a, b) => hashString(rows[a].id, seed + 7) - hashString(rows[b].id, seed + 7));
  const all = rows.map((_, i) => i);
  const reference = order(all).slice(0, 2000).map((i) => labelled[i]);
  // The cheapest model on average: how hard a source is, is how often it fails there.
  const meanCost = models.map((_, j) => rows.reduce((s, _r, i) => s + costs[i * m + j], 0) / rows.length);
  const cheapest = meanCost.indexOf(Math.min(...meanCost));
  const third = Math.ceil(rows.length / 3);
  const bySource = new Map<string, number[]>();
  for (const i of all) {
    const key = rows[i].source ?? '';
    const group = bySource.get(key);
    if (group) group.push(i);
    else bySource.set(key, [i]);
  }
  const sources = [...bySource.keys()];
  const scenarios: [string, number[]][] = [];
  if (sources.length >= 3) {
    const rate = new Map(
      sources.map((s) => {
        const known = bySource.get(s)!.flatMap((i) => (rows[i].outcomes[models[cheapest]] === undefined ? [] : [rows[i].outcomes[models[cheapest]]!]));
        return [s, known.reduce((a, o) => a + o, 0) / Math.max(1, known.length)];
      }),
    );
    const take = (sorted: string[]): number[] => {
      const out: number[] = [];
      for (const s of sorted) {
        if (out.length >= third) break;
        out.push(...bySource.get(s)!);
      }
      return out;
    };
    const byRate = [...sources].sort((a, b) => rate.get(a)! - rate.get(b)! || a.localeCompare(b));
    scenarios.push(['hardest sources', take(byRate)], ['easiest sources', take([...byRate].reverse())]);
  } else {
    const byLength = [...all].sort((a, b) => rows[b].prompt.length - rows[a].prompt.length || a - b);
    scenarios.push(['longest prompts', byLength.slice(0, third)], ['shortest prompts', byLength.slice(-third)]);
  }
  const cell = (r: Realised): string => `${r.predicted.toFixed(3)}  ${r.realised.toFixed(3)}  ${r.avgCost.toPrecision(3).padEnd(9)}`;
  const lines = [
    `average policy's target when the traffic shifts (λ set on a reference sample, or on the stream's first half as the router does; measured on the stream's second half; cheapest model ${models[cheapest]}):`,
    'traffic           rows  target | λ from reference: predicted realised avg cost | λ from traffic: predicted realised avg cost',
  ];
  for (const [name, idx] of scenarios) {
    const stream = order(idx);
    const half = Math.floor(stream.length / 2);
    const window = stream.slice(Math.max(0, half - 2000), half).map((i) => labelled[i]);
    const measured = stream.slice(half).map((i) => labelled[i]);
    for (const out of averageUnderShift(reference, window, measured, SHIFT_TARGETS)) {
      lines.push(`${name.padEnd(17)} ${String(measured.length).padEnd(5)} ${out.target.toFixed(2)}   | ${' '.repeat(18)}${cell(out.reference)}| ${' '.repeat(16)}${cell(out.traffic)}`);
    }
  }
  return lines.join('\n');
}
