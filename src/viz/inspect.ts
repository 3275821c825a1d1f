/**
 * Looking inside a model, as plain data (no I/O): what the inspect page, the run report and the
 * browser playground draw.
 *
 * Reading a text. The model reads it from the zero state one character at a time (batch 1,
 * windows of T, state carried from window to window: the same numbers as feeding a Sampler
 * character by character). After reading characters x_0..x_t it holds
 *   h^l_t for every layer l; for an LSTM also c^l_t and the gates i, f, g, o; for a GRU r, z, n
 *   p(· | x_0..x_t) = softmax(z_t)               → the top-k guesses for x_{t+1}
 *   loss_{t+1} = -ln p(x_{t+1} | x_0..x_t)       (nats; the first character has none)
 *
 * Neuron search. With a_t one unit's activation at character t and m_t = 1 when character t is
 * inside a match of a regular expression (else 0), the Pearson correlation
 *   r = Σ (a_t - ā)(m_t - m̄) / √(Σ (a_t - ā)² · Σ (m_t - m̄)²)
 * ranks units by |r|: the quote cell of Karpathy's post is the unit with the largest |r| for "[^"]*".
 *
 * Temperature sweep. For each temperature τ a sample is drawn from softmax(z / τ); its average
 * log-probability is under the model itself (τ = 1), mean over the sample of ln p(x_t | x_<t),
 * and its words are looked up in the training corpus (the share found there is the opposite of
 * novelty, as torch-rnn's novel-substring check).
 */
import { CharRnnError } from '../errors.js';
import type { FloatArray } from '../backend/types.js';
import { requireHost, Workspace, type CharRNN } from '../model/model.js';
import { randomSeed } from '../rng.js';
import { logSumExp, Sampler } from '../sample.js';
import type { Vocabulary } from '../vocab.js';

/** What a track holds: the hidden state, the LSTM cell state, or one gate. */
export type TrackKind = 'h' | 'c' | 'i' | 'f' | 'g' | 'o' | 'r' | 'z' | 'n';

/** Gate names in the order they sit in the layer's gate buffer (PyTorch's order). */
const GATE_NAMES: Record<string, TrackKind[]> = { rnn: [], lstm: ['i', 'f', 'g', 'o'], gru: ['r', 'z', 'n'] };

/** Kinds whose values lie in (0, 1) (sigmoid gates); the others lie in (-1, 1) or beyond (c). */
export const SIGMOID_KINDS: ReadonlySet<TrackKind> = new Set<TrackKind>(['i', 'f', 'o', 'r', 'z']);

export const KIND_LABEL: Record<TrackKind, string> = {
  h: 'hidden state', c: 'cell state', i: 'input gate', f: 'forget gate', g: 'cell candidate', o: 'output gate',
  r: 'reset gate', z: 'update gate', n: 'new state candidate',
};

/** One layer's values of one kind over the text. */
export interface Track {
  layer: number;
  kind: TrackKind;
  units: number;
  /** (N, units) row-major: values[t·units + j] is unit j after reading character t. */
  values: Float32Array;
}

export interface Guess {
  char: string;
  p: number;
}

export interface TextReading {
  /** The text's N characters (code points). */
  chars: string[];
  tracks: Track[];
  /** top[t]: the k likeliest next characters after reading characters 0..t, likeliest first. */
  top: Guess[][];
  /** loss[t] = -ln p(x_t | x_<t) in nats; null for t = 0 (nothing predicts the first character). */
  loss: (number | null)[];
  /** Mean of loss over t ≥ 1, in bits per character (NaN for a one-character text). */
  bitsPerChar: number;
}

export interface ReadOptions {
  /** Guesses kept per character (default 5). */
  topK?: number;
  /** Window length T (default 64): memory is per window, so long texts cost no more. */
  window?: number;
}

/** Log-softmax of one row of logits, in float64. */
function logSoftmax(z: ArrayLike<number>, out: Float64Array): void {
  const logZ = logSumExp(z, out.length);
  for (let i = 0; i < out.length; i++) out[i] = z[i] - logZ;
}

