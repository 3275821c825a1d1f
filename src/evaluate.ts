/**
 * Loss of a model on a text: the average negative log-probability it gives each next character,
 * in nats/char (natural log), bits/char (log2, = nats / ln 2) and perplexity (e^nats).
 */
import { EvalBatcher, encodeParts, type TextPart } from './data.js';
import { CharRnnError } from './errors.js';
import { LinesBatcher, type Items } from './lines.js';
import { Workspace, type CharRNN } from './model/model.js';
import type { IdArray, Vocabulary } from './vocab.js';

export interface EvalResult {
  nats_per_char: number;
  bits_per_char: number;
  perplexity: number;
  /** Characters predicted. */
  chars: number;
  /** Characters outside the vocabulary, removed before evaluating. */
  unknown_chars: number;
}

export function lossSummary(nats: number, chars: number, unknown = 0): EvalResult {
  return { nats_per_char: nats, bits_per_char: nats / Math.LN2, perplexity: Math.exp(nats), chars, unknown_chars: unknown };
}

/**
 * Mean loss over `ids` read as `streams` parallel streams of windows of T, each stream starting
 * from the zero state and carrying its state from window to window. With streams = 1 this is
 * the text read once from start to end.
 */
export function evaluateIds(model: CharRNN, ids: IdArray, opts: { streams: number; T: number; ws?: Workspace }): { loss: number; chars: number } {
  const batcher = new EvalBatcher(ids, opts.streams, opts.T);
  const ws = opts.ws ?? new Workspace(model, batcher.B, opts.T, { training: false });
  if (ws.T !== opts.T || ws.B < batcher.B) throw new Error('evaluation workspace has the wrong shape');
  ws.resetState();
  let total = 0;
  let chars = 0;
  for (let w = 0; w < batcher.windows; w++) {
    batcher.fill(w, ws.B, ws.inputs, ws.targets);
    const r = model.forward(ws);
    total += r.loss;
    chars += r.count;
    ws.carryState();
  }
  return { loss: chars > 0 ? total / chars : NaN, chars };
}

/**
 * Mean loss over items (a --lines model): each item from the zero state, in the file's order,
 * dealt into `streams` rows of item-aligned windows (src/lines.ts).
 */
export function evaluateItems(model: CharRNN, items: Items, nl: number, opts: { streams: number; T: number; ws?: Workspace }): { loss: number; chars: number } {
  const batcher = new LinesBatcher(items, opts.streams, opts.T, nl, null);
  const ws = opts.ws ?? new Workspace(model, opts.streams, opts.T, { training: false });
  if (ws.T !== opts.T || ws.B !== opts.streams) throw new Error('evaluation workspace has the wrong shape');
  let total = 0;
  let chars = 0;
  for (let w = 0; w < batcher.windows; w++) {
    batcher.fill(w, ws.inputs, ws.targets);
    ws.resetRows(batcher.starts);
    const r = model.forward(ws);
    total += r.loss;
    chars += r.count;
    ws.carryState();
  }
  return { loss: chars > 0 ? total / chars : NaN, chars };
}

/**
 * `charrnn eval`: a text as one stream from the zero state; unknown characters are counted and
 * removed. Pass a (1, T) workspace to reuse when evaluating many texts (memory of the wasm
 * backend is never returned, so a fresh workspace per text would grow it).
 */
export function evaluateText(model: CharRNN, vocab: Vocabulary, parts: TextPart[], T = 100, ws?: Workspace): EvalResult {
  const { ids, unknown } = encodeParts(parts, vocab);
  if (ids.length < 2) {
    throw new CharRnnError('too-short', `${parts.map((p) => p.name).join(', ')} has ${ids.length} known character(s); evaluation needs at least 2`);
  }
  const { loss, chars } = evaluateIds(model, ids, { streams: 1, T, ws });
  return lossSummary(loss, chars, unknown);
}
