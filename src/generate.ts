/**
 * One generation request, as the CLI's `sample`, the server and the page all make it: a prime,
 * a length, the sampling knobs, stop sequences, how many samples, whether repeats count, and
 * sampling or beam search (src/beam.ts). generate() is the one function that answers it,
 * streamed (onChar) or not, and the rules every surface shares are applied there once: the
 * request's checks, the prime as the model reads it and the characters it skipped, a lines
 * model's default of LINES_COUNT items, and a random seed when none is given (returned, so the
 * draw can be repeated). Each surface's defaults are GENERATION_DEFAULTS (generate-options.ts).
 *
 *   a sample ends after `length` characters, or right after the first stop sequence it produces
 *   (the sequence is part of its text), or, for a lines model, at its newline (the item's stop
 *   symbol; the newline is not part of the item's text).
 *   logProb = Σ_t ln p(c_t | c_<t) under the model at temperature 1, over the generated characters.
 *
 * A lines model (trained with --lines) makes items: each sample starts from the zero state fed a
 * newline, as every training item did, then the prime. `count` samples share one generator
 * seeded with `seed`, so a seed gives the same list every time.
 *
 * Every backend, one path: the samples come from Sampler.steps (async; on a device drawn there
 * and read back in chunks), and the text, the stops and the log-probability are kept here on
 * the host from the characters it yields. Beam search and top-k / top-p read the distribution
 * itself, so on a device model they throw a one-line error naming `model.toHost()`.
 */
import { beamSearch } from './beam.js';
import { CharRnnError } from './errors.js';
import { LINES_COUNT } from './generate-options.js';
import type { CharRNN } from './model/model.js';
import { randomSeed, Rng } from './rng.js';
import { checkSampleOptions, Sampler, stopAt, type SampledChar, type SampleOptions } from './sample.js';
import type { Vocabulary } from './vocab.js';

export interface GenerateRequest {
  prime?: string;
  /** Most characters per sample (the prime is not counted). */
  length: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** 0 or 1 = sampling (default); K ≥ 2 = beam search of width K (temperature, top-k, top-p unused). */
  beam?: number;
  /** A sample ends right after the first of these it produces. */
  stop?: string[];
  /** Samples to return (default 1; a lines model: LINES_COUNT items, or the beam's width); with beam search at most `beam`. */
  count?: number;
  /** Drop repeated samples (up to MAX_ATTEMPTS_PER_SAMPLE tries per sample asked for). */
  unique?: boolean;
  /** 0 to 2³² − 1; the same seed gives the same samples. Default: a random one (GenerateStart.seed says which). */
  seed?: number;
  /** Drop prime characters that are not in the vocabulary (default false: fail naming them). */
  skipUnknown?: boolean;
  /** Items from the start state, ending at the newline; default: the model's config (trained with --lines). */
  lines?: boolean;
}

export interface Generated {
  text: string;
  /** Σ ln p under the model at τ = 1 over the generated characters. */
  logProb: number;
  /** Which stop sequence ended it, '\n' for a lines item, or null if the length ran out. */
  stopped: string | null;
}

/** Most samples one request may ask for. */
export const MAX_COUNT = 10000;
/** Widest beam. */
export const MAX_BEAM = 256;
/** --unique: draws allowed per sample asked for before giving up with fewer. */
export const MAX_ATTEMPTS_PER_SAMPLE = 20;

/** Check a request; throws a one-line CharRnnError ('bad-flag') naming the CLI flag. */
export function checkGenerateRequest(req: GenerateRequest): void {
  const bad = (msg: string): never => {
    throw new CharRnnError('bad-flag', msg);
  };
  if (typeof req !== 'object' || req === null) bad('a generation request must be an object');
  if (req.prime !== undefined && typeof req.prime !== 'string') bad('--prime must be text');
  checkSampleOptions(req as SampleOptions);
  const { beam = 0, count = 1, stop = [] } = req;
  if (!Number.isInteger(beam) || beam < 0 || beam > MAX_BEAM) bad(`--beam must be a whole number from 0 to ${MAX_BEAM} (got ${beam}); 0 or 1 means sampling`);
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) bad(`--count must be a whole number from 1 to ${MAX_COUNT} (got ${count})`);
  if (beam >= 2 && count > beam) bad(`--count ${count} is more than --beam ${beam}: beam search returns at most its width of distinct items`);
  if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string' || s.length === 0)) bad('--stop must be non-empty text (repeat --stop for several)');
  if (stop.length > 64) bad(`at most 64 --stop sequences (got ${stop.length})`);
  if (req.unique !== undefined && typeof req.unique !== 'boolean') bad('--unique is a switch: true or false');
  if (req.skipUnknown !== undefined && typeof req.skipUnknown !== 'boolean') bad('--skip-unknown is a switch: true or false');
  if (req.lines !== undefined && typeof req.lines !== 'boolean') bad('--lines is a switch: true or false');
}

