/** `charrnn sample CKPT`: stream generated text to stdout (or, with --temperatures, one sample per temperature). */
import { Sampler } from '../src/sample.js';
import { createBackend } from '../src/backend/wasm-node.js';
import { parseEngineFlags } from './backend.js';
import { loadCheckpointFile } from './checkpoint.js';
import { CliError, parseNumber, type Proc } from './io.js';
import { temperatureSweepCommand } from './sweep.js';

type Opts = Record<string, string | boolean | undefined>;

function intFlag(flag: string, v: string, min: number): number {
  const n = parseNumber(flag, v);
  if (!Number.isInteger(n) || n < min) throw new CliError(`${flag} must be a whole number ≥ ${min} (got ${v})`, 2);
  return n;
}

export async function sampleCommand(proc: Proc, ckpt: string, opts: Opts): Promise<number> {
  const length = intFlag('--length', String(opts.length), 0);
  const temperature = parseNumber('--temperature', String(opts.temperature));
  if (temperature < 0) throw new CliError(`--temperature must be ≥ 0 (got ${temperature}); 0 means always the most likely character`, 2);
  const topK = intFlag('--top-k', String(opts.topK), 0);
  const topP = parseNumber('--top-p', String(opts.topP));
  if (!(topP > 0 && topP <= 1)) throw new CliError(`--top-p must be in (0, 1] (got ${topP})`, 2);
  const seed = opts.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : intFlag('--seed', String(opts.seed), 0);
  if (seed > 2 ** 32 - 1) throw new CliError(`--seed must be below 2^32 (got ${seed})`, 2);
  const engine = parseEngineFlags(opts);
  if (typeof opts.temperatures === 'string') return temperatureSweepCommand(proc, ckpt, { ...opts, temperatures: opts.temperatures }, { length, seed, engine });

  const backend = await createBackend(engine);
  try {
    const { data, model } = await loadCheckpointFile(ckpt, backend);
    const sampler = new Sampler(model, data.vocab);
    const prime = typeof opts.prime === 'string' ? opts.prime : '';
    const { ids, skipped } = sampler.primeIds(prime, Boolean(opts.skipUnknown));
    if (skipped.length > 0) proc.stderr.write(`charrnn: warning: skipped ${skipped.length} prime character(s) not in the vocabulary\n`);
    proc.stdout.write(data.vocab.decode(ids)); // the prime as the model saw it
    // stream in small chunks: visible as it generates, without a write per character
    let buf = '';
    let lastFlush = performance.now();
    for (const ch of sampler.generate({ length, temperature, topK, topP, prime, skipUnknown: Boolean(opts.skipUnknown), seed })) {
      buf += ch;
      if (buf.length >= 64 || performance.now() - lastFlush > 50) {
        proc.stdout.write(buf);
        buf = '';
        lastFlush = performance.now();
      }
    }
    proc.stdout.write(buf + '\n');
    return 0;
  } finally {
    backend.dispose?.();
  }
}
