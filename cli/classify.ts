/**
 * `charrnn classify --model A.safetensors --model B.safetensors ... --data unknown.txt`:
 * which model (author) explains a text best, with bits/char and posterior probabilities
 * (src/classify.ts says how they are defined).
 */
import { classifyText, type Candidate } from '../src/classify.js';
import { createBackend } from '../src/backend/platform-node.js';
import { parseBackendFlags } from './backend.js';
import { loadCheckpointFile } from './checkpoint.js';
import { readCorpus } from './corpus.js';
import { CliError, type Proc } from './io.js';

export interface ClassifyOpts {
  model: string[];
  data: string[];
  json?: boolean;
  backend: string;
  threads: string;
}

export async function classifyCommand(proc: Proc, opts: ClassifyOpts): Promise<number> {
  const engine = parseBackendFlags(opts);
  if (opts.model.length < 2) throw new CliError(`classify needs at least two --model checkpoints to choose between (got ${opts.model.length})`, 2);
  const backend = await createBackend({ kind: engine.backend, threads: engine.threads });
  try {
    const candidates: Candidate[] = [];
    for (const path of opts.model) {
      const { data, model } = await loadCheckpointFile(path, backend);
      candidates.push({ name: path, model, vocab: data.vocab });
    }
    const { parts } = await readCorpus(opts.data);
    const r = await classifyText(candidates, parts);
    if (opts.json) {
      const scores = r.scores.map((s) => ({ model: s.model, bits_per_char: s.bits_per_char, probability: s.probability, chars: s.chars, unknown_chars: s.unknown_chars }));
      proc.stdout.write(JSON.stringify({ best: r.best, scores }) + '\n');
    } else {
      for (const s of r.scores) {
        const unknown = s.unknown_chars > 0 ? `  (${s.unknown_chars} unknown characters skipped)` : '';
        proc.stdout.write(`${s.bits_per_char.toFixed(4)} bits/char  p = ${formatProbability(s.probability)}  ${s.model}${unknown}\n`);
      }
      proc.stdout.write(`best: ${r.best}\n`);
    }
    return 0;
  } finally {
    backend.dispose?.();
  }
}

/** Probabilities near 0 or 1 in a readable form: 1 - 3.2e-12 rather than 1.0000. */
function formatProbability(p: number): string {
  if (p > 0.9999 && p < 1) return `1 - ${(1 - p).toExponential(1)}`;
  if (p < 1e-4 && p > 0) return p.toExponential(1);
  return p.toFixed(4);
}
