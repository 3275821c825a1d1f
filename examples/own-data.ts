/**
 * Train on your own data with the library API: read text files, build the corpus (vocabulary
 * over code points, contiguous train/validation/test split), train while printing each
 * evaluation, sample, and save a checkpoint that `charrnn sample` and `charrnn eval` read.
 *
 * How big a model? About as many parameters as characters of text is a rough upper bound:
 * much larger and it memorises (see examples/overfitting.ts). For ~100 KB try --hidden 64.
 *
 * Run: npx tsx examples/own-data.ts [file ...] [--out own-data.safetensors] [--seconds 60]
 *      [--hidden 128] [--layers 2] [--max-iters N] [--backend auto]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createBackend, buildCorpus, generate, resolveConfig, Trainer } from '../src/index-node.js'; // what 'charrnn' is in Node
import { arg, isMain, loomingsPath, positional, runMain, trainArgs, trainSettings } from './common.js';

export async function main(args: string[], log: (s: string) => void = console.log): Promise<{ out: string; valLoss: number | null }> {
  const paths = positional(args);
  if (paths.length === 0) paths.push(loomingsPath());
  const out = arg(args, 'out', 'own-data.safetensors');
  const settings = trainArgs(args, { seconds: 60, hidden: 128, layers: 2 });
  // Each file is one part; the corpus is their concatenation, with one vocabulary.
  const corpus = buildCorpus(paths.map((p) => ({ name: p, bytes: readFileSync(p) })));
  log(`${corpus.ids.length} characters, ${corpus.vocab.size} distinct, from ${paths.length} file(s)`);
  const config = resolveConfig({ ...trainSettings(settings), evalEvery: 100, sampleEvery: 0, batch: 16, seqLen: 50 });
  const backend = await createBackend({ kind: settings.backend });
  try {
    const trainer = new Trainer({ config, corpus, backend });
    for await (const ev of trainer.run()) {
      if (ev.type === 'start') log(`${ev.params} parameters, ${ev.windowsPerEpoch} windows of ${config.batch}×${config.seqLen} per epoch, ${ev.backend} backend`);
      if (ev.type === 'eval') log(`iter ${ev.metrics.iter}  epoch ${ev.metrics.epoch.toFixed(2)}  train ${ev.metrics.train_loss.toFixed(3)}  val ${ev.metrics.val_loss.toFixed(3)} nats/char${ev.isBest ? '  (best)' : ''}`);
      if (ev.type === 'nan') throw new Error(ev.message);
    }
    const { samples } = await generate({ model: trainer.model, vocab: corpus.vocab }, { length: 300, temperature: 0.7, seed: 1 });
    log(`\n${samples[0].text}\n`);
    writeFileSync(out, trainer.checkpoint()); // the same format as charrnn train's checkpoints
    log(`saved ${out}; try: npx charrnn sample ${out} --temperature 0.7`);
    return { out, valLoss: trainer.summary().val_loss };
  } finally {
    backend.dispose?.();
  }
}

if (isMain(import.meta.url)) runMain(main);
