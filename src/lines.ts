/**
 * One item per line (--lines): names, titles, tweets. Each non-empty line is an item; a model
 * learns to make items, not to continue a text.
 *
 *   an item c_1..c_n is read as   inputs  \n  c_1 … c_n
 *                                 targets c_1 … c_n  \n
 *   from the zero state: the newline in front is the start symbol, the one behind the stop
 *   symbol. Sampling does the same (src/generate.ts): reset, feed a newline, draw until one.
 *
 * Split: by items, contiguous, as the text split (the first 90% of the lines train, then 5%
 * validation, then 5% test); the parts stay subarrays of the corpus ids, cut at line ends.
 *
 * Batching: items are aligned to windows. An item of n characters takes ⌈(n+1)/T⌉ consecutive
 * windows of one stream (so it never straddles streams, and its state is carried only within
 * itself); the rest of its last window is padding (target -1: no loss, no gradient). Before a
 * window, the rows whose item starts there (or that are padding) get the zero state
 * (Workspace.resetRows), so a reset never falls inside a window and no kernel needs a per-row
 * mask. The price is padding: choose --seq-len near the typical item length (names: 16).
 * Each epoch the items are shuffled (Fisher–Yates, a generator seeded by the run's seed and the
 * epoch number, so a resumed run recomputes the same order from its checkpointed epoch) and
 * dealt, in that order, each to the stream with the fewest windows so far; the epoch has as
 * many windows as the longest stream.
 */
import { flagName, type TrainConfig } from './config.js';
import { Batcher, splitCorpus, type Split, type WindowSource } from './data.js';
import type { Workspace } from './model/model.js';
import { CharRnnError } from './errors.js';
import { Rng } from './rng.js';
import type { IdArray, Vocabulary } from './vocab.js';

/** Items as ranges of an id array: item k is ids[start[k], end[k]) (no newline). */
export interface Items {
  ids: IdArray;
  start: Uint32Array;
  end: Uint32Array;
}

/** The non-empty lines of `ids` (a trailing carriage return is part of the line's end, not the item). */
export function itemsOf(ids: IdArray, nl: number, cr = -1): Items {
  const start: number[] = [];
  const end: number[] = [];
  let s = 0;
  for (let i = 0; i <= ids.length; i++) {
    if (i < ids.length && ids[i] !== nl) continue;
    let e = i;
    if (e > s && ids[e - 1] === cr) e--;
    if (e > s) {
      start.push(s);
      end.push(e);
    }
    s = i + 1;
  }
  return { ids, start: Uint32Array.from(start), end: Uint32Array.from(end) };
}

/** Contiguous split by item count: train, validation, test; each a subarray of `ids` cut after a newline. */
export function splitLines(ids: IdArray, nl: number, valFrac: number, testFrac: number): Split {
  const all = itemsOf(ids, nl);
  const n = all.start.length;
  const nVal = Math.floor(n * valFrac);
  const nTest = Math.floor(n * testFrac);
  const nTrain = n - nVal - nTest;
  const cut = (k: number): number => (k >= n ? ids.length : all.start[k]); // the start of item k (after the newline before it)
  return {
    train: ids.subarray(0, cut(nTrain)),
    val: ids.subarray(cut(nTrain), cut(nTrain + nVal)),
    test: ids.subarray(cut(nTrain + nVal)),
  };
}

/** The run's split: by items for --lines (which needs a newline in the text), else by characters. */
export function splitFor(ids: IdArray, vocab: Vocabulary, cfg: { lines: boolean; valFrac: number; testFrac: number }): Split {
  if (!cfg.lines) return splitCorpus(ids, cfg.valFrac, cfg.testFrac);
  const nl = vocab.id(10);
  if (nl < 0) throw new CharRnnError('too-short', '--lines needs one item per line, but the corpus has a single line; give a file with several lines');
  return splitLines(ids, nl, cfg.valFrac, cfg.testFrac);
}

/** What a run trains and validates on: its split, its training windows and, with --lines, the items. */
export interface RunData {
  split: Split;
  /** B contiguous streams of the training split, or with --lines its items dealt into B rows. */
  source: WindowSource;
  /** With --lines: the items of the training split (batched by `source`) and of the validation split. */
  lines: { train: Items; val: Items; nl: number } | null;
}

/** A run's data for its config, or a one-line error when the text is too short for its batch and window. */
export function runData(ids: IdArray, vocab: Vocabulary, config: Pick<TrainConfig, 'lines' | 'valFrac' | 'testFrac' | 'batch' | 'seqLen' | 'seed'>): RunData {
  const { batch: B, seqLen: T } = config;
  const split = splitFor(ids, vocab, config);
  let lines: RunData['lines'] = null;
  let source: WindowSource;
  if (config.lines) {
    const [nl, cr] = [vocab.id(10), vocab.id(13)];
    lines = { train: itemsOfPart(split.train, nl, cr, 'training'), val: itemsOfPart(split.val, nl, cr, 'validation'), nl };
    source = new LinesBatcher(lines.train, B, T, nl, config.seed);
  } else source = new Batcher(split.train, B, T);
  checkRunLengths({ trainChars: split.train.length, windows: source.windows, valChars: lines ? null : split.val.length }, config);
  return { split, source, lines };
}

/**
 * A one-line error when the text is too short for the batch and window (no training window) or,
 * for running text (valChars not null), for a validation pass. Also checked by the torch engine's
 * streamed prepare, which knows the lengths only.
 */
