// The replay behind the benchmark's "target under shift" table, on rows whose choices follow by hand.
import { averageUnderShift, routeAtLambda } from '../training/average-shift';
import type { LabelledPrediction } from '../training/metrics';

// cheap costs 1, dear 10. Hopeless rows: p 0.2 / 0.25; winnable rows: p 0.4 / 0.95.
const hard = (cheapOk: number, dearOk: number): LabelledPrediction => ({ p: [0.2, 0.25], cost: [1, 10], outcome: [cheapOk, dearOk] });
const win = (cheapOk: number, dearOk: number): LabelledPrediction => ({ p: [0.4, 0.95], cost: [1, 10], outcome: [cheapOk, dearOk] });

describe('average policy under a shift of traffic', () => {
  it('routes each row to its best p − λ·cost', () => {
    const rows = [hard(0, 1), win(0, 1)];
    // Break-even prices: hopeless 0.05 / 9, winnable 0.55 / 9.
    expect(routeAtLambda(rows, Infinity)).toMatchObject({ realised: 0, avgCost: 1, rows: 2 });
    expect(routeAtLambda(rows, Infinity).predicted).toBeCloseTo(0.3, 12);
    expect(routeAtLambda(rows, 0.01)).toMatchObject({ avgCost: 5.5, realised: 0.5 });
    expect(routeAtLambda(rows, 0.001)).toMatchObject({ avgCost: 10, realised: 1 });
    expect(routeAtLambda(rows, 0.01).predicted).toBeCloseTo((0.2 + 0.95) / 2, 12);
  });

  it('λ from the reference misses a target on harder traffic; λ from the traffic meets it', () => {
    const reference = [hard(0, 0), hard(0, 0), win(0, 1), win(1, 1)];
    const window = [hard(0, 0), hard(1, 0), hard(0, 1), hard(0, 0), hard(0, 0)];
    const measured = [hard(1, 1), hard(0, 0), hard(0, 0), hard(0, 1), hard(0, 0)];
    const [out] = averageUnderShift(reference, window, measured, [0.22]);
    // The reference's cheap mean (0.3) already reaches 0.22: λ = ∞, every hard prompt stays cheap.
    expect(out.reference).toMatchObject({ lambda: Infinity, predicted: 0.2, realised: 0.2, avgCost: 1 });
    // The window's cheap mean is 0.2 < 0.22: λ falls below the hopeless rows' break-even and all go dear.
    expect(out.traffic.lambda).toBeLessThan(0.05 / 9);
    expect(out.traffic).toMatchObject({ predicted: 0.25, realised: 0.4, avgCost: 10 });
  });

  it('chooses by the estimate when a row has one, and charges the recorded cost', () => {
    // By estimate the dear model costs 2 (break-even λ 0.55); as recorded its answer cost 30.
    const row: LabelledPrediction = { p: [0.4, 0.95], cost: [1, 30], estimate: [1, 2], outcome: [0, 1] };
    expect(routeAtLambda([row], 0.5)).toMatchObject({ avgCost: 30, realised: 1 });
    expect(routeAtLambda([row], 0.6)).toMatchObject({ avgCost: 1, realised: 0 });
    // The reference curve is walked on estimates too: a target of 0.95 needs λ below the break-even 0.55
    // (half of it: the last interval reaches down to 0); by recorded costs it would be 0.55 / 29.
    const [out] = averageUnderShift([row], [row], [row], [0.95]);
    expect(out.reference.lambda).toBeCloseTo(0.275, 12);
    expect(out.reference.avgCost).toBe(30);
  });
});
