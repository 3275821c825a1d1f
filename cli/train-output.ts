/** What `charrnn train` prints and writes besides checkpoints, the same for both engines. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainEvent } from '../src/train.js';
import type { Proc } from './io.js';
import { writeReport } from './report.js';

/** Rewrite OUT/report.html; a report that cannot be written is worth a warning, not the run. */
export async function refreshReport(out: string, say: (s: string) => void, refreshSeconds?: number): Promise<void> {
  try {
    await writeReport(out, { refreshSeconds });
  } catch (e) {
    say(`warning: could not write ${join(out, 'report.html')}: ${(e as Error).message}`);
  }
}

/** The end of a run (either engine): the --json summary line, and where the checkpoint is. */
export function reportDone(proc: Proc, say: (s: string) => void, opts: { out: string; json: boolean; ok: boolean }, ev: Extract<TrainEvent, { type: 'done' }>): void {
  const best = join(opts.out, 'best.safetensors');
  const ckpt = existsSync(best) ? best : join(opts.out, 'latest.safetensors');
  if (opts.json) {
    const s = ev.summary;
    proc.stdout.write(JSON.stringify({
      iters: s.iters, epochs: s.epochs, seconds: s.seconds, train_chars_per_s: s.train_chars_per_s,
      train_loss: s.train_loss, val_loss: s.val_loss, best_val_loss: s.best_val_loss, checkpoint: ckpt,
    }) + '\n');
  }
  if (opts.ok) {
    say(`done (${ev.reason}) after ${ev.summary.iters} iterations; best validation loss ${ev.summary.best_val_loss?.toFixed(4) ?? '?'} nats/char`);
    say(`checkpoint: ${ckpt}`);
    say(`sample from it: npx charrnn sample ${ckpt}`);
  }
}
