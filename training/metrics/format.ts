// Prints a summary as the text tables `eval`, `retrain` and the benchmarks show.

import type { ReliabilityBin } from './classifier-metrics';
import { type MetricsSummary, type PerModelSummary, mixesModelSets } from './summary';

const num = (v: number, digits = 3): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const money = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(4))) : 'n/a');
const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : 'n/a');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

/**
 * The reliability table: per bin of predicted p, each model's mean prediction → observed success rate and
 * its rows ("·" for an empty bin). A calibrated model reads the same on both sides of the arrow.
 */
export function formatReliability(perModel: readonly Pick<PerModelSummary, 'model' | 'calibration'>[]): string {
  const bins = perModel[0]?.calibration.bins ?? [];
  const cell = (b: ReliabilityBin): string => (b.count ? `${b.meanPredicted.toFixed(2)} → ${b.meanObserved.toFixed(2)} (${b.count})` : '·');
  return [
    'reliability (mean predicted → observed success (rows), per bin of predicted p):',
    table([
      ['p', ...perModel.map((m) => m.model)],
      ...bins.map((b, k) => [`${b.lo.toFixed(1)}–${b.hi.toFixed(1)}`, ...perModel.map((m) => cell(m.calibration.bins[k]))]),
    ]),
  ].join('\n');
}

/** Plain text, so a terminal, a log and a CI artefact all show the same table. */
export function formatMetricsTable(summary: MetricsSummary): string {
  const head = ['model', 'avg cost', 'quality', 'AUC', 'Brier', 'ECE', 'rows', 'skipped'];
  const body = summary.perModel.map((m) => [
    m.model,
    money(m.avgCost),
    num(m.avgQuality),
    num(m.auc),
    num(m.brier),
    num(m.calibration.ece),
    String(m.used),
    String(m.skipped),
  ]);
  const o = summary.oracle;
  body.push(['(oracle)', money(o.avgCost), num(o.avgQuality), '', '', '', String(o.used), String(o.skipped)]);
  const n = summary.nModel;
  const lines = [
    `Routing metrics: ${summary.rows} rows, ${summary.models.length} models`,
    table([head, ...body]),
    `Router vs Zero router: gain ${num(n.gainVsZero, 4)} (mean quality over ${n.costGrid.length} costs); ` +
      `cost saving at 95% of best (${n.bestModel || 'n/a'}) ${pct(n.costSaving95OfBest)}`,
  ];
  const t = summary.twoModel;
  if (t) {
    lines.push(
      `Two models (weak ${t.weak.model}, strong ${t.strong.model}): APGR ${num(t.apgr)}, ` +
        `CPT(50%) ${pct(t.cpt50)}, CPT(80%) ${pct(t.cpt80)}, cost saving at 95% of strong ${pct(t.costSaving95)}`,
      `  on the reached points alone, no two mixed (as RouteLLM reads its curves): APGR ${num(t.reached.apgr)}, CPT(50%) ${pct(t.reached.cpt50)}`,
    );
    // PGR divides by strong − weak quality: with the dearer model no better, its figures mean nothing.
    if (!(t.strong.avgQuality > t.weak.avgQuality)) {
      lines.push(`  warning: the dearer model (${t.strong.model}) is no better than ${t.weak.model} on these rows, so PGR, APGR and CPT mean nothing here; read the cost and quality columns`);
    }
  }
  lines.push(formatReliability(summary.perModel));
  if (summary.operatingPoints.length > 0) {
    const dearest = summary.perModel.reduce((a, b) => (b.avgCost > a.avgCost ? b : a)).model;
    lines.push(`${summary.policy} policy at a few targets (min_success):`);
    // Average policy: the mean predicted success at the point taken (below the target when out of reach).
    const predicted = summary.policy === 'average';
    lines.push(
      table([
        ['target', ...(predicted ? ['predicted'] : []), 'avg cost', 'quality', `share ${dearest}`, 'rows', 'skipped'],
        ...summary.operatingPoints.map((o) => [
          num(o.target, 2),
          ...(predicted ? [num(o.predicted)] : []),
          money(o.avgCost),
          num(o.avgQuality),
          pct(o.share[dearest]),
          String(o.used),
          String(o.skipped),
        ]),
      ]),
    );
    const worst = summary.operatingPoints.reduce((a, b) => (b.skipped > a.skipped ? b : a));
    if (worst.skipped > 0) {
      lines.push(`note: ${worst.skipped} of ${worst.used + worst.skipped} rows record no outcome of these models and are left out`);
    }
  }
  if (summary.partlyKnown > 0) {
    // Live feedback records one outcome per row (the model that answered); a file may record a few models.
    lines.push(
      `note: ${summary.partlyKnown} of ${summary.rows} rows record outcomes of only some of these models; each is routed among ` +
        'the ones it records (a row from live feedback, which records only the model that answered, adds the same to every point)',
    );
    if (summary.routable === 0) {
      // Live feedback alone: each row has one possible choice, so every target gives the same point.
      lines.push('note: no row records outcomes of two of these models, so every target routes alike and the routing figures say nothing (AUC and Brier still do)');
    } else if (mixesModelSets(summary)) {
      lines.push('note: most rows record different sets of models, so the pooled figures mix them: read them by source');
    }
  }
  return lines.join('\n');
}
