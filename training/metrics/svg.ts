// Draws a metrics summary as a quality-vs-cost chart: a self-contained SVG string with no
// dependencies, so reports and CI artefacts can embed it as is.

import type { MetricsSummary } from './summary';
import type { Vertex } from './types';

const W = 760;
const H = 480;
const M = { left: 70, right: 190, top: 44, bottom: 56 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;
const ROUTER_STROKE = 'stroke="#1f77b4" stroke-width="2"';
const ZERO_STROKE = 'stroke="#888" stroke-width="1.5" stroke-dasharray="6 4"';
const STAR_FILL = '#ff9f1c';
const STAR_STROKE = '#a05a00';

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const escapeXml = (text: string): string => text.replace(/[&<>"']/g, (c) => XML_ENTITIES[c] ?? c);

const f = (v: number): string => v.toFixed(1);
const label = (v: number): string => String(Number(v.toPrecision(3)));

interface Axis {
  toPx: (v: number) => number;
  ticks: number[];
  log: boolean;
}

function padded(lo: number, hi: number): [number, number] {
  if (lo === hi) {
    const d = Math.abs(lo) * 0.1 || 0.05;
    return [lo - d, hi + d];
  }
  const d = (hi - lo) * 0.06;
  return [lo - d, hi + d];
}

function linearTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  const decades = Math.log10(hi / lo);
  // Few decades: 1-2-5 steps, else the labels would be too sparse to read costs off.
  const mults = decades < 3 ? [1, 2, 5] : [1];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const k of mults) {
      const v = k * 10 ** e;
      if (v >= lo && v <= hi) ticks.push(Number(v.toPrecision(12)));
    }
  }
  return ticks;
}

function axis(values: number[], pxFrom: number, pxTo: number, allowLog: boolean): Axis {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  // A log axis only when costs span more than 10x; otherwise linear reads more naturally.
  if (allowLog && lo > 0 && hi / lo > 10) {
    const a = Math.log10(lo) - 0.05 * Math.log10(hi / lo);
    const b = Math.log10(hi) + 0.05 * Math.log10(hi / lo);
    const toPx = (v: number): number => pxFrom + ((Math.log10(v) - a) / (b - a)) * (pxTo - pxFrom);
    return { toPx, ticks: logTicks(10 ** a, 10 ** b), log: true };
  }
  const [a, b] = padded(lo, hi);
  return { toPx: (v) => pxFrom + ((v - a) / (b - a)) * (pxTo - pxFrom), ticks: linearTicks(a, b), log: false };
}

function star(cx: number, cy: number, r: number): string {
  const pts: string[] = [];
  for (let i = 0; i < 10; i++) {
    const rad = i % 2 === 0 ? r : r * 0.45;
    const angle = -Math.PI / 2 + (i * Math.PI) / 5;
    pts.push(`${f(cx + rad * Math.cos(angle))},${f(cy + rad * Math.sin(angle))}`);
  }
  return pts.join(' ');
}

