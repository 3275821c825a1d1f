/**
 * Static SVG images (for papers, READMEs and terminals without a browser): a line chart of a
 * ChartSpec and a units × characters heatmap. Hand-made, because the plots are simple and must
 * render in Node without a browser (the CLI rasterises them to PNG). Pure string functions.
 *
 * Axis ticks: step = 10^⌊log10(span / 5)⌋ · {1, 2, 5}, the smallest giving at most ~6 ticks.
 */
import type { ChartSpec } from './charts.js';
import { colorOf, escapeHtml as esc, visibleChar } from './colors.js';
import { KIND_LABEL, type TextReading, type Track } from './inspect.js';
import { scaleOf, shownValue } from './html.js';

const FONT = 'font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif"';

function ticks(lo: number, hi: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const label = (v: number): string => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : String(v));

export function lineChartSvg(spec: ChartSpec, width = 720, height = 400): string {
  const m = { l: 64, r: 16, t: 36, b: 48 };
  const W = width - m.l - m.r;
  const H = height - m.t - m.b;
  const xs = spec.data[0] as number[];
  const ys = spec.data.slice(1).flat().filter((v): v is number => v !== null && Number.isFinite(v));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
  if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
  if (!Number.isFinite(x0) || !Number.isFinite(y0)) [x0, x1, y0, y1] = [0, 1, 0, 1]; // nothing to plot yet
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const X = (v: number): number => m.l + ((v - x0) / (x1 - x0)) * W;
  const Y = (v: number): number => m.t + H - ((v - y0) / (y1 - y0)) * H;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`,
  ];
  for (const v of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${m.l + W}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${label(v)}</text>`);
  }
  for (const v of ticks(x0, x1)) {
    parts.push(`<line x1="${X(v).toFixed(1)}" x2="${X(v).toFixed(1)}" y1="${m.t + H}" y2="${m.t + H + 4}" stroke="#444"/>`);
    parts.push(`<text x="${X(v).toFixed(1)}" y="${m.t + H + 17}" text-anchor="middle">${label(v)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W}" height="${H}" fill="none" stroke="#444"/>`);
  parts.push(`<text x="${m.l + W / 2}" y="${height - 8}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${m.t + H / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);
  spec.series.forEach((s, k) => {
    const col = spec.data[k + 1];
    const pts = xs.map((x, i) => [x, col[i]] as const).filter(([, y]) => y !== null && Number.isFinite(y));
    if (pts.length === 0) return;
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y!).toFixed(1)}`).join(' ')}"/>`);
    if (pts.length < 40) for (const [x, y] of pts) parts.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y!).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    const ly = m.t + 14 + k * 16;
    parts.push(`<line x1="${m.l + W - 110}" x2="${m.l + W - 90}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<text x="${m.l + W - 84}" y="${ly}">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Units (rows) × characters (columns) of one track, the characters written along the top. */
export function heatmapSvg(reading: TextReading, track: Track, opts: { maxChars?: number; title?: string } = {}): string {
  const n = Math.min(reading.chars.length, opts.maxChars ?? 400);
  const CW = 10;
  const RH = Math.max(2, Math.min(10, Math.floor(640 / track.units)));
  const m = { l: 48, t: 44 };
  const width = m.l + n * CW + 8;
  const height = m.t + track.units * RH + 8;
  const scale = scaleOf(track.kind);
  const title = opts.title ?? `layer ${track.layer} ${KIND_LABEL[track.kind]}${track.kind === 'c' ? ' (tanh c)' : ''}: ${track.units} units × ${n} characters`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${m.l}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let t = 0; t < n; t++) {
    parts.push(`<text x="${m.l + t * CW + CW / 2}" y="${m.t - 6}" text-anchor="middle" font-family="DejaVu Sans Mono, monospace">${esc(visibleChar(reading.chars[t]))}</text>`);
  }
  for (let j = 0; j < track.units; j++) {
    if (RH >= 8 || j % Math.ceil(10 / RH) === 0) parts.push(`<text x="${m.l - 4}" y="${m.t + j * RH + RH - 1}" text-anchor="end" font-size="${Math.min(10, Math.max(7, RH))}">${j}</text>`);
    for (let t = 0; t < n; t++) {
      const v = track.values[t * track.units + j];
      parts.push(`<rect x="${m.l + t * CW}" y="${m.t + j * RH}" width="${CW}" height="${RH}" fill="${colorOf(scale, shownValue(track.kind, v))}"/>`);
    }
  }
  parts.push('</svg>');
  return parts.join('\n');
}