/** Indices of the k largest entries, largest first (ties by lower index). */
function topIndices(a: Float64Array, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < a.length; i++) {
    // a sorted list of at most k: V is small (tens to a few hundred)
    if (idx.length < k) idx.push(i);
    else if (a[i] > a[idx[k - 1]]) idx[k - 1] = i;
    else continue;
    for (let j = idx.length - 1; j > 0 && a[idx[j - 1]] < a[idx[j]]; j--) [idx[j - 1], idx[j]] = [idx[j], idx[j - 1]];
  }
  return idx;
}

/**
 * Read `text` with the model and record everything the views need (see the file header). Host
 * memory only: on a device model it throws a one-line error naming `model.toHost()`.
 */
export function readText(model: CharRNN, vocab: Vocabulary, text: string, opts: ReadOptions = {}): TextReading {
  requireHost(model, 'readText');
  const chars = [...text];
  const ids = vocab.encode(text);
  const N = ids.length;
  if (N === 0) throw new CharRnnError('too-short', 'the text to inspect is empty');
  const c = model.config;
  const H = c.hidden;
  const V = vocab.size;
  const k = Math.max(1, Math.min(opts.topK ?? 5, V));
  const T = Math.max(1, Math.min(opts.window ?? 64, N));
  const gates = GATE_NAMES[c.type];

  const tracks: Track[] = [];
  for (let l = 0; l < c.layers; l++) {
    const kinds: TrackKind[] = ['h', ...(c.type === 'lstm' ? (['c'] as TrackKind[]) : []), ...gates];
    for (const kind of kinds) tracks.push({ layer: l, kind, units: H, values: new Float32Array(N * H) });
  }
  const top: Guess[][] = [];
  const loss: (number | null)[] = [null];
  const logp = new Float64Array(V);

  const ws = new Workspace(model, 1, T, { training: false });
  try {
    ws.resetState();
    ws.targets.fill(-1); // losses are computed here from the logits, over the real characters only
    for (let s = 0; s < N; s += T) {
      const n = Math.min(T, N - s);
      // past the end of the text the last window is padded; the model is causal, so the padding
      // changes nothing before it
      for (let t = 0; t < T; t++) ws.inputs[t] = t < n ? ids[s + t] : 0;
      model.forward(ws);
      for (const tr of tracks) {
        const L = ws.layers[tr.layer];
        for (let t = 0; t < n; t++) {
          const row = (s + t) * H;
          let src: FloatArray;
          if (tr.kind === 'h') src = L.hAt[t + 1];
          else if (tr.kind === 'c') src = L.cAt[t + 1];
          else {
            const g = gates.indexOf(tr.kind);
            // LSTM: gate activations are left in pre by forward; GRU: in act (both (B, G·H), B = 1)
            src = (c.type === 'lstm' ? L.preAt[t] : L.actAt[t]).subarray(g * H, (g + 1) * H);
          }
          for (let j = 0; j < H; j++) tr.values[row + j] = src[j];
        }
      }
      for (let t = 0; t < n; t++) {
        logSoftmax(ws.logits.subarray(t * V, (t + 1) * V), logp);
        top.push(topIndices(logp, k).map((i) => ({ char: vocab.char(i), p: Math.exp(logp[i]) })));
        if (s + t + 1 < N) loss.push(-logp[ids[s + t + 1]]);
      }
      ws.carryState();
    }
  } finally {
    ws.dispose();
  }
  let sum = 0;
  for (let t = 1; t < N; t++) sum += loss[t]!;
  return { chars, tracks, top, loss, bitsPerChar: N > 1 ? sum / (N - 1) / Math.LN2 : NaN };
}

/**
 * m_t for each character: 1 inside a match of `re`, else 0. Matches are found on the whole
 * text (so they may span lines) and mapped from UTF-16 offsets to character indices.
 */
export function matchMask(chars: string[], re: RegExp): Uint8Array {
  const text = chars.join('');
  const charAt = new Int32Array(text.length + 1); // UTF-16 offset → character index
  let off = 0;
  chars.forEach((ch, i) => {
    for (let u = 0; u < ch.length; u++) charAt[off + u] = i;
    off += ch.length;
  });
  charAt[text.length] = chars.length;
  const mask = new Uint8Array(chars.length);
  const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g');
  for (const m of text.matchAll(g)) {
    const from = charAt[m.index!];
    const to = charAt[m.index! + m[0].length];
    mask.fill(1, from, to);
  }
  return mask;
}

