/**
 * Self-contained HTML pages: the run report and the inspect page. Pure functions from plain data
 * to a string, with no Node API, so the browser playground renders the same pages. Nothing is
 * fetched: the chart library's code and stylesheet are passed in (the CLI reads them from
 * node_modules) and inlined, and the data rides along as JSON.
 */
import type { Metrics } from '../train.js';
import { trainingCharts } from './charts.js';
import { colorOf, escapeHtml, palette, quantize, toBase64, visibleChar, type Scale } from './colors.js';
import { KIND_LABEL, SIGMOID_KINDS, type TextReading, type Track, type TrackKind } from './inspect.js';

/** uPlot's browser build (uPlot.iife.min.js) and stylesheet (uPlot.min.css), as text. */
export interface ChartAssets {
  uplotJs: string;
  uplotCss: string;
}

/** JSON that is safe inside <script>: no "</script>" or "<!--" can close or confuse it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const BASE_CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#777}table{border-collapse:collapse}td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
pre{white-space:pre-wrap;background:#f6f6f6;padding:8px;border-radius:4px;margin:4px 0 12px}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{flex:1 1 520px;min-width:360px}`;

function page(title: string, head: string, body: string, refreshSeconds?: number): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
${refreshSeconds ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : ''}<title>${escapeHtml(title)}</title>
<style>${BASE_CSS}</style>${head}</head>
<body>${body}</body></html>
`;
}

// ---------------------------------------------------------------- run report

export interface ReportInput {
  /** Run name shown as the title (e.g. the run directory). */
  title: string;
  metrics: Metrics[];
  /** The run's configuration (TrainConfig and model facts), shown as a table. */
  config: Record<string, unknown> | null;
  samples: { iter: number; text: string }[];
  /** When the page was made (shown; the caller passes it, so the page is a pure function). */
  generatedAt: string;
  /** While training: reload the page every so many seconds. */
  refreshSeconds?: number;
}

/** Draws every chart spec with uPlot; exposes the instances as window.charrnnCharts (for tests). */
const REPORT_SCRIPT = `
(function(){
  var specs = JSON.parse(document.getElementById('charrnn-data').textContent);
  var charts = window.charrnnCharts = [];
  specs.forEach(function(s){
    var el = document.getElementById('chart-' + s.id);
    var opts = {
      title: s.title, width: Math.max(340, el.clientWidth || 520), height: 260,
      scales: { x: { time: false }, y: s.logY ? { distr: 3 } : {} },
      axes: [{ label: s.xLabel }, { label: s.yLabel, size: 60 }],
      series: [{ label: s.xLabel }].concat(s.series.map(function(r){
        return { label: r.label, stroke: r.color, width: 2, spanGaps: true, points: { show: s.data[0].length < 40 } };
      }))
    };
    charts.push(new uPlot(opts, s.data, el));
  });
})();`;

export function reportHtml(input: ReportInput, assets: ChartAssets): string {
  const specs = trainingCharts(input.metrics);
  const last = input.metrics[input.metrics.length - 1];
  const best = input.metrics.reduce<Metrics | null>((b, m) => (Number.isFinite(m.val_bpc) && (!b || m.val_bpc < b.val_bpc) ? m : b), null);
  const fmt = (n: number, d = 3): string => (Number.isFinite(n) ? n.toFixed(d) : '?');
  const summary = last
    ? `${input.metrics.length} evaluations; last at iteration ${last.iter} (epoch ${fmt(last.epoch, 2)}, ${fmt(last.seconds, 0)} s): train ${fmt(last.train_bpc)}, validation ${fmt(last.val_bpc)} bits/char` +
      (best ? `; best validation ${fmt(best.val_bpc)} bits/char at iteration ${best.iter}` : '')
    : 'no evaluations yet';
  const config = input.config
    ? `<table class="mono">${Object.entries(input.config).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`).join('')}</table>`
    : '<p class="muted">no checkpoint found, so no configuration to show</p>';
  const samples = input.samples.length > 0
    ? input.samples.map((s) => `<h3 class="mono">iteration ${s.iter}</h3><pre>${escapeHtml(s.text)}</pre>`).join('')
    : '<p class="muted">no samples were taken during training (see --sample-every)</p>';
  const body = `<h1>charrnn run: ${escapeHtml(input.title)}</h1>