/** What a request starts from, known before its first character (GenerateOptions.onStart). */
export interface GenerateStart {
  /** The prime as the model read it: the characters its vocabulary has (a lines item's start newline not included). */
  prime: string;
  /** Prime characters not in the vocabulary, each once, in order (dropped with skipUnknown). */
  skipped: string[];
  /** The seed of the draws: the request's, or a random one made for it; null when drawn from GenerateOptions.rng. */
  seed: number | null;
  /** Items of a lines model: from the start state, ending at the newline. */
  lines: boolean;
  /** Samples asked for: the request's count, else LINES_COUNT items for a lines model (beam search: its width), else 1. */
  count: number;
}

export interface GenerateResult extends GenerateStart {
  /** At most `count` (fewer with unique, beam search, or when stopped by the signal). */
  samples: Generated[];
}

export interface GenerateOptions {
  /** Set `aborted` to stop soon: generate() returns what is done. */
  signal?: { aborted: boolean };
  /** Called once, after the request is checked and before the first character is drawn. */
  onStart?: (start: GenerateStart) => void;
  /**
   * Stream: called with each character of the text as it is drawn, and the index of the sample
   * it belongs to. Sampling only (no beam search), and unique only with count 1, since a
   * repeat dropped afterwards would have been streamed. generate() lets the event loop run every
   * STREAM_YIELD characters, so a page repaints and a server answers while it streams.
   */
  onChar?: (char: string, sample: number) => void;
  /** Draw from this generator instead of one seeded with the request's seed (the trainer's own, carried from sample to sample). */
  rng?: Rng;
}

/** Characters streamed between turns of the event loop. */
const STREAM_YIELD = 256;

/** How many samples a request makes (see GenerateStart.count); `lines`: whether they are items. */
export function countFor(req: GenerateRequest, lines: boolean): number {
  const beam = req.beam ?? 0;
  return req.count ?? (lines ? (beam >= 2 ? beam : LINES_COUNT) : 1);
}

/**
 * Generate what `req` asks for, on `on`: a Sampler the caller keeps (a server's worker reuses
 * one per model: no workspace per request), or a model and its vocabulary (a sampler made and
 * disposed here). The request is checked first (one line naming the flag). Works on every
 * backend, except beam search and top-k / top-p, which read the distribution on the host: on a
 * device model they throw a one-line CharRnnError naming `model.toHost()`.
 */
export async function generate(on: Sampler | { model: CharRNN; vocab: Vocabulary }, req: GenerateRequest, opts: GenerateOptions = {}): Promise<GenerateResult> {
  checkGenerateRequest(req);
  if (on instanceof Sampler) return await run(on, req, opts);
  const sampler = new Sampler(on.model, on.vocab);
  try {
    return await run(sampler, req, opts);
  } finally {
    sampler.dispose(); // its workspace's memory goes back to the backend, also when stopped early
  }
}

