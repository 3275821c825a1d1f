/**
 * `charrnn inspect CKPT --text "..." | --file F`: an HTML page of what the model does over a
 * text (prediction strip, per-character loss, heatmaps of every layer's units and gates, units
 * coloured over the text, neuron search with --find), and with --svg / --png heatmap images.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CharRnnError } from '../src/errors.js';
import { findUnits, readText, type TextReading, type TrackKind } from '../src/viz/inspect.js';
import { inspectHtml, unitLabel, type UnitRef } from '../src/viz/html.js';
import { heatmapSvg } from '../src/viz/svg.js';
import { writeFileAtomic } from './atomic.js';
import { createBackend } from '../src/backend/platform-node.js';
import { loadCheckpointFile } from './checkpoint.js';
import { fsErrorReason } from './fs-errors.js';
import { CliError, parseNumber, type Proc } from './io.js';
import { svgToPng } from './viz-assets.js';

type Opts = Record<string, string | boolean | undefined>;

/** Longest text read (every unit of every layer is kept per character). */
const MAX_CHARS = 10000;
const FOUND_SHOWN = 8;

/** "12" = unit 12 of the top layer's hidden state; "0:c:87" = layer 0, cell state, unit 87. */
export function parseUnits(spec: string, reading: TextReading): UnitRef[] {
  const topLayer = reading.tracks[reading.tracks.length - 1].layer;
  return spec.split(',').filter((s) => s.trim() !== '').map((s) => {
    const m = /^\s*(?:(\d+):([hcifgorzn]):)?(\d+)\s*$/.exec(s);
    if (!m) throw new CliError(`--units: ${JSON.stringify(s)} is not a unit; write 12 (top layer's hidden state) or 0:c:87 (layer:kind:unit, kind one of h c i f g o r z n)`, 2);
    const u: UnitRef = { layer: m[1] === undefined ? topLayer : Number(m[1]), kind: (m[2] ?? 'h') as TrackKind, unit: Number(m[3]) };
    const tr = reading.tracks.find((t) => t.layer === u.layer && t.kind === u.kind);
    if (!tr || u.unit >= tr.units) throw new CliError(`--units: this model has no ${unitLabel(u)}`, 2);
    return u;
  });
}

export async function inspectCommand(proc: Proc, ckpt: string, opts: Opts): Promise<number> {
  if ((opts.text === undefined) === (opts.file === undefined)) throw new CliError('give the text to inspect with either --text "..." or --file F', 2);
  let text: string;
  if (typeof opts.file === 'string') {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(opts.file));
    } catch (e) {
      throw new CliError(e instanceof TypeError ? `${opts.file} is not valid UTF-8` : `cannot read ${opts.file}: ${fsErrorReason(e, 'read')}`);
    }
  } else text = String(opts.text);
  const n = [...text].length;
  if (n > MAX_CHARS) throw new CliError(`the text has ${n} characters; inspect reads at most ${MAX_CHARS} (pick a passage)`, 2);
  const topK = parseNumber('--top-k', String(opts.topK));
  if (!Number.isInteger(topK) || topK < 1) throw new CliError(`--top-k must be a whole number ≥ 1 (got ${opts.topK})`, 2);
  let re: RegExp | null = null;
  if (typeof opts.find === 'string') {
    try {
      re = new RegExp(opts.find, 'mu'); // ^ and $ match at every line, as one expects in a text
    } catch (e) {
      throw new CliError(`--find: not a regular expression: ${(e as Error).message}`, 2);
    }
  }
  const out = typeof opts.out === 'string' ? opts.out : join(dirname(ckpt), 'inspect.html');

  const backend = await createBackend({ kind: 'auto', threads: 1 });
  try {
    const { data, model } = await loadCheckpointFile(ckpt, backend);
    let reading: TextReading;
    try {
      reading = readText(model, data.vocab, text, { topK });
    } catch (e) {
      if (e instanceof CharRnnError) throw new CliError(`the text: ${e.message}`, 2);
      throw e;
    }
    const units = typeof opts.units === 'string' ? parseUnits(opts.units, reading) : [];
    let found: { regex: string; units: UnitRef[] } | undefined;
    if (re) {
      const best = findUnits(reading, re, { limit: FOUND_SHOWN });
      found = { regex: re.source, units: best };
      proc.stdout.write(`units that follow /${re.source}/ (Pearson r with "inside a match"):\n`);
      for (const u of best) proc.stdout.write(`  ${u.r >= 0 ? ' ' : ''}${u.r.toFixed(3)}  ${unitLabel({ ...u, r: undefined })}  (--units ${u.layer}:${u.kind}:${u.unit})\n`);
    }
    const m = data.model;
    const modelLabel = `${m.type.toUpperCase()} ${m.layers}×${m.hidden}, ${data.vocab.size} symbols`;
    await writeFileAtomic(out, inspectHtml({ title: ckpt, modelLabel, reading, units, found }));
    proc.stdout.write(`${reading.bitsPerChar.toFixed(3)} bits/char over ${n} characters\nwrote ${out}\n`);
    if (opts.svg || opts.png) {
      const base = out.replace(/\.html?$/i, '');
      // the top layer's hidden state, and for an LSTM its cell state (where Karpathy's cells live)
      for (const tr of reading.tracks.filter((t) => t.layer === m.layers - 1 && (t.kind === 'h' || t.kind === 'c'))) {
        const svg = heatmapSvg(reading, tr);
        const path = `${base}-heatmap-${tr.kind}`;
        if (opts.svg) await writeFileAtomic(`${path}.svg`, svg);
        if (opts.png) await writeFileAtomic(`${path}.png`, await svgToPng(svg));
        proc.stdout.write(`wrote ${path}${opts.svg ? '.svg' : ''}${opts.svg && opts.png ? ', .png' : opts.png ? '.png' : ''}\n`);
      }
    }
    return 0;
  } catch (e) {
    if (e instanceof CharRnnError && e.code === 'no-match') throw new CliError(`--find: ${e.message}`, 2);
    throw e;
  } finally {
    backend.dispose?.();
  }
}