<p class="muted">${escapeHtml(summary)}. Generated ${escapeHtml(input.generatedAt)}.</p>
<h2>Curves</h2><div class="charts">${specs.map((s) => `<div class="chart" id="chart-${s.id}"></div>`).join('')}</div>
<h2>Configuration</h2>${config}
<h2>Samples during training</h2>${samples}
<script id="charrnn-data" type="application/json">${scriptJson(specs)}</script>
<script>${assets.uplotJs}</script><script>${REPORT_SCRIPT}</script>`;
  return page(`charrnn: ${input.title}`, `<style>${assets.uplotCss}</style>`, body, input.refreshSeconds);
}

// ---------------------------------------------------------------- inspect page

/** A unit to show: layer, kind and index, with its correlation when it came from a search. */
export interface UnitRef {
  layer: number;
  kind: TrackKind;
  unit: number;
  r?: number;
}

export interface InspectInput {
  title: string;
  /** e.g. "LSTM 2×128, 65 symbols". */
  modelLabel: string;
  reading: TextReading;
  /** Units to colour the text by (--units). */
  units: UnitRef[];
  /** Neuron search: the regex and the strongest units. */
  found?: { regex: string; units: UnitRef[] };
  /** Most characters in the heatmap and the prediction strip (the page stays usable). */
  maxChars?: number;
}

export function scaleOf(kind: TrackKind): Scale {
  return SIGMOID_KINDS.has(kind) ? 'gate' : 'signed';
}

/**
 * What is drawn for a value: tanh c for the LSTM cell state (c is unbounded; tanh c is what the
 * output gate sees, as in Karpathy's figures), the value itself for the others ((-1, 1) or (0, 1)).
 */
export function shownValue(kind: TrackKind, v: number): number {
  return kind === 'c' ? Math.tanh(v) : v;
}

export function unitLabel(u: UnitRef): string {
  return `layer ${u.layer} ${KIND_LABEL[u.kind]} unit ${u.unit}${u.r !== undefined ? ` (r = ${u.r.toFixed(3)})` : ''}`;
}

/** Loss of one character → colour: 0 bits white, ≥ 8 bits full red. */
function lossColor(nats: number | null): string {
  return nats === null ? '#eeeeee' : colorOf('loss', nats / Math.LN2 / 8);
}

function findTrack(reading: TextReading, u: UnitRef): Track {
  const tr = reading.tracks.find((t) => t.layer === u.layer && t.kind === u.kind);
  if (!tr || u.unit < 0 || u.unit >= tr.units) throw new RangeError(`no ${unitLabel(u)} in this model`);
  return tr;
}

/**
 * The text with each character's background the colour of one unit's value (Karpathy's figure).
 * Colours span the unit's own range over this text, [min, max] → blue … red (gates: white …
 * green): a cell state that drifted far from 0, or a gate that never closes, still shows what
 * it tracks.
 */
function coloredText(reading: TextReading, u: UnitRef): string {
  const tr = findTrack(reading, u);
  const n = reading.chars.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (let t = 0; t < n; t++) {
    const v = tr.values[t * tr.units + u.unit];
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const gate = scaleOf(u.kind) === 'gate';
  const span = hi - lo || 1;
  let s = '';
  reading.chars.forEach((ch, t) => {
    const v = tr.values[t * tr.units + u.unit];
    const x = gate ? (v - lo) / span : (2 * (v - lo)) / span - 1;
    s += `<span style="background:${colorOf(gate ? 'gate' : 'signed', x)}" title="${v.toFixed(3)}">${escapeHtml(ch === '\n' ? '↵\n' : ch)}</span>`;
  });
  return `<h3 class="mono">${escapeHtml(unitLabel(u))} <span class="muted">${lo.toFixed(2)} … ${hi.toFixed(2)}</span></h3><pre class="ct">${s}</pre>`;
}

/** Per character: the character coloured by its loss, then the top-k guesses for the next one. */
function predictionStrip(reading: TextReading, n: number): string {
  let s = '';
  for (let t = 0; t < n; t++) {
    const loss = reading.loss[t];
    const title = loss === null ? 'first character' : `${(loss / Math.LN2).toFixed(2)} bits`;
    s += `<div class="col"><div class="ch" style="background:${lossColor(loss)}" title="${title}">${escapeHtml(visibleChar(reading.chars[t]))}</div>`;
    for (const g of reading.top[t]) {
      s += `<div class="g" style="background:${colorOf('gate', g.p)}" title="${(g.p * 100).toFixed(1)}%">${escapeHtml(visibleChar(g.char))}</div>`;
    }
    s += '</div>';
  }
  return `<div class="strip mono">${s}</div>`;
}

function lossText(reading: TextReading): string {
  let s = '';
  reading.chars.forEach((ch, t) => {
    const l = reading.loss[t];
    s += `<span style="background:${lossColor(l)}" title="${l === null ? 'first character' : (l / Math.LN2).toFixed(2) + ' bits'}">${escapeHtml(ch === '\n' ? '↵\n' : ch)}</span>`;
  });
  return `<pre class="ct">${s}</pre>`;
}

/** Draws the selected track as a units × characters canvas from int8 codes and a palette. */
const HEATMAP_SCRIPT = `
(function(){
  var D = JSON.parse(document.getElementById('charrnn-heatmap').textContent);
  var sel = document.getElementById('hm-track'), cv = document.getElementById('hm'), tip = document.getElementById('hm-tip');
  var CW = 10, TOP = 14;
  function codes(tr){ var b = atob(tr.data), a = new Int8Array(b.length); for (var i = 0; i < b.length; i++) a[i] = (b.charCodeAt(i) << 24) >> 24; return a; }
  function draw(){
    var tr = D.tracks[sel.value], a = codes(tr), pal = D.palettes[tr.scale];
    var RH = Math.max(2, Math.min(10, Math.floor(640 / tr.units)));
    cv.width = D.chars.length * CW; cv.height = TOP + tr.units * RH;
    var c = cv.getContext('2d');
    c.fillStyle = '#fff'; c.fillRect(0, 0, cv.width, cv.height);
    c.font = '11px monospace'; c.fillStyle = '#222'; c.textAlign = 'center';
    D.chars.forEach(function(ch, t){ c.fillText(ch, t * CW + CW / 2, 11); });
    for (var t = 0; t < D.chars.length; t++) for (var j = 0; j < tr.units; j++) {
      c.fillStyle = pal[a[t * tr.units + j] + 128]; c.fillRect(t * CW, TOP + j * RH, CW, RH);
    }
    cv.onmousemove = function(e){
      var r = cv.getBoundingClientRect(), t = Math.floor((e.clientX - r.left) / CW), j = Math.floor((e.clientY - r.top - TOP) / RH);
      if (t < 0 || t >= D.chars.length || j < 0 || j >= tr.units) { tip.textContent = ''; return; }
      tip.textContent = tr.label + ', unit ' + j + ', after ' + JSON.stringify(D.chars[t]) + ' (#' + t + '): ' + (a[t * tr.units + j] / 127).toFixed(2);
    };
    window.charrnnHeatmap = { track: tr.label, units: tr.units, chars: D.chars.length };
  }
  sel.onchange = draw; draw();
})();`;

/** Most values (characters × units over all tracks) embedded for the heatmap: 3 M ≈ 4 MB of base64. */
const HEATMAP_CELLS = 3_000_000;

export function inspectHtml(input: InspectInput): string {
  const { reading } = input;
  const n = Math.min(reading.chars.length, input.maxChars ?? 2000);
  const cut = n < reading.chars.length ? ` (first ${n} of ${reading.chars.length} characters)` : '';
  // the heatmap carries every unit of every track per character: keep the page to a few MB
  const allUnits = reading.tracks.reduce((a, tr) => a + tr.units, 0);
  const nh = Math.min(n, Math.max(100, Math.floor(HEATMAP_CELLS / allUnits)));
  const cutHeat = nh < reading.chars.length ? ` (first ${nh} of ${reading.chars.length} characters)` : '';
  const tracks = reading.tracks.map((tr) => ({
    label: `layer ${tr.layer} ${KIND_LABEL[tr.kind]}${tr.kind === 'c' ? ' (tanh c)' : ''}`, units: tr.units, scale: scaleOf(tr.kind),
    data: toBase64(new Uint8Array(quantize(tr.values.subarray(0, nh * tr.units).map((v) => shownValue(tr.kind, v)), 1).buffer)),
  }));
  const heat = { chars: reading.chars.slice(0, nh).map(visibleChar), tracks, palettes: { signed: palette('signed'), gate: palette('gate') } };
  const top = reading.tracks.filter((t) => t.layer === reading.tracks[reading.tracks.length - 1].layer)[0];
  const options = reading.tracks.map((tr, i) => `<option value="${i}"${tr === top ? ' selected' : ''}>layer ${tr.layer}: ${KIND_LABEL[tr.kind]}</option>`).join('');
  const found = input.found
    ? `<h2>Units that follow /${escapeHtml(input.found.regex)}/</h2><p class="muted">Ranked by |r|, the correlation of the unit's value with "this character is inside a match". Each unit is coloured over its own range on this text (shown beside it): blue = its lowest, red = its highest (gates: white … green).</p>${input.found.units.map((u) => coloredText(reading, u)).join('')}`
    : '';
  const chosen = input.units.length > 0 ? `<h2>Chosen units</h2>${input.units.map((u) => coloredText(reading, u)).join('')}` : '';
  const css = `<style>
.strip{display:flex;flex-wrap:wrap;gap:1px 0}.col{display:flex;flex-direction:column;width:16px;text-align:center}
.ch{font-weight:bold;border-bottom:1px solid #999}.g{font-size:11px;color:#333}.ct span{white-space:pre-wrap}
pre.ct{background:none;padding:0;line-height:1.6}#hm-wrap{overflow-x:auto;border:1px solid #ddd}#hm-tip{min-height:1.4em}
</style>`;
  const bpc = Number.isFinite(reading.bitsPerChar) ? `${reading.bitsPerChar.toFixed(3)} bits/char` : 'no loss (one character)';
  const body = `<h1>charrnn inspect: ${escapeHtml(input.title)}</h1>
<p class="muted">${escapeHtml(input.modelLabel)}; ${reading.chars.length} characters read from the zero state; ${bpc}.</p>
${found}${chosen}
<h2>Predictions${escapeHtml(cut)}</h2><p class="muted">Each character (background: how surprising it was, white 0 bits → red ≥ 8 bits), and below it the model's ${reading.top[0]?.length ?? 0} likeliest guesses for the next character (darker green = more probable; hover for numbers).</p>
${predictionStrip(reading, n)}
<h2>Loss per character</h2>${lossText(reading)}
<h2>Heatmap${escapeHtml(cutHeat)}</h2><p>Units (rows) × characters (columns), after reading each character: <select id="hm-track">${options}</select></p>
<div id="hm-wrap"><canvas id="hm"></canvas></div><div id="hm-tip" class="mono muted"></div>
<script id="charrnn-heatmap" type="application/json">${scriptJson(heat)}</script><script>${HEATMAP_SCRIPT}</script>`;
  return page(`charrnn inspect: ${input.title}`, css, body);
}