async function run(sampler: Sampler, req: GenerateRequest, opts: GenerateOptions): Promise<GenerateResult> {
  const { vocab } = sampler;
  const lines = req.lines ?? sampler.model.config.lines ?? false;
  if (lines && vocab.id(10) < 0) throw new CharRnnError('bad-flag', "--lines needs a newline in the model's vocabulary; this model was not trained on lines");
  const beam = (req.beam ?? 0) >= 2;
  const count = countFor(req, lines);
  if (opts.onChar && (beam || (req.unique && count > 1))) {
    throw new CharRnnError('bad-flag', 'a stream gives samples as they are drawn: no --beam, and --unique only with --count 1');
  }
  const { ids, skipped } = sampler.primeIds(req.prime ?? '', req.skipUnknown ?? false);
  const start: GenerateStart = { prime: vocab.decode(ids), skipped, seed: opts.rng ? null : (req.seed ?? randomSeed()), lines, count };
  opts.onStart?.(start);
  const plan: Plan = { prime: (lines ? '\n' : '') + start.prime, stops: req.stop ?? [], lines };
  if (beam) {
    const found = beamSearch(sampler, { width: req.beam!, length: req.length, prime: plan.prime, stops: plan.stops, lines, seed: start.seed ?? 0, signal: opts.signal });
    return { ...start, samples: found.slice(0, count) };
  }
  const rng = opts.rng ?? new Rng(start.seed!);
  const samples: Generated[] = [];
  const seen = new Set<string>();
  const attempts = req.unique ? count * MAX_ATTEMPTS_PER_SAMPLE : count;
  const streamed = { chars: 0 };
  for (let a = 0; a < attempts && samples.length < count && !opts.signal?.aborted; a++) {
    const g = await oneSample(sampler, req, plan, rng, opts, samples.length, streamed);
    if (req.unique) {
      if (seen.has(g.text)) continue;
      seen.add(g.text);
    }
    samples.push(g);
  }
  return { ...start, samples };
}

/** What every sample of a request shares: what is fed before generating, and how a sample ends. */
interface Plan {
  /** The prime as read, after a newline for a lines model's items. */
  prime: string;
  stops: string[];
  lines: boolean;
}

/** One sample being drawn: its text and log-probability so far, and how it ended. */
class Draft {
  text = '';
  logProb = 0;
  stopped: string | null = null;
  private readonly nl: number;

  constructor(private readonly plan: Plan, vocab: Vocabulary) {
    this.nl = vocab.id(10);
  }

  /**
   * Take the next drawn character: 'more' when it joined the text and the sample goes on,
   * 'last' when it joined the text and ended it (a stop sequence), 'end' when it ended the
   * sample without joining it (a lines item's newline).
   */
  take(s: SampledChar): 'more' | 'last' | 'end' {
    this.logProb += s.logProb;
    if (this.plan.lines && s.id === this.nl) {
      this.stopped = '\n';
      return 'end';
    }
    this.text += s.char;
    this.stopped = stopAt(this.text, this.plan.stops);
    return this.stopped === null ? 'more' : 'last';
  }

  get result(): Generated {
    return { text: this.text, logProb: this.logProb, stopped: this.stopped };
  }
}

/**
 * One sample, sample number `index` of the list: Sampler.steps after the plan's prime (the
 * sampler is reset and primed; `rng` advances one draw per character drawn), each character
 * streamed to onChar if given.
 */
async function oneSample(sampler: Sampler, req: GenerateRequest, plan: Plan, rng: Rng, opts: GenerateOptions, index: number, streamed: { chars: number }): Promise<Generated> {
  const draft = new Draft(plan, sampler.vocab);
  const { onChar, signal } = opts;
  for await (const s of sampler.steps({ length: req.length, temperature: req.temperature, topK: req.topK, topP: req.topP, prime: plan.prime, rng })) {
    if (signal?.aborted) break;
    const taken = draft.take(s);
    if (onChar) {
      if (taken !== 'end') onChar(s.char, index);
      // on host memory every await of steps() is of a settled promise: let timers, I/O and painting run
      if (++streamed.chars % STREAM_YIELD === 0) await nextTurn();
    }
    if (taken !== 'more') break;
  }
  return draft.result;
}

/** A turn of the event loop: setImmediate where there is one (Node; no 1 ms timer floor), else a timer. */
function nextTurn(): Promise<void> {
  return new Promise((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)));
}

/**
 * Samples as text, as `charrnn sample` prints them and the page shows them: a lines model's
 * items one per line (tab, then the log-probability with beam search and the novelty mark when
 * given); free text as blocks after the prime, headed "--- sample k ---" when there are several.
 */
export function formatSamples(samples: Generated[], opts: { prime: string; lines: boolean; beam: boolean; marks?: string[] | null }): string {
  return samples.map((g, i) => {
    const mark = opts.marks?.[i];
    const extra = [opts.beam ? `ln p ${g.logProb.toFixed(3)}` : '', mark ? `[${mark}]` : ''].filter(Boolean);
    if (opts.lines) return [opts.prime + g.text, ...extra].join('\t') + '\n';
    const head = samples.length > 1 || extra.length > 0 ? `--- sample ${i + 1}${extra.length ? ': ' + extra.join(' ') : ''} ---\n` : '';
    return `${head}${opts.prime}${g.text}\n`;
  }).join('');
}
