/**
 * Loss curves and overfitting: a model far too big for its text (by default a 2×256 LSTM,
 * about 800k parameters, on 12 KB) learns the training text by heart. The training loss
 * keeps falling; the validation loss falls, bottoms out, then rises: from there on the model
 * is memorising, not generalising. Printed as a table and an ASCII plot.
 *
 * Run: npx tsx examples/overfitting.ts [text file] [--seconds 90] [--hidden 256] [--layers 2]
 *      [--eval-every 20] [--max-iters N] [--backend auto]
 */
import { readFileSync } from 'node:fs';
import { createBackend, type Metrics } from '../src/index-node.js'; // what 'charrnn' is in Node
import { isMain, loomingsPath, numArg, positional, runMain, trainArgs, trainOn, trainSettings } from './common.js';

/** Plot series of equal length on one chart of `height` rows; each series drawn with its mark. */
export function asciiPlot(series: { mark: string; values: number[] }[], width = 64, height = 16): string[] {
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const n = Math.max(...series.map((s) => s.values.length));
  const grid = Array.from({ length: height }, () => Array<string>(width).fill(' '));
  for (const s of series) {
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const x = n > 1 ? Math.round((i / (n - 1)) * (width - 1)) : 0;
      const y = hi > lo ? Math.round(((hi - v) / (hi - lo)) * (height - 1)) : 0;
      grid[y][x] = grid[y][x] === ' ' || grid[y][x] === s.mark ? s.mark : '*';
    });
  }
  return grid.map((row, r) => {
    const label = r === 0 ? hi.toFixed(2) : r === height - 1 ? lo.toFixed(2) : '';
    return `${label.padStart(6)} |${row.join('')}`;
  }).concat(`${''.padStart(6)} +${'-'.repeat(width)}`);
}

export async function main(args: string[], log: (s: string) => void = console.log): Promise<{ metrics: Metrics[]; bestIter: number }> {
  const path = positional(args)[0] ?? loomingsPath();
  const settings = trainArgs(args, { seconds: 90, hidden: 256, layers: 2 });
  const backend = await createBackend({ kind: settings.backend });
  const metrics: Metrics[] = [];
  try {
    log(`training a ${settings.layers}×${settings.hidden} LSTM on ${path} (${backend.name} backend)`);
    log('  iter  epoch   train     val   (nats/char)');
    await trainOn(readFileSync(path, 'utf8'), {
      ...trainSettings(settings), batch: 10, seqLen: 50, valFrac: 0.1, testFrac: 0.05, embed: 64, evalEvery: numArg(args, 'eval-every', 20),
    }, backend, (m) => {
      metrics.push(m);
      log(`${String(m.iter).padStart(6)} ${m.epoch.toFixed(1).padStart(6)} ${m.train_loss.toFixed(3).padStart(7)} ${m.val_loss.toFixed(3).padStart(7)}`);
    });
  } finally {
    backend.dispose?.();
  }
  const best = metrics.reduce((a, b) => (b.val_loss < a.val_loss ? b : a), metrics[0]);
  const last = metrics[metrics.length - 1];
  log('\nt = training loss, v = validation loss, over the evaluations:');
  for (const line of asciiPlot([{ mark: 't', values: metrics.map((m) => m.train_loss) }, { mark: 'v', values: metrics.map((m) => m.val_loss) }])) log(line);
  log(`\nbest validation loss ${best.val_loss.toFixed(3)} at iteration ${best.iter} (epoch ${best.epoch.toFixed(1)});`);
  log(`at the end: train ${last.train_loss.toFixed(3)}, val ${last.val_loss.toFixed(3)}, a gap of ${(last.val_loss - last.train_loss).toFixed(3)} nats/char.`);
  if (last.val_loss > best.val_loss + 0.05) log('The validation loss has turned up while the training loss fell: overfitting. best.safetensors (charrnn train) keeps the model from the bottom of the curve.');
  return { metrics, bestIter: best.iter };
}

if (isMain(import.meta.url)) runMain(main);
