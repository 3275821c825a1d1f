/** `charrnn sample CKPT`: stream generated text to stdout (or, with --temperatures, one sample per temperature). */
import { checkSampleOptions, Sampler } from '../src/sample.js';
import { createBackend } from '../src/backend/wasm-node.js';
import { parseEngineFlags } from './backend.js';
import { loadCheckpointFile } from './checkpoint.js';
import { parseNumber, type Proc } from './io.js';
import { temperatureSweepCommand } from './sweep.js';

type Opts = Record<string, string | boolean | undefined>;

export async function sampleCommand(proc: Proc, ckpt: string, opts: Opts): Promise<number> {
  // numbers parsed here, ranges checked by the library (the same rules as the page's)
  const num = (flag: string, v: unknown): number => parseNumber(flag, String(v));
  const length = num('--length', opts.length);
  const temperature = num('--temperature', opts.temperature);
  const topK = num('--top-k', opts.topK);
  const topP = num('--top-p', opts.topP);
  const seed = opts.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : num('--seed', opts.seed);
  checkSampleOptions({ length, temperature, topK, topP, seed });
  const engine = parseEngineFlags(opts);
  if (typeof opts.temperatures === 'string') return temperatureSweepCommand(proc, ckpt, { ...opts, temperatures: opts.temperatures }, { length, seed, engine });

  const backend = await createBackend({ kind: engine.backend, threads: engine.threads });
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
