/**
 * One generation request, as the CLI's `sample`, the server, the writing assistant and the page
 * all make it: a prime, a length, the sampling knobs, stop sequences, how many samples, whether
 * repeats count, and sampling or beam search (src/beam.ts).
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
import type { CharRNN } from './model/model.js';
import { Rng } from './rng.js';
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
  /** Samples to return (default 1); with beam search at most `beam`. */
  count?: number;
  /** Drop repeated samples (up to MAX_ATTEMPTS_PER_SAMPLE tries per sample asked for). */
  unique?: boolean;
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

/** What every sample of a request shares: the prime's ids (after a newline for items) and the stop rules. */
export interface Plan {
  /** Fed before generating: the prime, preceded by a newline for lines models. */
  prime: string;
  skipped: string[];
  stops: string[];
  lines: boolean;
}

/** Check the request against the model: the prime's characters, and a newline for a lines model. */
export function planRequest(sampler: Sampler, vocab: Vocabulary, req: GenerateRequest): Plan {
  checkGenerateRequest(req);
  const lines = req.lines ?? sampler.model.config.lines ?? false;
  if (lines && vocab.id(10) < 0) throw new CharRnnError('bad-flag', "--lines needs a newline in the model's vocabulary; this model was not trained on lines");
  const { ids, skipped } = sampler.primeIds(req.prime ?? '', req.skipUnknown ?? false);
  const prime = (lines ? '\n' : '') + vocab.decode(ids);
  return { prime, skipped, stops: req.stop ?? [], lines };
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

/** The sampler's options for one sample of a request: the plan's prime, drawn from `rng`. */
function sampleOptions(req: GenerateRequest, plan: Plan, rng: Rng): SampleOptions {
  return { length: req.length, temperature: req.temperature, topK: req.topK, topP: req.topP, prime: plan.prime, rng };
}

/** One sample (the sampler is reset and primed; `rng` advances one draw per character drawn). */
async function oneSample(sampler: Sampler, req: GenerateRequest, plan: Plan, rng: Rng, signal?: { aborted: boolean }): Promise<Generated> {
  const draft = new Draft(plan, sampler.vocab);
  for await (const s of sampler.steps(sampleOptions(req, plan, rng))) {
    if (signal?.aborted || draft.take(s) !== 'more') break;
  }
  return draft.result;
}

/**
 * Generate `count` samples (or beam search's best distinct ones). `skipped`: prime characters
 * dropped with skipUnknown. With `signal.aborted` set, stops soon and returns what is done.
 * Works on every backend, except beam search and top-k / top-p, which read the distribution
 * on the host: on a device model they throw a one-line CharRnnError naming `model.toHost()`.
 */
export async function generate(model: CharRNN, vocab: Vocabulary, req: GenerateRequest, signal?: { aborted: boolean }): Promise<{ samples: Generated[]; skipped: string[] }> {
  const sampler = new Sampler(model, vocab);
  try {
    return await generateWith(sampler, req, signal);
  } finally {
    sampler.dispose(); // its workspace's memory goes back to the backend
  }
}

/** generate() on a sampler the caller keeps (a server's worker reuses one per model: no workspace per request). */
export async function generateWith(sampler: Sampler, req: GenerateRequest, signal?: { aborted: boolean }): Promise<{ samples: Generated[]; skipped: string[] }> {
  const plan = planRequest(sampler, sampler.vocab, req);
  const count = req.count ?? 1;
  if ((req.beam ?? 0) >= 2) {
    const found = beamSearch(sampler, { width: req.beam!, length: req.length, prime: plan.prime, stops: plan.stops, lines: plan.lines, signal });
    return { samples: found.slice(0, count), skipped: plan.skipped };
  }
  return { samples: await drawSamples(sampler, req, plan, new Rng(req.seed ?? 0), signal), skipped: plan.skipped };
}

/** `count` samples (distinct with `unique`) drawn from `rng` (the trainer passes its own generator). */
export async function drawSamples(sampler: Sampler, req: GenerateRequest, plan: Plan, rng: Rng, signal?: { aborted: boolean }): Promise<Generated[]> {
  const count = req.count ?? 1;
  const samples: Generated[] = [];
  const seen = new Set<string>();
  const attempts = req.unique ? count * MAX_ATTEMPTS_PER_SAMPLE : count;
  for (let a = 0; a < attempts && samples.length < count && !signal?.aborted; a++) {
    const g = await oneSample(sampler, req, plan, rng, signal);
    if (req.unique) {
      if (seen.has(g.text)) continue;
      seen.add(g.text);
    }
    samples.push(g);
  }
  return samples;
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

/**
 * One sample as a stream of characters, each yielded as it is drawn (for a server's event stream
 * or a terminal); returns the whole sample, equal to generate()'s for the same request. count
 * must be 1 and beam ≤ 1.
 */
export async function* generateStream(model: CharRNN, vocab: Vocabulary, req: GenerateRequest, signal?: { aborted: boolean }): AsyncGenerator<string, Generated, undefined> {
  const sampler = new Sampler(model, vocab);
  try {
    const plan = planRequest(sampler, vocab, req);
    if ((req.count ?? 1) !== 1 || (req.beam ?? 0) >= 2) throw new CharRnnError('bad-flag', 'a streamed sample is one sample drawn character by character: use --count 1 and no --beam');
    const draft = new Draft(plan, vocab);
    for await (const s of sampler.steps(sampleOptions(req, plan, new Rng(req.seed ?? 0)))) {
      if (signal?.aborted) break;
      const taken = draft.take(s);
      if (taken !== 'end') yield s.char;
      if (taken !== 'more') break;
    }
    return draft.result;
  } finally {
    sampler.dispose(); // also when the consumer stops early (return() runs this)
  }
}
