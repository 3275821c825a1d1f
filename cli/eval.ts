/** `charrnn eval CKPT --data FILE`: loss of a model on a text. */
import { evaluateText } from '../src/evaluate.js';
import { createBackend } from '../src/backend/platform-node.js';
import { parseBackendFlags } from './backend.js';
import { loadCheckpointFile } from './checkpoint.js';
import { readCorpus } from './corpus.js';
import type { Proc } from './io.js';

type Opts = Record<string, string | boolean | string[] | undefined>;

export async function evalCommand(proc: Proc, ckpt: string, opts: Opts): Promise<number> {
  const engine = parseBackendFlags(opts);
  const backend = await createBackend({ kind: engine.backend, threads: engine.threads });
  try {
    const { data, model } = await loadCheckpointFile(ckpt, backend);
    const { parts } = await readCorpus(opts.data as string[]);
    const r = await evaluateText(model, data.vocab, parts);
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
