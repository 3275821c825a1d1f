/**
 * The corpus as token ids, its contiguous train/val/test split, and char-rnn's batching.
 *
 * Memory: a corpus is held as one id per character in the smallest integer array that fits the
 * vocabulary (1 byte for ≤ 256 symbols), never as a JS string or an array of strings, so a
 * 100 MB corpus costs about 100 MB.
 *
 * Batching (as in char-rnn / torch-rnn): the training split is cut into B contiguous streams of
 * equal length L; an epoch walks all streams in parallel in windows of T characters. Stream b's
 * hidden state at the end of window w is the initial state of window w + 1, so the model sees
 * each stream as one long text (truncated backpropagation through time).
 */
import { CharRnnError } from './errors.js';
import { IdPass, SymbolPass, type TextMode, type TextPass } from './stream.js';
import { Vocabulary, type IdArray } from './vocab.js';
import type { Workspace } from './model/model.js';

export interface TextPart {
  /** Shown in error messages (a file path). */
  name: string;
  bytes: Uint8Array;
}

export interface Corpus {
  vocab: Vocabulary;
  ids: IdArray;
}

/**
 * Decode the parts (concatenated in order) and build the vocabulary from them. Two passes over
 * the bytes (src/stream.ts): one to validate, collect the symbols and count characters, one to
 * write the ids. `binary`: every byte is a symbol (code points 0–255) instead of UTF-8.
 */
export function buildCorpus(parts: TextPart[], opts: CorpusOptions = {}): Corpus {
  const mode: TextMode = opts.binary ? 'bytes' : 'utf8';
  const scan = new SymbolPass(mode, opts);
  runPass(scan, parts);
  const vocab = vocabularyOf(scan, parts.map((p) => p.name));
  const enc = new IdPass(mode, vocab, scan.count);
  runPass(enc, parts);
  return { vocab, ids: enc.ids };
}

export interface CorpusOptions {
  /** Read bytes, not UTF-8: each byte 0–255 is one symbol. */
  binary?: boolean;
  /** Accept NUL characters in UTF-8 text (otherwise the file is taken for a binary file). */
  allowNul?: boolean;
}

/** After pass 1: the vocabulary, or a one-line error for an empty corpus. */
export function vocabularyOf(scan: SymbolPass, names: string[]): Vocabulary {
  if (scan.count === 0) throw new CharRnnError('empty-corpus', `${names.join(', ') || 'the corpus'} has no text; give a non-empty UTF-8 text file`);
  return new Vocabulary(scan.symbols());
}

function runPass(pass: TextPass, parts: TextPart[]): void {
  for (const part of parts) {
    pass.file(part.name);
    pass.push(part.bytes);
    pass.end();
  }
}

/**
 * Encode text with an existing vocabulary. Characters outside it are dropped and counted
 * (evaluation reports them rather than failing).
 */
export function encodeParts(parts: TextPart[], vocab: Vocabulary, opts: CorpusOptions = {}): { ids: IdArray; unknown: number } {
  const mode: TextMode = opts.binary ? 'bytes' : 'utf8';
  const scan = new SymbolPass(mode, { allowNul: true });
  runPass(scan, parts);
  const enc = new IdPass(mode, vocab, scan.count);
  runPass(enc, parts);
  return { ids: enc.ids, unknown: enc.unknown };
}

export interface Split {
  train: IdArray;
  val: IdArray;
  test: IdArray;
}

/** Contiguous split: the first (1 - val - test) of the text trains, then validation, then test. */
export function splitCorpus(ids: IdArray, valFrac: number, testFrac: number): Split {
  const { nTrain, nVal } = splitLengths(ids.length, valFrac, testFrac);
  return {
    train: ids.subarray(0, nTrain),
    val: ids.subarray(nTrain, nTrain + nVal),
    test: ids.subarray(nTrain + nVal),
  };
}

/** The lengths of splitCorpus's parts for a corpus of n ids (what a streamed torch run needs without the ids). */
export function splitLengths(n: number, valFrac: number, testFrac: number): { nTrain: number; nVal: number; nTest: number } {
  const nVal = Math.floor(n * valFrac);
  const nTest = Math.floor(n * testFrac);
  return { nTrain: n - nVal - nTest, nVal, nTest };
}

/** Batcher's windows per epoch over n training ids: B streams of ⌊(n − 1) / B⌋ (each needs the target of its last input), cut in windows of T. */
export function streamWindows(n: number, B: number, T: number): number {
  return Math.floor(Math.floor((n - 1) / B) / T);
}

/**
 * Where windows come from, for training and evaluation alike: `windows` per epoch, and `fill`
 * loads window w (of `epoch`, for a source that deals each epoch anew) into a workspace: its
 * ids, uploaded, and a zero state for the rows that start an item there (src/lines.ts).
 * Batcher, EvalBatcher and LinesBatcher implement it, so a loop never asks which it holds.
 */
export interface WindowSource {
  readonly windows: number;
  fill(w: number, ws: Workspace, epoch?: number): void;
}

/**
 * B contiguous streams over `ids`, read in windows of T. Inputs and targets are written
 * time-major: position (t, b) is at index t * B + b, which is how the model lays out a window.
 */
export class Batcher implements WindowSource {
  /** Characters per stream. */
  readonly streamLength: number;
  readonly windows: number;

  constructor(readonly ids: IdArray, readonly B: number, readonly T: number) {
    // Each stream needs one extra character: the target of its last input.
    this.streamLength = Math.floor((ids.length - 1) / B);
    this.windows = streamWindows(ids.length, B, T);
  }

  fill(w: number, ws: Workspace): void {
    this.fillIds(w, ws.inputs, ws.targets);
    ws.idsWritten();
  }

  /** Window w (0-based) of every stream, as ids. */
  fillIds(w: number, inputs: Int32Array, targets: Int32Array): void {
    const { B, T, ids, streamLength } = this;
    for (let b = 0; b < B; b++) {
      const start = b * streamLength + w * T;
      for (let t = 0; t < T; t++) {
        inputs[t * B + b] = ids[start + t];
        targets[t * B + b] = ids[start + t + 1];
      }
    }
  }
}

/**
 * For evaluation: like Batcher, but covers every character of the stream (the last window is
 * padded; padded positions get target -1, which the loss skips). Returns the number of windows.
 */
export class EvalBatcher implements WindowSource {
  readonly streamLength: number;
  readonly windows: number;
  readonly B: number;

  constructor(readonly ids: IdArray, maxB: number, readonly T: number) {
    const n = Math.max(0, ids.length - 1); // predictions to make
    this.B = Math.max(1, Math.min(maxB, Math.floor(n / T)));
    this.streamLength = Math.floor(n / this.B);
    this.windows = Math.ceil(this.streamLength / T);
  }

  fill(w: number, ws: Workspace): void {
    this.fillIds(w, ws.B, ws.inputs, ws.targets);
    ws.idsWritten();
  }

  /** Inputs/targets are laid out for `batch` ≥ B streams; streams ≥ B are all padding. */
  fillIds(w: number, batch: number, inputs: Int32Array, targets: Int32Array): number {
    const { B, T, ids, streamLength } = this;
    let counted = 0;
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < T; t++) {
        const pos = w * T + t;
        const k = t * batch + b;
        if (b < B && pos < streamLength) {
          const i = b * streamLength + pos;
          inputs[k] = ids[i];
          targets[k] = ids[i + 1];
          counted++;
        } else {
          inputs[k] = 0;
          targets[k] = -1;
        }
      }
    }
    return counted;
  }
}
