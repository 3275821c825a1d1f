/**
 * Author attribution with character language models: train one model per author on the first
 * 90% of their text, then, for passages of 500 characters from the last 10% (never seen in
 * training), ask which model explains the passage best (lowest bits/char; src/classify.ts).
 *
 * By default the two authors are Melville (Moby Dick, built in) and Shakespeare
 * (../shared/data/tinyshakespeare.txt when it is there); or give two text files.
 *
 * Run: npx tsx examples/attribution.ts [A.txt B.txt] [--max-iters 1000] [--seconds 0 (no limit)]
 *      [--passage 500] [--passages 100] [--hidden 128] [--layers 2] [--backend auto]
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createBackend, Attributor, type Candidate } from '../src/index-node.js'; // what 'charrnn' is in Node
import { isMain, mobyDickPath, numArg, positional, repoRoot, runMain, trainArgs, trainOn, trainSettings, type TrainArgs } from './common.js';

export interface AttributionOptions extends TrainArgs {
  /** One text file per author. */
  paths: string[];
  /** Characters per held-out passage. */
  passage: number;
  /** At most this many passages per author, spread evenly over the held-out 10%. */
  passages: number;
  log: (s: string) => void;
}

export interface AttributionResult {
  correct: number;
  total: number;
  accuracy: number;
}

export async function run(o: AttributionOptions): Promise<AttributionResult> {
  const backend = await createBackend({ kind: o.backend });
  try {
    o.log(`backend: ${backend.name}`);
    const candidates: Candidate[] = [];
    const heldOut: string[][] = [];
    for (const path of o.paths) {
      const chars = [...readFileSync(path, 'utf8')]; // code points
      const cut = Math.floor(chars.length * 0.9);
      const t0 = performance.now();
      const trainer = await trainOn(chars.slice(0, cut).join(''), { ...trainSettings(o), evalEvery: 500 }, backend);
      const sum = trainer.summary();
      o.log(`${basename(path)}: ${sum.iters} iterations (${sum.epochs.toFixed(2)} epochs of ${cut} characters) in ${((performance.now() - t0) / 1000).toFixed(0)} s, validation ${((sum.val_loss ?? NaN) / Math.LN2).toFixed(3)} bits/char`);
      candidates.push({ name: basename(path), model: trainer.model, vocab: trainer.corpus.vocab });
      // held-out passages, evenly spaced over the last 10%
      const rest = chars.slice(cut);
      const count = Math.floor(rest.length / o.passage);
      const step = Math.max(1, Math.floor(count / o.passages));
      const passages: string[] = [];
      for (let i = 0; i < count && passages.length < o.passages; i += step) passages.push(rest.slice(i * o.passage, (i + 1) * o.passage).join(''));
      heldOut.push(passages);
    }
    const attributor = new Attributor(candidates);
    let correct = 0;
    let total = 0;
    for (const [author, passages] of heldOut.entries()) {
      let right = 0;
      for (const text of passages) {
        const r = await attributor.classify([{ name: 'passage', bytes: new TextEncoder().encode(text) }]);
        if (r.best === candidates[author].name) right++;
      }
      o.log(`${candidates[author].name}: ${right}/${passages.length} held-out passages of ${o.passage} characters attributed correctly`);
      correct += right;
      total += passages.length;
    }
    const accuracy = total > 0 ? correct / total : NaN;
    o.log(`accuracy: ${(100 * accuracy).toFixed(1)}% (${correct}/${total})`);
    return { correct, total, accuracy };
  } finally {
    backend.dispose?.();
  }
}

function defaultPaths(): string[] {
  const shakespeare = join(repoRoot(), '..', 'shared', 'data', 'tinyshakespeare.txt');
  if (!existsSync(shakespeare)) {
    throw new Error(`a second author is needed: ${shakespeare} is not here; give two text files: npx tsx examples/attribution.ts A.txt B.txt`);
  }
  return [mobyDickPath(), shakespeare];
}

if (isMain(import.meta.url)) {
  runMain(async (args) => {
    const given = positional(args);
    await run({
      // the same number of iterations for every author, whatever the machine's load: a time
      // limit would give one model more training than the other on a busy machine
      ...trainArgs(args, { seconds: 0, maxIters: 1000, hidden: 128, layers: 2 }),
      paths: given.length >= 2 ? given : defaultPaths(),
      passage: numArg(args, 'passage', 500),
      passages: numArg(args, 'passages', 100),
      log: console.log,
    });
  });
}
