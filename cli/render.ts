/**
 * Turning training events into terminal output: a live progress line on a TTY (redrawn at most
 * ten times a second), plain periodic lines otherwise.
 */
import { describeChoice } from '../src/backend/create.js';
import type { Metrics, TrainEvent } from '../src/train.js';

export interface Out {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

const BARS = '▁▂▃▄▅▆▇█';

/** Values as bars ▁..█ between their min and max, `width` of them evenly spaced over the list. */
export function sparkline(values: number[], width = 24): string {
  const v = values.filter(Number.isFinite);
  if (v.length < 2) return '';
  const n = Math.min(width, v.length);
  const picked = Array.from({ length: n }, (_, i) => v[Math.round((i * (v.length - 1)) / (n - 1))]);
  const lo = Math.min(...picked);
  const span = Math.max(...picked) - lo;
  return picked.map((x) => BARS[span > 0 ? Math.round(((x - lo) / span) * (BARS.length - 1)) : 0]).join('');
}

/** Smoothed losses kept for the sparkline (the most recent steps). */
const SPARK_HISTORY = 500;

export class ProgressRenderer {
  private lastDraw = 0;
  private lastPlain = 0;
  private lastVal: number | null = null;
  private lineShown = false;
  private readonly losses: number[] = [];
  /** Said at the head of the start line (the model the budget chose). */
  private preface = '';

  constructor(private readonly out: Out, private readonly now: () => number = () => performance.now() / 1000) {}

  private clearLine(): void {
    if (this.lineShown) this.out.write('\r\x1b[K');
    this.lineShown = false;
  }

  /** A message that must not be mixed into the progress line. */
  message(s: string): void {
    this.clearLine();
    this.out.write(s.endsWith('\n') ? s : s + '\n');
  }

  /** Put `line` at the head of the run's first line (before its parameters and engine). */
  announce(line: string): void {
    this.preface = line + ': ';
  }

  event(ev: TrainEvent): void {
    switch (ev.type) {
      case 'start':
        this.message(`${this.preface}${ev.resumed ? `resuming at iteration ${ev.iter}: ` : ''}${int(ev.params)} parameters, ${ev.vocabSize} symbols, ${int(ev.trainChars)} training / ${int(ev.valChars)} validation characters, ${int(ev.windowsPerEpoch)} iterations per epoch, ${ev.choice ? describeChoice(ev.choice) : `${ev.backend} backend`}`);
        break;
      case 'step': {
        const t = this.now();
        const line = `iter ${ev.iter} | epoch ${ev.epoch.toFixed(2)} | loss ${ev.smoothLoss.toFixed(3)}${this.lastVal !== null ? ` | val ${this.lastVal.toFixed(3)}` : ''} | ${int(ev.charsPerSec)} chars/s${ev.etaSeconds !== null ? ` | ETA ${formatDuration(ev.etaSeconds)}` : ''}`;
        if (this.out.isTTY) {
          this.losses.push(ev.smoothLoss);
          if (this.losses.length > SPARK_HISTORY) this.losses.shift();
          if (t - this.lastDraw < 0.1) return;
          this.lastDraw = t;
          const width = (this.out.columns ?? 100) - 1;
          const spark = sparkline(this.losses);
          this.out.write(`\r\x1b[K${(spark ? `${line} | ${spark}` : line).slice(0, width)}`);
          this.lineShown = true;
        } else if (t - this.lastPlain >= 10) {
          this.lastPlain = t;
          this.out.write(line + '\n');
        }
        break;
      }
      case 'eval':
        this.lastVal = ev.metrics.val_loss;
        this.message(formatEval(ev.metrics, ev.isBest));
        break;
      case 'sample':
        this.message(`--- sample at iteration ${ev.iter} ---\n${ev.text}\n---`);
        break;
      case 'nan':
        this.message(`stopped: ${ev.message}`);
        break;
      case 'warning':
        this.message(`warning: ${ev.message}`);
        break;
      case 'schedule':
        this.message(`learning rate: ${ev.schedule} over ${int(ev.iters)} iterations${ev.estimated ? ` (estimated at iteration ${int(ev.iter)} from the speed so far)` : ''}`);
        break;
      case 'done':
        this.clearLine();
        break;
    }
  }
}

export function formatEval(m: Metrics, isBest: boolean): string {
  return `iter ${m.iter} (epoch ${m.epoch.toFixed(2)}, ${formatDuration(m.seconds)}): train ${m.train_loss.toFixed(4)} nats/char, val ${m.val_loss.toFixed(4)} nats/char = ${m.val_bpc.toFixed(3)} bits/char${isBest ? ' (best)' : ''}, ${int(m.chars_per_s)} chars/s`;
}
