/**
 * Temperature experiments: train a model, then sample from it at several temperatures,
 *
 *   p_i ∝ exp(z_i / τ)      τ → 0: argmax;  τ = 1: the model as is;  τ > 1: flatter
 *
 * and measure each sample two ways: how surprised the model itself is by it (its loss on the
 * sample at τ = 1, in bits/char: low for cautious, repetitive text, high for wild text) and
 * which share of its words occur in the training text (spelling).
 *
 * Run: npx tsx examples/temperature.ts [text file] [--seconds 60] [--length 300]
 *      [--temperatures 0,0.5,0.8,1,1.5] [--hidden 128] [--layers 2] [--max-iters N] [--backend auto]
 */
import { readFileSync } from 'node:fs';
import { evaluateText, Sampler, sampleText } from '../src/index.js';
import { arg, backendFor, isMain, mobyDickPath, numArg, positional, runMain, trainArgs, trainOn, trainSettings } from './common.js';

export interface TemperatureRow {
  temperature: number;
  text: string;
  /** The model's own loss on its sample, bits/char. */
  bits_per_char: number;
  /** Share of the sample's words found in the training text. */
  known_words: number;
}

const wordsOf = (s: string): string[] => s.toLowerCase().match(/\p{L}+/gu) ?? [];

export async function main(args: string[], log: (s: string) => void = console.log): Promise<TemperatureRow[]> {
  const path = positional(args)[0] ?? mobyDickPath();
  const text = readFileSync(path, 'utf8');
  const temperatures = arg(args, 'temperatures', '0,0.5,0.8,1,1.5').split(',').map(Number);
  const length = numArg(args, 'length', 300);
  const settings = trainArgs(args, { seconds: 60, hidden: 128, layers: 2 });
  const backend = await backendFor(settings.backend);
  try {
    log(`training on ${path} (${backend.name} backend)...`);
    const trainer = await trainOn(text, trainSettings(settings), backend);
    log(`validation loss ${((trainer.summary().val_loss ?? NaN) / Math.LN2).toFixed(3)} bits/char\n`);
    const vocab = trainer.corpus.vocab;
    const dictionary = new Set(wordsOf(text));
    const sampler = new Sampler(trainer.model, vocab);
    const rows: TemperatureRow[] = [];
    for (const temperature of temperatures) {
      // the same seed and start (after a newline) for every temperature: only τ differs
      const sample = sampleText(sampler, { length, temperature, seed: 1 });
      const bits = evaluateText(trainer.model, vocab, [{ name: 'sample', bytes: new TextEncoder().encode(sample) }]).bits_per_char;
      const words = wordsOf(sample);
      const known = words.length ? words.filter((w) => dictionary.has(w)).length / words.length : NaN;
      rows.push({ temperature, text: sample, bits_per_char: bits, known_words: known });
      log(`--- temperature ${temperature}: the model's loss on it ${bits.toFixed(2)} bits/char, ${(100 * known).toFixed(0)}% of its words are real`);
      log(sample.trim() + '\n');
    }
    return rows;
  } finally {
    backend.dispose?.();
  }
}

if (isMain(import.meta.url)) runMain(main);
