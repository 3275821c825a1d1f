/**
 * `charrnn sample CKPT`: stream generated text to stdout (the library's generate(), streamed); or, with --count, --beam, --unique,
 * --novelty or --json (and always for a lines model), a list of samples made by the library's
 * generate() (src/generate.ts), one per line for a lines model. With --temperatures, one sample
 * per temperature (cli/sweep.ts).
 *
 * Every backend takes the same path. On a device (--backend webgpu) the characters are drawn
 * there and read back in chunks (Sampler.steps), so only a plain sample is offered: the options
 * that read the distribution or shape a list of samples on the host are one-line usage errors.
 */
import { encodeParts } from '../src/data.js';
import { checkGenerateRequest, formatSamples, generate, type GenerateRequest } from '../src/generate.js';
import { parseStop } from '../src/generate-options.js';
import { splitFor } from '../src/lines.js';
import type { CharRNN } from '../src/model/model.js';
import { NoveltyIndex, noveltySummary } from '../src/novelty.js';
import type { CheckpointData } from '../src/checkpoint.js';
import type { Vocabulary } from '../src/vocab.js';
import { createBackend } from '../src/backend/platform-node.js';
import { parseBackendFlags } from './backend.js';
import { loadCheckpointFile } from './checkpoint.js';
import { CliError, parseNumber, type Proc } from './io.js';
import { temperatureSweepCommand, trainingText } from './sweep.js';

type Opts = Record<string, string | boolean | string[] | undefined>;

export async function sampleCommand(proc: Proc, ckpt: string, opts: Opts): Promise<number> {
  // numbers parsed here; ranges, defaults (the seed, a lines model's count) and the prime as the
  // model reads it are the library's (the same rules as the page's and the server's)
  const num = (flag: string, v: unknown): number => parseNumber(flag, String(v));
  const stop = (Array.isArray(opts.stop) ? opts.stop : typeof opts.stop === 'string' ? [opts.stop] : []).map(parseStop);
  const req: GenerateRequest = {
    length: num('--length', opts.length),
    seed: opts.seed === undefined ? undefined : num('--seed', opts.seed),
    stop,
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
    if (typeof opts.temperatures === 'string') return await temperatureSweepCommand(proc, ckpt, { ...opts, temperatures: opts.temperatures }, { length: req.length, seed: req.seed, backend });
    const { data: ck, model } = await loadCheckpointFile(ckpt, backend);
    if (ck.model.lines && !backend.hostMemory) throw new CliError('a lines model samples items on the CPU: use --backend auto', 2);
    const many = ck.model.lines || req.count !== undefined || (req.beam ?? 0) >= 2 || req.unique || opts.novelty || opts.json;
    if (!many) return await streamOne(proc, model, ck.vocab, req);
    const index = opts.novelty ? await noveltyIndex(proc, ckpt, data, ck) : null;
    const { samples, skipped, prime, lines, count } = await generate({ model, vocab: ck.vocab }, req);
    warnSkipped(proc, skipped);
    // an item is the prime and what followed it; free text is judged on what the model generated
    const novelty = index?.measure(samples.map((g) => (lines ? prime + g.text : g.text))) ?? null;
    if (req.unique && samples.length < count) proc.stderr.write(`charrnn: note: found ${samples.length} distinct sample(s) of the ${count} asked for\n`);
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

function warnSkipped(proc: Proc, skipped: string[]): void {
  if (skipped.length > 0) proc.stderr.write(`charrnn: warning: skipped ${skipped.length} prime character(s) not in the vocabulary\n`);
}

/** The run's split of its training text, indexed (the text from --data or run.json beside the checkpoint). */
async function noveltyIndex(proc: Proc, ckpt: string, data: string[] | undefined, ck: CheckpointData): Promise<NoveltyIndex> {
  const text = await trainingText(ckpt, data);
  if (!text) throw new CliError(`--novelty needs the training text: no run.json beside ${ckpt}; give it with --data`, 2);
  const { ids, unknown } = encodeParts(text.parts, ck.vocab);
  if (unknown > 0) proc.stderr.write(`charrnn: warning: ${unknown} character(s) of ${text.from} are not in the model's vocabulary: is it the run's training text?\n`);
  return new NoveltyIndex(ck.vocab, splitFor(ids, ck.vocab, ck.config), ck.model.lines ?? false);
}

/** The plain case: one sample streamed as it is made, after its prime as the model read it. */
async function streamOne(proc: Proc, model: CharRNN, vocab: Vocabulary, req: GenerateRequest): Promise<number> {
  // stream in small chunks: visible as it generates, without a write per character
  let buf = '';
  let lastFlush = performance.now();
  await generate({ model, vocab }, req, {
    onStart: ({ prime, skipped }) => {
      warnSkipped(proc, skipped);
      proc.stdout.write(prime);
    },
    onChar: (ch) => {
      buf += ch;
      if (buf.length >= 64 || performance.now() - lastFlush > 50) {
        proc.stdout.write(buf);
        buf = '';
        lastFlush = performance.now();
      }
    },
  });
  proc.stdout.write(buf + '\n');
  return 0;
}
