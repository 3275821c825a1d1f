/**
 * `charrnn sample CKPT`: stream generated text to stdout; or, with --count, --beam, --unique,
 * --novelty or --json (and always for a lines model), a list of samples made by the library's
 * generate() (src/generate.ts), one per line for a lines model. With --temperatures, one sample
 * per temperature (cli/sweep.ts).
 *
 * Every backend takes the same path. On a device (--backend webgpu) the characters are drawn
 * there and read back in chunks (Sampler.steps), so only a plain sample is offered: the options
 * that read the distribution or shape a list of samples on the host are one-line usage errors.
 */
import { encodeParts } from '../src/data.js';
import { checkGenerateRequest, formatSamples, generate, generateStream, type GenerateRequest } from '../src/generate.js';
import { splitFor } from '../src/lines.js';
import { NoveltyIndex, noveltySummary } from '../src/novelty.js';
import type { CheckpointData } from '../src/checkpoint.js';
import { createBackend } from '../src/backend/platform-node.js';
import { parseBackendFlags } from './backend.js';
import { loadCheckpointFile } from './checkpoint.js';
import { CliError, parseNumber, type Proc } from './io.js';
import { temperatureSweepCommand, trainingText } from './sweep.js';

type Opts = Record<string, string | boolean | string[] | undefined>;

/** Items a lines model prints without --count. */
const DEFAULT_LINES_COUNT = 10;

export async function sampleCommand(proc: Proc, ckpt: string, opts: Opts): Promise<number> {
  // numbers parsed here, ranges checked by the library (the same rules as the page's and the server's)
  const num = (flag: string, v: unknown): number => parseNumber(flag, String(v));
  const length = num('--length', opts.length);
  const seed = opts.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : num('--seed', opts.seed);
  const stop = (Array.isArray(opts.stop) ? opts.stop : typeof opts.stop === 'string' ? [opts.stop] : []).map(unescape);
  const req: GenerateRequest = {
    length, seed, stop,
    temperature: num('--temperature', opts.temperature),
    topK: num('--top-k', opts.topK),
    topP: num('--top-p', opts.topP),
    count: opts.count === undefined ? undefined : num('--count', opts.count),
    beam: opts.beam === undefined ? undefined : num('--beam', opts.beam),
    unique: Boolean(opts.unique),
    prime: typeof opts.prime === 'string' ? opts.prime : '',
    skipUnknown: Boolean(opts.skipUnknown),
  };
  checkGenerateRequest(req);
  const engine = parseBackendFlags(opts, undefined, 'sampling');
  const data = Array.isArray(opts.data) ? opts.data : typeof opts.data === 'string' ? [opts.data] : undefined;

  const backend = await createBackend({ kind: engine.backend, threads: engine.threads, sampling: true });
  try {
    if (!backend.hostMemory) refuseOnDevice(backend.choice.kind, opts, req);
    if (typeof opts.temperatures === 'string') return await temperatureSweepCommand(proc, ckpt, { ...opts, temperatures: opts.temperatures }, { length, seed, backend });
    const { data: ck, model } = await loadCheckpointFile(ckpt, backend);
    const lines = ck.model.lines ?? false;
    if (lines && !backend.hostMemory) throw new CliError('a lines model samples items on the CPU: use --backend auto', 2);
    const many = lines || req.count !== undefined || (req.beam ?? 0) >= 2 || req.unique || opts.novelty || opts.json;
    if (!many) return await streamOne(proc, model, ck, req);
    if (lines && req.count === undefined) req.count = (req.beam ?? 0) >= 2 ? req.beam : DEFAULT_LINES_COUNT;
    const index = opts.novelty ? await noveltyIndex(proc, ckpt, data, ck) : null;
    const { samples, skipped } = await generate(model, ck.vocab, req);
    warnSkipped(proc, skipped);
    const prime = knownPrime(req.prime!, ck);
    // an item is the prime and what followed it; free text is judged on what the model generated
    const novelty = index?.measure(samples.map((g) => (lines ? prime + g.text : g.text))) ?? null;
    if (req.unique && samples.length < (req.count ?? 1)) proc.stderr.write(`charrnn: note: found ${samples.length} distinct sample(s) of the ${req.count} asked for\n`);
    if (opts.json) {
      proc.stdout.write(JSON.stringify({
        prime, lines, skipped,
        samples: samples.map((g, i) => ({ text: g.text, log_prob: g.logProb, stopped: g.stopped, ...(novelty ? { novelty: novelty.marks[i] } : {}) })),
        ...(novelty ? { novelty: { shares: { train: novelty.shares.train, held_out: novelty.shares['held-out'], new: novelty.shares.new }, ngrams: novelty.ngrams } } : {}),
      }) + '\n');
      return 0;
    }
    proc.stdout.write(formatSamples(samples, { prime, lines, beam: (req.beam ?? 0) >= 2, marks: novelty?.marks }));
    if (novelty) proc.stdout.write(noveltySummary(novelty, lines));
    return 0;
  } finally {
    backend.dispose?.();
  }
}