export interface UnitScore {
  layer: number;
  kind: TrackKind;
  unit: number;
  /** Pearson correlation with the match mask, in [-1, 1]. */
  r: number;
}

/** Pearson correlation of column j of values (N, H) with mask (N); 0 for a constant unit. */
function pearson(values: Float32Array, H: number, j: number, mask: Uint8Array, mMean: number, mSs: number): number {
  const N = mask.length;
  let mean = 0;
  for (let t = 0; t < N; t++) mean += values[t * H + j];
  mean /= N;
  let cov = 0;
  let ss = 0;
  for (let t = 0; t < N; t++) {
    const d = values[t * H + j] - mean;
    cov += d * (mask[t] - mMean);
    ss += d * d;
  }
  return ss > 0 ? cov / Math.sqrt(ss * mSs) : 0;
}

/**
 * Units ranked by |r| with "inside a match of `re`" (see the header), strongest first.
 * `kinds` limits the search (default: every track).
 */
export function findUnits(reading: TextReading, re: RegExp, opts: { kinds?: TrackKind[]; limit?: number } = {}): UnitScore[] {
  const mask = matchMask(reading.chars, re);
  const N = mask.length;
  let inside = 0;
  for (const m of mask) inside += m;
  if (inside === 0) throw new CharRnnError('no-match', `/${re.source}/ matches nothing in the text`);
  if (inside === N) throw new CharRnnError('no-match', `/${re.source}/ covers the whole text; nothing to contrast it with`);
  const mMean = inside / N;
  const mSs = inside * (1 - mMean) * (1 - mMean) + (N - inside) * mMean * mMean;
  const out: UnitScore[] = [];
  for (const tr of reading.tracks) {
    if (opts.kinds && !opts.kinds.includes(tr.kind)) continue;
    for (let j = 0; j < tr.units; j++) out.push({ layer: tr.layer, kind: tr.kind, unit: j, r: pearson(tr.values, tr.units, j, mask, mMean, mSs) });
  }
  out.sort((a, b) => Math.abs(b.r) - Math.abs(a.r));
  return opts.limit ? out.slice(0, opts.limit) : out;
}

/** The words of a text (letters and digits, inner apostrophes kept), lower-cased. */
export function wordsOf(text: string): string[] {
  return (text.match(/[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu) ?? []).map((w) => w.toLowerCase());
}

export interface SweepRow {
  temperature: number;
  text: string;
  /** Mean over the sample of ln p(x_t | x_<t) under the model (τ = 1), in nats. */
  avgLogProb: number;
  /** Share of the sample's words that occur in the corpus, or null without a corpus (or words). */
  inCorpus: number | null;
  words: number;
}

export interface SweepOptions {
  length: number;
  /** One seed for every temperature; default: a random one (as generate() makes). */
  seed?: number;
  prime?: string;
  /** The training corpus's words (wordsOf), for the novelty measure. */
  corpusWords?: ReadonlySet<string>;
}

/**
 * One sample per temperature, each drawn with the same seed (see the header): Sampler.steps at
 * each temperature, so it runs on every backend (on a device the log-probabilities are its
 * float32 ones).
 */
export async function temperatureSweep(model: CharRNN, vocab: Vocabulary, temperatures: number[], opts: SweepOptions): Promise<SweepRow[]> {
  const sampler = new Sampler(model, vocab);
  try {
    return await sweep(sampler, temperatures, opts);
  } finally {
    sampler.dispose();
  }
}

async function sweep(sampler: Sampler, temperatures: number[], opts: SweepOptions): Promise<SweepRow[]> {
  const rows: SweepRow[] = [];
  const seed = opts.seed ?? randomSeed();
  for (const temperature of temperatures) {
    let text = '';
    let total = 0;
    for await (const s of sampler.steps({ length: opts.length, temperature, seed, prime: opts.prime })) {
      text += s.char;
      total += s.logProb;
    }
    const words = wordsOf(text);
    const known = opts.corpusWords ? words.filter((w) => opts.corpusWords!.has(w)).length : 0;
    rows.push({
      temperature,
      text,
      avgLogProb: opts.length > 0 ? total / opts.length : NaN,
      inCorpus: opts.corpusWords && words.length > 0 ? known / words.length : null,
      words: words.length,
    });
  }
  return rows;
}
