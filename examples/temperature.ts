/**
 * Temperature experiments: train a model, then sample from it at several temperatures,
 *
 *   p_i ∝ exp(z_i / τ)      τ → 0: argmax;  τ = 1: the model as is;  τ > 1: flatter
 *
 * and measure each sample two ways (the library's temperatureSweep, as `charrnn sample
 * --temperatures`): how surprised the model itself is by it (its loss on the sample at τ = 1,
 * in bits/char: low for cautious, repetitive text, high for wild text) and which share of its
 * words occur in the training text (spelling).
 *
 * Run: npx tsx examples/temperature.ts [text file] [--seconds 60] [--length 300]
 *      [--temperatures 0,0.5,0.8,1,1.5] [--hidden 128] [--layers 2] [--max-iters N] [--backend auto]
 */
import { readFileSync } from 'node:fs';
import { createBackend, temperatureSweep, wordsOf, type SweepRow } from '../src/index-node.js'; // what 'charrnn' is in Node
import { arg, isMain, mobyDickPath, numArg, positional, runMain, trainArgs, trainOn, trainSettings } from './common.js';

export async function main(args: string[], log: (s: string) => void = console.log): Promise<SweepRow[]> {
  const path = positional(args)[0] ?? mobyDickPath();
  const text = readFileSync(path, 'utf8');
  const temperatures = arg(args, 'temperatures', '0,0.5,0.8,1,1.5').split(',').map(Number);
  const settings = trainArgs(args, { seconds: 60, hidden: 128, layers: 2 });
  const backend = await createBackend({ kind: settings.backend });
  try {
    log(`training on ${path} (${backend.name} backend)...`);
    const trainer = await trainOn(text, trainSettings(settings), backend);
    log(`validation loss ${((trainer.summary().val_loss ?? NaN) / Math.LN2).toFixed(3)} bits/char\n`);
    // the same seed and start (after a newline) for every temperature: only τ differs
    const rows = await temperatureSweep(trainer.model, trainer.corpus.vocab, temperatures, {
      length: numArg(args, 'length', 300), seed: 1, corpusWords: new Set(wordsOf(text)),
    });
    for (const r of rows) {
      const bits = -r.avgLogProb / Math.LN2;
      log(`--- temperature ${r.temperature}: the model's loss on it ${bits.toFixed(2)} bits/char, ${(100 * (r.inCorpus ?? NaN)).toFixed(0)}% of its words are real`);
      log(r.text.trim() + '\n');
    }
    return rows;
  } finally {
    backend.dispose?.();
  }
}

if (isMain(import.meta.url)) runMain(main);
