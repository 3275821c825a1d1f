/**
 * The loop around a run's events, one for both engines (ours in cli/train.ts, PyTorch in
 * cli/torch-engine.ts): Ctrl-C, what is printed, OUT/report.html and the exit code.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainEvent } from '../src/train.js';
import type { Proc } from './io.js';
import type { ProgressRenderer } from './render.js';
import { writeReport } from './report.js';

/** What differs between the engines. */
export interface TrainEngine {
  /** The run directory (its checkpoints, its report). */
  out: string;
  /** The run's events; aborting `signal` (the first Ctrl-C) asks it to save and stop ('done', reason 'aborted'). */
  events(signal: AbortSignal): AsyncIterable<TrainEvent>;
  /** The CLI's writes for an event, once it is shown and before the report reads them; absent where the engine writes its own (the torch engine's Python). */
  record?(ev: TrainEvent): Promise<void>;
}

/** How the run is shown: the renderer (null with --quiet), --json and --report. */
export type TrainView = { renderer: ProgressRenderer | null; json: boolean; report: boolean };

/** Run `engine` to its end; the exit code: 0, 1 after a numerical stop, 130 after Ctrl-C. */
export async function trainLoop(proc: Proc, engine: TrainEngine, view: TrainView): Promise<number> {
  const { out } = engine;
  const say = (s: string): void => view.renderer?.message(s);
  const abort = new AbortController();
  // a second Ctrl-C while saving does nothing (abort() fires once): saving is atomic and quick
  const onSigint = (): void => abort.abort();
  proc.on?.('SIGINT', onSigint);
  let code = 0;
  try {
    for await (const ev of engine.events(abort.signal)) {
      // a numerical stop is a failure: one line on stderr, even with --quiet (latest is the last good state)
      if (ev.type === 'nan') proc.stderr.write(`charrnn: stopped: ${ev.message}\n`);
      else view.renderer?.event(ev);
      await engine.record?.(ev);
      if (ev.type === 'eval' && view.report) await refreshReport(out, say, 15);
      if (ev.type === 'done') {
        if (ev.reason === 'aborted') {
          say(`interrupted: saved ${join(out, 'latest.safetensors')} (continue with: npx charrnn train --resume ${out})`);
          code = 130;
        } else if (ev.reason === 'nan') code = 1;
        if (view.report) await refreshReport(out, say); // the finished run: no more reloading
        reportDone(proc, say, { out, json: view.json, ok: code === 0 }, ev);
      }
    }
  } finally {
    proc.off?.('SIGINT', onSigint);
  }
  return code;
}

/** Rewrite OUT/report.html; a report that cannot be written is worth a warning, not the run. */
async function refreshReport(out: string, say: (s: string) => void, refreshSeconds?: number): Promise<void> {
  try {
    await writeReport(out, { refreshSeconds });
  } catch (e) {
    say(`warning: could not write ${join(out, 'report.html')}: ${(e as Error).message}`);
  }
}

/** The end of a run: the --json summary line, and where the checkpoint is. */
function reportDone(proc: Proc, say: (s: string) => void, opts: { out: string; json: boolean; ok: boolean }, ev: Extract<TrainEvent, { type: 'done' }>): void {
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
