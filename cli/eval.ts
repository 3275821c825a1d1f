/** `charrnn eval CKPT --data FILE`: loss of a model on a text. */
import { evaluateText } from '../src/evaluate.js';
import { makeBackend } from './backend.js';
import { loadCheckpointFile } from './checkpoint.js';
import { readCorpus } from './corpus.js';
import { CliError, parseNumber, type Proc } from './io.js';

type Opts = Record<string, string | boolean | string[] | undefined>;

export async function evalCommand(proc: Proc, ckpt: string, opts: Opts): Promise<number> {
  const backendName = String(opts.backend);
  if (!['auto', 'wasm', 'js'].includes(backendName)) throw new CliError(`--backend must be one of auto, wasm, js (got ${JSON.stringify(backendName)})`, 2);
  const threads = parseNumber('--threads', String(opts.threads));
  if (!Number.isInteger(threads) || threads < 0) throw new CliError(`--threads must be a whole number ≥ 0 (got ${opts.threads})`, 2);
  const backend = await makeBackend(backendName as 'auto' | 'wasm' | 'js', threads);
  try {
    const { data, model } = await loadCheckpointFile(ckpt, backend);
    const { parts } = await readCorpus(opts.data as string[]);
    const r = evaluateText(model, data.vocab, parts);
    if (opts.json) proc.stdout.write(JSON.stringify(r) + '\n');
    else {
      proc.stdout.write(`${r.nats_per_char.toFixed(4)} nats/char, ${r.bits_per_char.toFixed(4)} bits/char, perplexity ${r.perplexity.toFixed(3)} over ${r.chars} characters`);
      proc.stdout.write(r.unknown_chars > 0 ? ` (${r.unknown_chars} characters outside the vocabulary were skipped)\n` : '\n');
    }
    return 0;
  } finally {
    backend.dispose?.();
  }
}