/** Quality (y) vs average cost (x): router sweep, single models, Zero router hull, oracle. */
export function renderQualityCostSvg(summary: MetricsSummary, title: string): string {
  const ok = (x: number, y: number): boolean => Number.isFinite(x) && Number.isFinite(y);
  const sweep = summary.sweep.filter((p) => ok(p.avgCost, p.avgQuality));
  const singles = summary.perModel.filter((p) => ok(p.avgCost, p.avgQuality));
  const oracle = ok(summary.oracle.avgCost, summary.oracle.avgQuality) ? summary.oracle : null;
  // The Zero router stays flat from its best model to the dearest one.
  const zero: Vertex[] = [...summary.nModel.zeroHull];
  const dearest = Math.max(...singles.map((s) => s.avgCost));
  if (zero.length && dearest > zero[zero.length - 1].x) zero.push({ x: dearest, y: zero[zero.length - 1].y });

  const plotted = [...sweep, ...singles, ...(oracle ? [oracle] : [])];
  const costs = plotted.map((p) => p.avgCost);
  const quals = plotted.map((p) => p.avgQuality);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"` +
      ` font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
  if (costs.length === 0) {
    out.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text>`, '</svg>');
    return out.join('\n');
  }
  const x = axis(costs, M.left, M.left + PLOT_W, true);
  const y = axis(quals, M.top + PLOT_H, M.top, false);
  const pt = (cx: number, cy: number): string => `${f(x.toPx(cx))},${f(y.toPx(cy))}`;

  out.push(`<rect x="${M.left}" y="${M.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#999"/>`);
  for (const t of x.ticks) {
    const px = f(x.toPx(t));
    out.push(`<line x1="${px}" y1="${M.top}" x2="${px}" y2="${M.top + PLOT_H}" stroke="#eee"/>`);
    out.push(`<text x="${px}" y="${M.top + PLOT_H + 16}" text-anchor="middle">${escapeXml(label(t))}</text>`);
  }
  for (const t of y.ticks) {
    const py = f(y.toPx(t));
    out.push(`<line x1="${M.left}" y1="${py}" x2="${M.left + PLOT_W}" y2="${py}" stroke="#eee"/>`);
    const text = escapeXml(label(t));
    out.push(`<text x="${M.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${text}</text>`);
  }
  const xTitle = `average cost per prompt${x.log ? ' (log scale)' : ''}`;
  out.push(`<text x="${M.left + PLOT_W / 2}" y="${H - 14}" text-anchor="middle">${xTitle}</text>`);
  const yTitleAt = `translate(18 ${M.top + PLOT_H / 2}) rotate(-90)`;
  out.push(`<text transform="${yTitleAt}" text-anchor="middle">average quality</text>`);

  if (zero.length > 1) {
    const pts = zero.map((v) => pt(v.x, v.y)).join(' ');
    out.push(`<polyline points="${pts}" fill="none" ${ZERO_STROKE}/>`);
  }
  if (sweep.length) {
    // Sweep order (by target) traces the policy as its threshold moves, so no resorting by cost.
    // A point drawn where the last one was adds bytes, not ink (an exact sweep has tens of thousands).
    const pts = sweep.map((p) => pt(p.avgCost, p.avgQuality)).filter((q, i, all) => i === 0 || q !== all[i - 1]).join(' ');
    out.push(`<polyline points="${pts}" fill="none" ${ROUTER_STROKE}/>`);
  }
  for (const s of singles) {
    const [px, py] = [x.toPx(s.avgCost), y.toPx(s.avgQuality)];
    out.push(`<circle cx="${f(px)}" cy="${f(py)}" r="4.5" fill="#d62728"/>`);
    out.push(`<text x="${f(px + 7)}" y="${f(py - 7)}">${escapeXml(s.model)}</text>`);
  }
  if (oracle) {
    const pts = star(x.toPx(oracle.avgCost), y.toPx(oracle.avgQuality), 8);
    out.push(`<polygon points="${pts}" fill="${STAR_FILL}" stroke="${STAR_STROKE}"/>`);
  }

  const lx = M.left + PLOT_W + 16;
  const legend: [string, string][] = [
    ['router sweep', `<line x1="0" y1="0" x2="22" y2="0" ${ROUTER_STROKE}/>`],
    ['Zero router (hull)', `<line x1="0" y1="0" x2="22" y2="0" ${ZERO_STROKE}/>`],
    ['single model', `<circle cx="11" cy="0" r="4.5" fill="#d62728"/>`],
    ['oracle', `<polygon points="${star(11, 0, 7)}" fill="${STAR_FILL}" stroke="${STAR_STROKE}"/>`],
  ];
  legend.forEach(([text, mark], i) => {
    const at = `translate(${lx} ${M.top + 12 + i * 22})`;
    out.push(`<g transform="${at}">${mark}<text x="30" y="0" dominant-baseline="middle">${text}</text></g>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
