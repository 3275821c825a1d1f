/**
 * Colour scales shared by the HTML pages, the SVG images and the in-page heatmap (which gets
 * them as 256-entry palettes, so the browser draws exactly the colours Node would).
 *
 *   signed   v ∈ [-1, 1]: blue ← white → red   (tanh units: h, c, g, n; as in Karpathy's figures)
 *   gate     v ∈ [0, 1]:  white → green        (sigmoid gates: i, f, o, r, z)
 *   loss     v ∈ [0, 1]:  white → red          (surprise, scaled by the caller)
 */
type Rgb = [number, number, number];

const WHITE: Rgb = [255, 255, 255];
const BLUE: Rgb = [33, 102, 172];
const RED: Rgb = [178, 24, 43];
const GREEN: Rgb = [27, 120, 55];
const LOSS: Rgb = [215, 48, 31];

export type Scale = 'signed' | 'gate' | 'loss';

const clamp = (v: number, lo: number, hi: number): number => (Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : 0);

function mix(a: Rgb, b: Rgb, t: number): string {
  let s = '#';
  for (let k = 0; k < 3; k++) s += Math.round(a[k] + (b[k] - a[k]) * t).toString(16).padStart(2, '0');
  return s;
}

/** The colour of value v on a scale (values outside the range are clamped). */
export function colorOf(scale: Scale, v: number): string {
  if (scale === 'signed') {
    const x = clamp(v, -1, 1);
    return x < 0 ? mix(WHITE, BLUE, -x) : mix(WHITE, RED, x);
  }
  return mix(WHITE, scale === 'gate' ? GREEN : LOSS, clamp(v, 0, 1));
}

/** 256 colours: entry q is the colour of the int8 code q - 128 (see quantize). */
export function palette(scale: Scale): string[] {
  const out: string[] = [];
  for (let q = -128; q < 128; q++) out.push(colorOf(scale, q / 127)); // gates never go below 0
  return out;
}

/** Value → int8 code: signed values as v / range · 127, gates as v · 127 (so they share decoding). */
export function quantize(values: ArrayLike<number>, range: number): Int8Array {
  const out = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.round(clamp(values[i] / range, -1, 1) * 127);
  return out;
}

/** Characters as shown in a cell: whitespace made visible. */
export function visibleChar(ch: string): string {
  return ch === ' ' ? '␣' : ch === '\n' ? '↵' : ch === '\t' ? '⇥' : ch === '\r' ? '␍' : ch;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Bytes as base64, without Node's Buffer (these renderers also run in the browser). */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
