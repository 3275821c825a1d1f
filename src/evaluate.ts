/**
 * Loss of a model on a text: the average negative log-probability it gives each next character,
 * in nats/char (natural log), bits/char (log2, = nats / ln 2) and perplexity (e^nats).
 */
import { EvalBatcher, encodeParts, type TextPart, type WindowSource } from './data.js';
import { CharRnnError } from './errors.js';
import { itemsOf, LinesBatcher, type Items } from './lines.js';
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
export function evaluateIds(model: CharRNN, ids: IdArray, opts: { streams: number; T: number }): Promise<{ loss: number; chars: number }> {
  const source = new EvalBatcher(ids, opts.streams, opts.T);
  return meanLoss(model, source, source.B, opts.T);
}

/**
 * The part of a validation split an intermediate evaluation reads under --eval-chars N: its first
 * max(N, T + 1) characters (at least one window of T predictions, so the batcher has a stream),
 * or all of it when N is 0 or the split is shorter. python/charrnn_torch.py eval_prefix is this rule.
 */
export function evalPrefix(ids: IdArray, n: number, T: number): IdArray {
  return n > 0 ? ids.subarray(0, Math.min(ids.length, Math.max(n, T + 1))) : ids;
}

/** The same for a --lines split: the first items that end within those characters (at least one). */
export function evalPrefixItems(items: Items, n: number, T: number): Items {
  const count = items.start.length;
  if (n <= 0 || count === 0) return items;
  const limit = items.start[0] + Math.max(n, T + 1);
  let k = 1;
  while (k < count && items.end[k] <= limit) k++;
  return { ids: items.ids, start: items.start.subarray(0, k), end: items.end.subarray(0, k) };
}

/**
 * Mean loss over items (a --lines model): each item from the zero state, in the file's order,
 * dealt into `streams` rows of item-aligned windows (src/lines.ts).
 */
export function evaluateItems(model: CharRNN, items: Items, nl: number, opts: { streams: number; T: number }): Promise<{ loss: number; chars: number }> {
  return meanLoss(model, new LinesBatcher(items, opts.streams, opts.T, nl, null), opts.streams, opts.T);
}

/**
 * Σ loss / Σ predicted characters over a source's windows (B rows of T), the state carried from
 * one to the next. The sum stays in a backend word and is read back once, at the end, so a GPU
 * runs the whole pass without a readback. The workspace it reads with is disposed before it returns.
 */
async function meanLoss(model: CharRNN, source: WindowSource, B: number, T: number): Promise<{ loss: number; chars: number }> {
  const ws = new Workspace(model, B, T, { training: false });
  try {
    let chars = 0;
    for (let w = 0; w < source.windows; w++) {
      source.fill(w, ws);
      chars += model.forward(ws);
      ws.carryState();
    }
    await model.backend.download([ws.lossSum]);
    return { loss: chars > 0 ? ws.lossSum[0] / chars : NaN, chars };
  } finally {
    ws.dispose();
  }
}

/**
 * `charrnn eval`: a text as one stream from the zero state, or for a lines model its lines as
 * items (each from the zero state, its newline the last character predicted), as the model was
 * trained and validated; unknown characters are counted and removed.
 */
export async function evaluateText(model: CharRNN, vocab: Vocabulary, parts: TextPart[], T = 100): Promise<EvalResult> {
  const { ids, unknown } = encodeParts(parts, vocab);
  const names = parts.map((p) => p.name).join(', ');
  if (model.config.lines) {
    const nl = vocab.id(10);
    const items = itemsOf(ids, nl, vocab.id(13));
    if (items.start.length === 0) throw new CharRnnError('too-short', `${names} has no non-empty line to evaluate a lines model on`);
    const { loss, chars } = await evaluateItems(model, items, nl, { streams: 1, T });
    return lossSummary(loss, chars, unknown);
  }
  if (ids.length < 2) {
    throw new CharRnnError('too-short', `${names} has ${ids.length} known character(s); evaluation needs at least 2`);
  }
  const { loss, chars } = await evaluateIds(model, ids, { streams: 1, T });
  return lossSummary(loss, chars, unknown);
}

/**
 * What guessing scores on a text, the yardsticks a loss is read against (bits/char): `uniform`,
 * every character of the vocabulary equally likely (log2 V); `unigram`, each character by how
 * often it occurs in `ids` (the entropy of the character counts), what a model that has learned
 * the letter frequencies and nothing else would score.
 */
export function guessingBits(ids: IdArray, vocabSize: number): { uniform: number; unigram: number } {
  const counts = new Float64Array(vocabSize); // [V]
  for (let i = 0; i < ids.length; i++) counts[ids[i]]++;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / ids.length) * Math.log2(c / ids.length);
  return { uniform: Math.log2(vocabSize), unigram: h };
}
