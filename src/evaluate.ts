/**
 * Loss of a model on a text: the average negative log-probability it gives each next character,
 * in nats/char (natural log), bits/char (log2, = nats / ln 2) and perplexity (e^nats).
 */
import { EvalBatcher, encodeParts, type TextPart } from './data.js';
import { CharRnnError } from './errors.js';
import { itemsOf, LinesBatcher, type Items } from './lines.js';
import { isLagging } from './backend/types.js';
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

/** How to read a text window by window: the batch, the window, how many, and how to load window w. */
interface ReadPlan {
  B: number;
  T: number;
  windows: number;
  fill: (w: number, ws: Workspace) => void;
}

/** `ids` as `streams` parallel streams of windows of T (EvalBatcher). */
function idsPlan(ids: IdArray, opts: { streams: number; T: number }): ReadPlan {
  const batcher = new EvalBatcher(ids, opts.streams, opts.T);
  return { B: batcher.B, T: opts.T, windows: batcher.windows, fill: (w, ws) => batcher.fill(w, ws.B, ws.inputs, ws.targets) };
}

/** Items dealt into `streams` rows of item-aligned windows, each item from the zero state (src/lines.ts). */
function itemsPlan(items: Items, nl: number, opts: { streams: number; T: number }): ReadPlan {
  const batcher = new LinesBatcher(items, opts.streams, opts.T, nl, null);
  return {
    B: opts.streams, T: opts.T, windows: batcher.windows,
    fill: (w, ws) => {
      batcher.fill(w, ws.inputs, ws.targets);
      ws.resetRows(batcher.starts);
    },
  };
}

/**
 * Mean loss over `ids` read as `streams` parallel streams of windows of T, each stream starting
 * from the zero state and carrying its state from window to window. With streams = 1 this is
 * the text read once from start to end. The workspace it reads with is disposed before it returns.
 */
export function evaluateIds(model: CharRNN, ids: IdArray, opts: { streams: number; T: number }): { loss: number; chars: number } {
  return meanLoss(model, idsPlan(ids, opts));
}

/**
 * Mean loss over items (a --lines model): each item from the zero state, in the file's order,
 * dealt into `streams` rows of item-aligned windows (src/lines.ts).
 */
export function evaluateItems(model: CharRNN, items: Items, nl: number, opts: { streams: number; T: number }): { loss: number; chars: number } {
  return meanLoss(model, itemsPlan(items, nl, opts));
}

/**
 * evaluateIds on any backend: on a lagging one (webgpu) the loss is summed on the device and
 * read back once at the end.
 */
export async function evaluateIdsAsync(model: CharRNN, ids: IdArray, opts: { streams: number; T: number }): Promise<{ loss: number; chars: number }> {
  return isLagging(model.backend) ? meanLossOnDevice(model, idsPlan(ids, opts)) : evaluateIds(model, ids, opts);
}

/** evaluateItems on any backend (as evaluateIdsAsync). */
export async function evaluateItemsAsync(model: CharRNN, items: Items, nl: number, opts: { streams: number; T: number }): Promise<{ loss: number; chars: number }> {
  return isLagging(model.backend) ? meanLossOnDevice(model, itemsPlan(items, nl, opts)) : evaluateItems(model, items, nl, opts);
}

/** Σ loss / Σ predicted characters over the plan's windows; the state carries from one to the next. */
function meanLoss(model: CharRNN, plan: ReadPlan): { loss: number; chars: number } {
  const ws = new Workspace(model, plan.B, plan.T, { training: false });
  try {
    let total = 0;
    let chars = 0;
    for (let w = 0; w < plan.windows; w++) {
      plan.fill(w, ws);
      ws.idsWritten();
      const r = model.forward(ws);
      total += r.loss;
      chars += r.count;
      ws.carryState();
    }
    return { loss: chars > 0 ? total / chars : NaN, chars };
  } finally {
    ws.dispose();
  }
}

/** meanLoss with the sum kept on a lagging backend's device (ws.lossSum) and read back once. */
async function meanLossOnDevice(model: CharRNN, plan: ReadPlan): Promise<{ loss: number; chars: number }> {
  const ws = new Workspace(model, plan.B, plan.T, { training: false });
  try {
    let chars = 0;
    for (let w = 0; w < plan.windows; w++) {
      plan.fill(w, ws);
      ws.idsWritten();
      chars += model.forward(ws, { train: false, into: ws.lossSum }).count;
      ws.carryState();
    }
    await model.backend.download!([ws.lossSum]);
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
export function evaluateText(model: CharRNN, vocab: Vocabulary, parts: TextPart[], T = 100): EvalResult {
  const { ids, unknown } = encodeParts(parts, vocab);
  const names = parts.map((p) => p.name).join(', ');
  if (model.config.lines) {
    const nl = vocab.id(10);
    const items = itemsOf(ids, nl, vocab.id(13));
    if (items.start.length === 0) throw new CharRnnError('too-short', `${names} has no non-empty line to evaluate a lines model on`);
    const { loss, chars } = evaluateItems(model, items, nl, { streams: 1, T });
    return lossSummary(loss, chars, unknown);
  }
  if (ids.length < 2) {
    throw new CharRnnError('too-short', `${names} has ${ids.length} known character(s); evaluation needs at least 2`);
  }
  const { loss, chars } = evaluateIds(model, ids, { streams: 1, T });
  return lossSummary(loss, chars, unknown);
}
