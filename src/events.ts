/**
 * What a training run says, as plain objects: the Trainer (src/train.ts) yields them, the CLI's
 * renderer and the page draw them, and the PyTorch engine (python/charrnn_torch.py) prints the same
 * objects as JSON lines, so one renderer serves every engine. 'step' events carry the mean loss of
 * the steps since the last read of the backend's numbers: every step on the CPU, at evaluations and
 * samples on a GPU (src/step.ts).
 */
import type { BackendChoice } from './backend/types.js';

/** One line of metrics.jsonl. Losses in nats/char and bits/char. */
export interface Metrics {
  iter: number;
  epoch: number;
  seconds: number;
  train_loss: number;
  train_bpc: number;
  val_loss: number;
  val_bpc: number;
  /** Characters the validation pass predicted: all of the split's, or fewer under --eval-chars. */
  val_chars: number;
  chars_per_s: number;
  lr: number;
  grad_norm: number;
}

export interface Summary {
  iters: number;
  epochs: number;
  seconds: number;
  train_chars_per_s: number;
  train_loss: number | null;
  val_loss: number | null;
  best_val_loss: number | null;
}

export type StopReason = 'max-iters' | 'epochs' | 'max-time' | 'aborted' | 'nan';

export type TrainEvent =
  | { type: 'start'; params: number; vocabSize: number; trainChars: number; valChars: number; windowsPerEpoch: number; backend: string; choice?: BackendChoice | null; resumed: boolean; iter: number }
  | { type: 'step'; iter: number; epoch: number; loss: number; smoothLoss: number; gradNorm: number; lr: number; seconds: number; charsPerSec: number; etaSeconds: number | null }
  | { type: 'eval'; metrics: Metrics; isBest: boolean }
  | { type: 'sample'; iter: number; text: string }
  /** A cosine/linear schedule's span: known from the limits at the start, or estimated from the speed under --max-time. */
  | { type: 'schedule'; iter: number; schedule: string; iters: number; estimated: boolean }
  | { type: 'nan'; iter: number; message: string }
  /** Not fatal: an exploding loss, or a rollback after a non-finite loss (--on-nan rollback). */
  | { type: 'warning'; iter: number; message: string }
  | { type: 'done'; reason: StopReason; summary: Summary };
