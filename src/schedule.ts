/**
 * Learning-rate schedules that span a budget (--lr-schedule cosine | linear). With i the
 * iteration about to run (0-based), N the iterations the schedule spans, W the warm-up and
 * f = --lr-final:
 *
 *   warm-up    w(i) = min(1, (i + 1) / W)                  (w = 1 when W = 0)
 *   cosine     d(i) = f + (1 − f) · ½ (1 + cos(π · min(i, N) / N))
 *   linear     d(i) = f + (1 − f) · (1 − min(i, N) / N)
 *   lr(i)      = peak · w(i) · d(i)
 *
 * peak is --lr (halved by each --on-nan rollback). Before N is known (a --max-time budget, see
 * Trainer), d = 1: the warm-up does not need it. Once fixed, N is in the checkpoint, so a resumed
 * run follows the same curve; a run that goes on past N stays at f · peak.
 *
 * The `step` schedule (char-rnn's ×lrDecay per epoch) is not a function of i: it lives in the
 * trainer's state (state.lr) and is applied at each epoch's end.
 */
import type { TrainConfig } from './config.js';

export type ScheduleConfig = Pick<TrainConfig, 'lrSchedule' | 'warmup' | 'lrFinal'>;

/** The factor w(i) · d(i) of the peak learning rate at iteration i; N = null: not fixed yet. */
export function scheduleFactor(c: ScheduleConfig, i: number, N: number | null): number {
  if (c.lrSchedule === 'step') return 1;
  const w = c.warmup > 0 ? Math.min(1, (i + 1) / c.warmup) : 1;
  if (N === null || N <= 0) return w;
  const x = Math.min(i, N) / N;
  const d = c.lrSchedule === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * x)) : 1 - x;
  return w * (c.lrFinal + (1 - c.lrFinal) * d);
}

/**
 * The iterations a budget of iterations or epochs allows (the smaller of the two), or null when
 * only time bounds the run (the trainer then estimates it from the measured speed).
 */
export function iterBudget(c: Pick<TrainConfig, 'maxIters' | 'epochs' | 'maxTime'>, windowsPerEpoch: number): number | null {
  const limits: number[] = [];
  if (c.maxIters > 0) limits.push(c.maxIters);
  if (c.epochs > 0) limits.push(Math.ceil(c.epochs * windowsPerEpoch));
  return limits.length > 0 && c.maxTime === 0 ? Math.min(...limits) : null;
}

/**
 * A time budget's iterations, estimated from the run so far (evaluations included): the rate of
 * iterations per second times the budget, capped by an iteration or epoch limit if there is one.
 */
export function estimateIters(iter: number, seconds: number, c: Pick<TrainConfig, 'maxIters' | 'epochs' | 'maxTime'>, windowsPerEpoch: number): number {
  let n = Math.max(iter + 1, Math.round((iter * c.maxTime) / seconds));
  if (c.maxIters > 0) n = Math.min(n, c.maxIters);
  if (c.epochs > 0) n = Math.min(n, Math.ceil(c.epochs * windowsPerEpoch));
  return n;
}

/** The thresholds of the rule that fixes a --max-time schedule's span (Trainer.fixSchedule); torch.json carries them to the torch engine. */
export const SCHEDULE_FIX = { evalShareSeconds: 30, budgetShare: 0.05, lateShare: 0.2 };