/**
 * On a device (webgpu) a sample is drawn there and read back in chunks: what needs the
 * distribution on the host (top-k, top-p, beams), stops, several samples, and what is measured
 * on a list of them (novelty, the JSON report, temperature sweeps) is refused in one line.
 */
function refuseOnDevice(kind: string, opts: Opts, req: GenerateRequest): void {
  const hostOnly = [
    ['--top-k', (req.topK ?? 0) > 0], ['--top-p', (req.topP ?? 1) < 1], ['--count', req.count !== undefined], ['--beam', req.beam !== undefined],
    ['--unique', req.unique], ['--stop', (req.stop ?? []).length > 0], ['--novelty', Boolean(opts.novelty)], ['--json', Boolean(opts.json)],
    ['--temperatures', typeof opts.temperatures === 'string'],
  ].filter(([, on]) => on).map(([flag]) => flag);
  if (hostOnly.length > 0) throw new CliError(`${hostOnly.join(', ')}: not on --backend ${kind}, which draws one plain sample; use --backend auto`, 2);
}

/** --stop '\n' is a newline (a shell cannot easily pass one): \n, \t and \\ are unescaped. */
function unescape(s: string): string {
  return s.replace(/\\([nt\\])/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}

function warnSkipped(proc: Proc, skipped: string[]): void {
  if (skipped.length > 0) proc.stderr.write(`charrnn: warning: skipped ${skipped.length} prime character(s) not in the vocabulary\n`);
}

/** The prime as the model saw it (with --skip-unknown, without the characters it does not know). */
function knownPrime(prime: string, ck: CheckpointData): string {
  return [...prime].filter((ch) => ck.vocab.has(ch.codePointAt(0)!)).join('');
}

/** The run's split of its training text, indexed (the text from --data or run.json beside the checkpoint). */
async function noveltyIndex(proc: Proc, ckpt: string, data: string[] | undefined, ck: CheckpointData): Promise<NoveltyIndex> {
  const text = await trainingText(ckpt, data);
  if (!text) throw new CliError(`--novelty needs the training text: no run.json beside ${ckpt}; give it with --data`, 2);
  const { ids, unknown } = encodeParts(text.parts, ck.vocab);
  if (unknown > 0) proc.stderr.write(`charrnn: warning: ${unknown} character(s) of ${text.from} are not in the model's vocabulary: is it the run's training text?\n`);
  return new NoveltyIndex(ck.vocab, splitFor(ids, ck.vocab, ck.config), ck.model.lines ?? false);
}

/** The plain case: one sample streamed as it is made, after its prime. */
async function streamOne(proc: Proc, model: Parameters<typeof generateStream>[0], ck: CheckpointData, req: GenerateRequest): Promise<number> {
  const it = generateStream(model, ck.vocab, req);
  // the prime as the model saw it: generateStream has checked it (and skipped what --skip-unknown drops)
  let buf = '';
  let r = await it.next(); // checks the request before anything is printed
  warnSkipped(proc, [...new Set([...req.prime!].filter((ch) => !ck.vocab.has(ch.codePointAt(0)!)))]);
  proc.stdout.write(knownPrime(req.prime!, ck));
  // stream in small chunks: visible as it generates, without a write per character
  let lastFlush = performance.now();
  while (!r.done) {
    buf += r.value;
    if (buf.length >= 64 || performance.now() - lastFlush > 50) {
      proc.stdout.write(buf);
      buf = '';
      lastFlush = performance.now();
    }
    r = await it.next();
  }
  proc.stdout.write(buf + '\n');
  return 0;
}