export function checkRunLengths(run: { trainChars: number; windows: number; valChars: number | null }, config: Pick<TrainConfig, 'valFrac' | 'testFrac' | 'batch' | 'seqLen'>): void {
  const { batch: B, seqLen: T } = config;
  if (run.windows < 1) {
    const need = B * T + 1;
    const needTotal = Math.ceil(need / (1 - config.valFrac - config.testFrac));
    throw new CharRnnError('too-short', `the training split has ${run.trainChars} characters but ${flagName('batch')} ${B} × ${flagName('seqLen')} ${T} needs at least ${need} (a corpus of about ${needTotal}); use a smaller --batch or --seq-len, or more text`);
  }
  if (run.valChars !== null && run.valChars < 2) throw new CharRnnError('too-short', `the validation split has ${run.valChars} characters; raise --val-frac or give more text`);
}

/** The items of a split part, or a one-line error when there are none. */
export function itemsOfPart(ids: IdArray, nl: number, cr: number, what: string): Items {
  const items = itemsOf(ids, nl, cr);
  if (items.start.length === 0) throw new CharRnnError('too-short', `the ${what} split has no lines; give more lines or raise --val-frac / --test-frac`);
  return items;
}

/** Item-aligned windows over B streams (see the header). */
export class LinesBatcher implements WindowSource {
  /** Windows in the planned epoch. */
  windows = 0;
  /** (B) 1 where the row's state must be zeroed before the window just filled (an item starts, or padding). */
  readonly starts: Uint8Array;
  /** (W·B) item at window w of stream b (index w·B + b), -1 = padding; and the window of the item it is. */
  private item = new Int32Array(0);
  private chunk = new Int32Array(0);
  private planned = -1;
  /** Windows per item: ⌈(n + 1) / T⌉. */
  private readonly size: Int32Array;

  /** `seed` null: keep the file's order (evaluation). */
  constructor(readonly items: Items, readonly B: number, readonly T: number, readonly nl: number, readonly seed: number | null) {
    this.starts = new Uint8Array(B);
    const n = items.start.length;
    this.size = new Int32Array(n);
    for (let k = 0; k < n; k++) this.size[k] = Math.ceil((items.end[k] - items.start[k] + 1) / T);
    this.plan(0);
  }

  /** Deal the items of `epoch` into the streams (a no-op if it is the planned one). */
  plan(epoch: number): void {
    if (epoch === this.planned) return;
    this.planned = epoch;
    const { B } = this;
    const n = this.size.length;
    const order = new Int32Array(n);
    for (let k = 0; k < n; k++) order[k] = k;
    if (this.seed !== null) {
      const rng = new Rng((this.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
      for (let k = n - 1; k > 0; k--) {
        const j = Math.floor(rng.next() * (k + 1));
        const t = order[k];
        order[k] = order[j];
        order[j] = t;
      }
    }
    // each item to the stream with the fewest windows so far (ties: the lower stream)
    const load = new Int32Array(B);
    const where = new Int32Array(n); // stream of each item in `order`
    for (let r = 0; r < n; r++) {
      let b = 0;
      for (let c = 1; c < B; c++) if (load[c] < load[b]) b = c;
      where[r] = b;
      load[b] += this.size[order[r]];
    }
    let W = 0;
    for (let b = 0; b < B; b++) W = Math.max(W, load[b]);
    this.windows = W;
    this.item = new Int32Array(W * B).fill(-1);
    this.chunk = new Int32Array(W * B);
    load.fill(0);
    for (let r = 0; r < n; r++) {
      const b = where[r];
      const k = order[r];
      for (let c = 0; c < this.size[k]; c++) {
        const w = load[b]++;
        this.item[w * B + b] = k;
        this.chunk[w * B + b] = c;
      }
    }
  }

  /** Window w of `epoch` (dealt first if it is not the planned one), each item's first row from the zero state. */
  fill(w: number, ws: Workspace, epoch = this.planned): void {
    this.plan(epoch);
    this.fillIds(w, ws.inputs, ws.targets, ws.B);
    ws.idsWritten();
    ws.resetRows(this.starts);
  }

  /**
   * Window w of the planned epoch as ids, laid out for `batch` ≥ B rows (rows ≥ B are padding);
   * sets `starts`. Returns the number of targets (positions with a loss).
   */
  fillIds(w: number, inputs: Int32Array, targets: Int32Array, batch = this.B): number {
    const { B, T, nl, items } = this;
    const ids = items.ids;
    let counted = 0;
    for (let b = 0; b < batch; b++) {
      const k = b < B ? this.item[w * B + b] : -1;
      if (b < B) this.starts[b] = k < 0 || this.chunk[w * B + b] === 0 ? 1 : 0;
      // item k as a sequence s_0 = \n, s_1..s_n = its characters, s_{n+1} = \n; position p predicts s_{p+1}
      const s0 = k >= 0 ? items.start[k] : 0;
      const n = k >= 0 ? items.end[k] - s0 : -1;
      const p0 = k >= 0 ? this.chunk[w * B + b] * T : 0;
      for (let t = 0; t < T; t++) {
        const p = p0 + t;
        const i = t * batch + b;
        if (p <= n) {
          inputs[i] = p === 0 ? nl : ids[s0 + p - 1];
          targets[i] = p === n ? nl : ids[s0 + p];
          counted++;
        } else {
          inputs[i] = nl;
          targets[i] = -1;
        }
      }
    }
    return counted;
  }
}
