/**
 * The training loop. One iteration:
 *
 *   fill a window (B streams × T chars) → the training step (src/step.ts: forward, backward,
 *   clip + optimizer update, carry the hidden state) → count it
 *
 * and, at a read point, the step's numbers come back (loss, ‖g‖, non-finite steps) and are
 * reported; every `evalEvery` iterations a pass over the validation split, every `sampleEvery` a
 * sample. The loop is an async generator of events: it never prints and never touches files. The
 * caller (CLI, web page) renders events, writes metrics, and asks for `checkpoint()` bytes when it
 * wants to save. While the caller handles an event the loop is paused.
 *
 * One loop for every backend (types.ts: every backend is a device, host memory has zero lag).
 * Numbers are read every `readEvery` iterations: every step on host memory, where a read costs
 * nothing, and at evaluations and samples on a GPU, where a read waits for the device and the
 * steps in between run as one queue submit each with nothing read back. So 'step' events mean the
 * same everywhere (the mean loss of the steps since the last read) and only come less often on a
 * GPU; a non-finite step is found at the next read ("between iterations a and b", a = b on a CPU).
 *
 * Everything that decides what happens next (weights, optimizer moments, --ema's average of the
 * weights, step counter, learning rate, both random generators, the data cursor and the carried
 * hidden state) is in the checkpoint, so a resumed run continues bit for bit as if it had never
 * stopped. A checkpoint is always the state as of the last read: on a GPU up to --eval-every steps
 * old, exact all the same.
 */
import type { Backend, FloatArray } from './backend/types.js';
import type { Metrics, StopReason, Summary, TrainEvent } from './events.js';
import { JsBackend } from './backend/js.js';
import { encodeCheckpoint, modelConfigOf, modelFromCheckpoint, restoreOptimizer, type CheckpointData, type TrainState } from './checkpoint.js';
import { checkResume, type TrainConfig } from './config.js';
import type { Corpus, Split, WindowSource } from './data.js';
import { evalPrefix, evalPrefixItems, evaluateIds, evaluateItems } from './evaluate.js';
import { generate } from './generate.js';
import { runData, type Items } from './lines.js';
import type { Vocabulary } from './vocab.js';
import { CharRNN, Workspace } from './model/model.js';
import { Optimizer } from './optim.js';
import { Rng } from './rng.js';
import { Sampler } from './sample.js';
import { iterBudget, scheduleFactor, scheduleSpan } from './schedule.js';
import { LOSS_WATCH, StepWords, trainStep, type StepNumbers } from './step.js';

export type { Metrics, StopReason, Summary, TrainEvent } from './events.js';

export interface TrainerOptions {
  config: TrainConfig;
  corpus: Corpus;
  backend: Backend;
  /** Continue this run: its vocabulary must be the corpus's, and `config` may differ from its own only where resumeConfig allows. */
  resume?: CheckpointData;
  /** Clock in seconds (tests may pass a fake one). */
  now?: () => number;
  /**
   * Where a copy of a device's weights lives for host reads (hostModel(): samples, inspection);
   * default the JS reference kernels. The CLI passes its WebAssembly backend. Unused on host memory.
   */
  hostBackend?: Backend;
}

/** Items shown per sample while training a lines model. */
const SAMPLE_ITEMS = 8;

/** The host's part of a run's exact state (counters, generators, Adam's step), as of a read. */
interface Counters {
  state: TrainState;
  t: number;
}

/** A whole state in memory (--on-nan rollback): the counters and copies of the numbers. */
interface Snapshot extends Counters {
  params: FloatArray;
  m: FloatArray;
  v: FloatArray;
  /** With --ema: the moving average. */
  ema: FloatArray | null;
  carried: FloatArray[];
}

export class Trainer {
  readonly config: TrainConfig;
  readonly corpus: Corpus;
  readonly split: Split;
  readonly model: CharRNN;
  readonly optimizer: Optimizer;
  /** The training windows: B contiguous streams, or with --lines the items of the training split. */
  readonly source: WindowSource;
  /** With --lines: the items of the training split (batched by `source`) and of the validation split. */
  readonly lines: { train: Items; val: Items; nl: number } | null;
  readonly ws: Workspace;
  readonly state: TrainState;
  /** Iterations between reads of the step's numbers: 1 on host memory, the evaluation interval on a device. */
  readonly readEvery: number;
  private rng: Rng;
  private sampleRng: Rng;
  private readonly now: () => number;
  private readonly words: StepWords;
  /** The counters when the steps not read yet began (a GPU between reads): checkpoint() holds them then. */
  private asOfRead: Counters;
  private sampler: Sampler | null = null;
  private readonly hostBackend: Backend;
  /** On a device: the copy of the weights that hostModel() refreshes. */
  private host: CharRNN | null = null;

  constructor(opts: TrainerOptions) {
    const { config, corpus, backend, resume } = opts;
    this.config = config;
    this.corpus = corpus;
    this.now = opts.now ?? ((): number => performance.now() / 1000);
    ({ split: this.split, source: this.source, lines: this.lines } = runData(corpus.ids, corpus.vocab, config));
    ({ model: this.model, optimizer: this.optimizer, ws: this.ws, state: this.state } = startRun(config, corpus.vocab, this.source.windows, backend, resume));
    this.words = new StepWords(backend, this.model.dtype);
    this.rng = new Rng(this.state.rng);
    this.sampleRng = new Rng(this.state.sampleRng);
    this.readEvery = backend.hostMemory ? 1 : config.evalEvery;
    this.hostBackend = opts.hostBackend ?? new JsBackend();
    this.asOfRead = this.counters();
  }

  /**
   * Give the backend memory of the run back: the model, its optimizer, workspace and sampler
   * (`trainer.model` is unusable afterwards). For a long-lived page that trains many models.
   */
  dispose(): void {
    this.sampler?.dispose();
    this.host?.dispose();
    this.words.dispose();
    this.ws.dispose();
    this.optimizer.dispose();
    this.model.dispose();
  }

  /**
   * The exact state of the run as checkpoint bytes, as of the last read of the backend's numbers
   * (see the header): the state now when no step ran since (always so on host memory, which reads
   * every step), else on a GPU that of the last evaluation or sample.
   */
  checkpoint(): Uint8Array {
    return this.bytes(this.model.params);
  }

  /**
   * What `best.safetensors` holds: checkpoint() with the weights that were evaluated as its
   * parameters, the moving average with --ema (so sample, eval and export use it as they are;
   * resuming such a file continues from the average, latest.safetensors continues the run
   * exactly), else the same bytes as checkpoint().
   */
  bestCheckpoint(): Uint8Array {
    return this.bytes(this.optimizer.ema ?? this.model.params);
  }

  /** Checkpoint bytes as of the last read, with `params` (host copies) as the model's weights. */
  private bytes(params: FloatArray): Uint8Array {
    const { state, t } = this.words.steps === 0 ? this.counters() : this.asOfRead;
    return runCheckpoint(this.config, this.corpus.vocab, { model: this.model, optimizer: this.optimizer, ws: this.ws, state }, t, params);
  }

  /**
   * The model on host memory with the weights as they are now, for reads on the host (sampling
   * with top-k, beam search, inspection): the model itself on js and wasm; on a device one copy
   * on `hostBackend` that this call refreshes, owned by the trainer (do not dispose it).
   */
  async hostModel(): Promise<CharRNN> {
    if (this.model.backend.hostMemory) return this.model;
    this.host = await this.model.toHost(this.hostBackend, this.host ?? undefined);
    return this.host;
  }

  /** The host's counters now, copied. */
  private counters(): Counters {
    return { state: { ...this.state, rng: this.rng.state, sampleRng: this.sampleRng.state }, t: this.optimizer.t };
  }

  /** The whole state as of the last read, copied (the host's copies are current there). */
  private snapshot(): Snapshot {
    const { params } = this.model;
    const { m, v, ema } = this.optimizer;
    return { ...this.counters(), params: params.slice(), m: m.slice(), v: v.slice(), ema: ema?.slice() ?? null, carried: this.ws.getState() };
  }

  /** Go back to a snapshot (--on-nan rollback): weights, moments, carried state, counters, generators. */
  private restore(s: Snapshot): void {
    const { model, optimizer } = this;
    model.params.set(s.params);
    model.paramsChanged();
    optimizer.m.set(s.m);
    optimizer.v.set(s.v);
    model.backend.upload(optimizer.m);
    model.backend.upload(optimizer.v);
    if (optimizer.ema && s.ema) {
      optimizer.ema.set(s.ema);
      model.backend.upload(optimizer.ema);
    }
    this.ws.setState(s.carried);
    this.restoreCounters(s);
  }

  /** Set the host's counters and generators to those of a read. */
  private restoreCounters(c: Counters): void {
    Object.assign(this.state, c.state);
    this.optimizer.t = c.t;
    this.rng = new Rng(this.state.rng);
    this.sampleRng = new Rng(this.state.sampleRng);
    this.asOfRead = this.counters();
  }

  /**
   * Mean validation loss (nats/char): B streams over the validation split, from the zero state;
   * with --ema, of the weights' moving average.
   */
  async validationLoss(): Promise<number> {
    return (await this.validate(0)).loss;
  }

  /**
   * The validation pass over the first `evalChars` characters of the split (evalPrefix; 0 = all
   * of it): its mean loss and the characters it predicted.
   */
  private async validate(evalChars: number): Promise<{ loss: number; chars: number }> {
    const { batch: B, seqLen: T } = this.config;
    const lines = this.lines;
    return this.optimizer.withAverage(async () => {
      if (lines) return evaluateItems(this.model, evalPrefixItems(lines.val, evalChars, T), lines.nl, { streams: B, T });
      return evaluateIds(this.model, evalPrefix(this.split.val, evalChars, T), { streams: B, T });
    });
  }

  /**
   * A sample from the model as it is now (drawn from the run's own sampling generator), with
   * --ema from the weights' moving average; for a lines model, SAMPLE_ITEMS items (each at most
   * `length` characters), one per line.
   */
  async sample(length = this.config.sampleLength, temperature = this.config.sampleTemperature): Promise<string> {
    return this.optimizer.withAverage(async () => {
      const model = await this.hostModel();
      this.sampler ??= new Sampler(model, this.corpus.vocab);
      const lines = this.lines !== null;
      const { samples } = await generate(this.sampler, { length, temperature, count: lines ? SAMPLE_ITEMS : 1, lines }, { rng: this.sampleRng });
      return samples.map((g) => g.text).join('\n');
    });
  }

  private stopReason(): StopReason | null {
    const { config: c, state: s } = this;
    if (c.maxIters > 0 && s.iter >= c.maxIters) return 'max-iters';
    if (c.epochs > 0 && this.epochs >= c.epochs) return 'epochs';
    if (c.maxTime > 0 && s.seconds >= c.maxTime) return 'max-time';
    return null;
  }

  private eta(itersPerSec: number): number | null {
    const { config: c, state: s } = this;
    const left: number[] = [];
    if (c.maxIters > 0) left.push((c.maxIters - s.iter) / itersPerSec);
    if (c.epochs > 0) left.push(((c.epochs - s.epoch) * this.source.windows - s.window) / itersPerSec);
    if (c.maxTime > 0) left.push(c.maxTime - s.seconds);
    return left.length ? Math.max(0, Math.min(...left)) : null;
  }

  /** Epochs done so far, fractional (char-rnn's count): completed epochs plus the windows of this one. */
  get epochs(): number {
    return this.state.epoch + this.state.window / this.source.windows;
  }

  summary(): Summary {
    const s = this.state;
    return {
      iters: s.iter,
      epochs: this.epochs,
      seconds: s.seconds,
      train_chars_per_s: s.trainSeconds > 0 ? s.trainChars / s.trainSeconds : 0,
      train_loss: s.lastTrainLoss,
      val_loss: s.lastValLoss,
      best_val_loss: s.bestValLoss,
    };
  }

  /**
   * The learning rate of the next step: state.lr (the step schedule's rate, or the peak of a
   * cosine/linear one, halved by rollbacks) times the schedule's factor at this iteration.
   */
  get lr(): number {
    return this.state.lr * scheduleFactor(this.config, this.state.iter, this.state.scheduleIters);
  }

  // ---- the loop ----

  /**
   * Train until a limit, an abort or a fault stops the run, yielding events. Read top to bottom:
   * a training step, at read points its numbers, every evalEvery steps an evaluation, every
   * sampleEvery a sample; a fault (a non-finite loss or gradient) rolls back or stops; at the end
   * the steps since the last evaluation are read and evaluated.
   */
  async *run(signal?: AbortSignal): AsyncGenerator<TrainEvent, void, undefined> {
    const r = this.beginSession();
    yield this.startEvent();
    const n = this.state.scheduleIters;
    if (this.config.lrSchedule !== 'step' && n !== null) yield { type: 'schedule', iter: this.state.iter, schedule: this.config.lrSchedule, iters: n, estimated: false };
    let reason: StopReason | null;
    while (!(reason = signal?.aborted ? 'aborted' : this.stopReason())) {
      const fault = yield* this.iteration(r);
      if (fault) {
        const ev = this.recover(r, fault); // back to the last good state ('warning'), or the end ('nan')
        yield ev;
        if (ev.type === 'nan') {
          reason = 'nan';
          break;
        }
      }
      await this.breathe(r);
    }
    // the last evaluation of a run is over the whole split, even where one over --eval-chars just ran
    if (reason !== 'nan' && this.state.iter > 0 && (r.lastEvalIter !== this.state.iter || !r.lastEvalWhole)) {
      const fault = yield* this.read(r);
      const ev = fault ? null : await this.evaluate(r, true); // the steps since the last evaluation
      if (ev && Number.isFinite(ev.metrics.val_loss)) yield ev;
      else {
        yield this.nanEvent(fault ? `${fault}; the model was not saved` : `validation loss became ${ev!.metrics.val_loss} at iteration ${this.state.iter}; the model was not saved`);
        reason = 'nan';
      }
    }
    this.tick(r);
    yield { type: 'done', reason, summary: this.summary() };
  }

  /**
   * One iteration: a training step; at a read point its numbers, then (on their iterations) a
   * sample and an evaluation. Returns what went wrong, or null: a fault leaves the state as the
   * failed steps left it, and the caller rolls back or stops.
   */
  private async *iteration(r: Session): AsyncGenerator<TrainEvent, string | null, undefined> {
    const { config: c, state: s, model } = this;
    if (this.words.steps === 0) this.asOfRead = this.counters(); // what checkpoint() holds until the next read
    const t0 = this.now();
    if (s.window === 0) this.ws.resetState(); // each epoch starts from the zero state
    this.source.fill(s.window, this.ws, s.epoch);
    const chars = trainStep(this, c, this.lr, this.rng, this.words);
    await model.backend.settle(); // a GPU: at most a couple of windows ahead, so the clock measures it
    const fixed = this.countStep(r, this.now() - t0, chars);
    const evaluating = s.iter % c.evalEvery === 0;
    const sampling = c.sampleEvery > 0 && s.iter % c.sampleEvery === 0;
    const reading = evaluating || sampling || s.iter % this.readEvery === 0;
    const fault = reading ? yield* this.read(r) : null;
    if (fault) return fault;
    if (fixed) yield { type: 'schedule', iter: s.iter, schedule: c.lrSchedule, iters: s.scheduleIters!, estimated: true };
    if (!reading) return null;
    // The order that makes resume exact: the sample advances the sampling generator before the
    // evaluation's event, so the checkpoint taken there holds the generator after this sample and
    // a run resumed from it draws its next sample as the unbroken run does.
    const sample = sampling ? await this.sample() : null;
    if (evaluating) {
      const ev = await this.evaluate(r, false);
      if (!Number.isFinite(ev.metrics.val_loss)) return `validation loss became ${ev.metrics.val_loss} at iteration ${s.iter}`;
      this.refitSchedule();
      if (c.onNan === 'rollback') r.good = this.snapshot(); // never a state whose loss is not finite
      yield ev;
    }
    if (sample !== null) yield { type: 'sample', iter: s.iter, text: sample };
    return null;
  }

  /** Count a finished step: iteration, epoch, the step schedule's decay, speed; true when it fixed a --max-time schedule's span. */
  private countStep(r: Session, stepSeconds: number, chars: number): boolean {
    const { config: c, state: s } = this;
    s.trainSeconds += stepSeconds;
    s.trainChars += chars;
    s.iter++;
    s.window++;
    r.stepSeconds += stepSeconds;
    if (s.window === this.source.windows) {
      s.window = 0;
      s.epoch++;
      if (c.lrSchedule === 'step' && s.epoch >= c.lrDecayAfter && c.lrDecay !== 1) s.lr *= c.lrDecay; // char-rnn's schedule
    }
    this.tick(r);
    return s.scheduleIters === null && (s.scheduleIters = scheduleSpan(c, s.iter, s.seconds, null, this.source.windows)) !== null;
  }

  /** Under --max-time, at every evaluation once the span is fixed: estimate it again from the speed so far (schedule.ts). */
  private refitSchedule(): void {
    const s = this.state;
    if (s.scheduleIters !== null) s.scheduleIters = scheduleSpan(this.config, s.iter, s.seconds, s.scheduleIters, this.source.windows);
  }

  /**
   * Read the numbers of the steps since the last read (with the weights, moments and carried
   * state: one transfer on a GPU, nothing on host memory) and report them: a 'step' event, and an
   * 'exploding' warning when the loss jumps. Returns what was not finite, or null.
   */
  private async *read(r: Session): AsyncGenerator<TrainEvent, string | null, undefined> {
    const s = this.state;
    const { m, v, ema } = this.optimizer;
    const got: StepNumbers = await this.words.read([this.model.params, m, v, ...(ema ? [ema] : []), ...this.ws.stateViews()]);
    if (got.steps === 0) return null;
    const [from, to] = [s.iter - got.steps + 1, s.iter];
    if (!Number.isFinite(got.lossSum) || got.nonFinite > 0) {
      this.restoreCounters(this.asOfRead); // the run stands where its numbers were last good (a stop saves nothing)
      if (from === to) return `training loss or gradient became ${Number.isFinite(got.lossSum) ? 'non-finite (gradient)' : got.loss} at iteration ${to}`;
      return `training loss or gradient became non-finite between iterations ${from} and ${to} (found at the read after them; a GPU reads its numbers back only at evaluations and samples)`;
    }
    const { loss, steps, gradNorm } = got;
    Object.assign(r, { lossSum: r.lossSum + loss * steps, lossCount: r.lossCount + steps, gradNorm });
    const average = r.smooth;
    const { smoothing, explode, calm } = LOSS_WATCH;
    const jumped = loss > explode * average && !r.exploding; // reported once until it calms down
    r.exploding = jumped || (r.exploding && loss > calm * average);
    const keep = smoothing ** steps; // the per-step average 0.98·s + 0.02·loss, over `steps` steps of this mean
    r.smooth = keep * r.smooth + (1 - keep) * loss;
    const perStep = r.stepSeconds / steps; // the ETA's speed: the mean step since the last read
    r.stepSeconds = 0;
    yield {
      type: 'step', iter: s.iter, epoch: this.epochs, loss, smoothLoss: r.smooth, gradNorm: r.gradNorm, lr: this.lr,
      seconds: s.seconds, charsPerSec: s.trainChars / s.trainSeconds, etaSeconds: this.eta(1 / Math.max(1e-9, perStep)),
    };
    if (jumped) yield { type: 'warning', iter: s.iter, message: `loss exploding: ${loss.toFixed(3)} at iteration ${s.iter}, over ${explode}× its running average ${average.toFixed(3)}; if it keeps rising, lower --lr or --clip` };
    return null;
  }

  /**
   * A validation pass, and the metrics line of the iterations since the last one: over the whole
   * split when `whole` (the run's last), else over the first --eval-chars characters.
   */
  private async evaluate(r: Session, whole: boolean): Promise<Extract<TrainEvent, { type: 'eval' }>> {
    const s = this.state;
    const { loss: val, chars } = await this.validate(whole ? 0 : this.config.evalChars);
    const train = r.lossCount > 0 ? r.lossSum / r.lossCount : (s.lastTrainLoss ?? NaN);
    r.lossSum = 0;
    r.lossCount = 0;
    s.lastTrainLoss = train;
    s.lastValLoss = val;
    const isBest = Number.isFinite(val) && (s.bestValLoss === null || val < s.bestValLoss);
    if (isBest) s.bestValLoss = val;
    r.lastEvalIter = s.iter;
    r.lastEvalWhole = whole || this.config.evalChars === 0;
    this.tick(r);
    const metrics: Metrics = {
      iter: s.iter, epoch: this.epochs, seconds: s.seconds,
      train_loss: train, train_bpc: train / Math.LN2, val_loss: val, val_bpc: val / Math.LN2, val_chars: chars,
      chars_per_s: s.trainSeconds > 0 ? s.trainChars / s.trainSeconds : 0, lr: this.lr, grad_norm: r.gradNorm,
    };
    return { type: 'eval', metrics, isBest };
  }

  /**
   * A non-finite loss or gradient: with --on-nan rollback (and rollbacks left), go back to the
   * last evaluation with a finite loss and halve the learning rate (a 'warning'); else stop (a 'nan').
   */
  private recover(r: Session, what: string): TrainEvent {
    const c = this.config;
    const s = this.state;
    if (!r.good || r.rollbacks >= c.maxRollbacks) {
      const advice = r.good ? `stopped after ${r.rollbacks} rollback${r.rollbacks === 1 ? '' : 's'} (--max-rollbacks ${c.maxRollbacks})` : 'try a lower --lr or --clip, or --on-nan rollback';
      return this.nanEvent(`${what}; ${advice}`);
    }
    r.rollbacks++;
    const lr = s.lr; // halvings add up: the snapshot holds the rate from before them
    this.restore(r.good);
    s.lr = lr / 2;
    r.lossSum = 0;
    r.lossCount = 0;
    r.smooth = s.lastTrainLoss ?? r.smooth;
    r.lastEvalIter = s.iter;
    r.lastEvalWhole = this.config.evalChars === 0; // should the run stop here, its last evaluation reads the whole split
    return { type: 'warning', iter: s.iter, message: `${what}; rolled back to iteration ${s.iter} and halved the learning rate to ${s.lr.toPrecision(3)} (rollback ${r.rollbacks} of ${c.maxRollbacks})` };
  }

  private nanEvent(message: string): TrainEvent {
    return { type: 'nan', iter: this.state.iter, message };
  }

  /** What one run() call keeps between iterations: the clock, loss averages, the rollback snapshot. */
  private beginSession(): Session {
    const now = this.now();
    return {
      start: now, secondsAtStart: this.state.seconds, lastYield: now, stepSeconds: 0,
      lossSum: 0, lossCount: 0, smooth: this.state.lastTrainLoss ?? Math.log(this.corpus.vocab.size), exploding: false,
      gradNorm: 0, lastEvalIter: -1, lastEvalWhole: false,
      good: this.config.onNan === 'rollback' ? this.snapshot() : null, rollbacks: 0,
    };
  }

  private startEvent(): TrainEvent {
    const s = this.state;
    return {
      type: 'start', params: this.model.numParams, vocabSize: this.corpus.vocab.size, trainChars: this.split.train.length,
      valChars: this.split.val.length, windowsPerEpoch: this.source.windows, backend: this.model.backend.name,
      choice: this.model.backend.choice ?? null, resumed: s.iter > 0, iter: s.iter,
    };
  }

  /** The run's seconds: those of earlier sessions plus this one's so far. */
  private tick(r: Session): void {
    this.state.seconds = r.secondsAtStart + (this.now() - r.start);
  }

  /** Let the event loop run (Ctrl-C, a pause button) about 20 times a second. */
  private async breathe(r: Session): Promise<void> {
    if (this.now() - r.lastYield <= 0.05) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    r.lastYield = this.now();
  }
}

/** The state of one run() call that is not part of the run: none of it goes into a checkpoint. */
interface Session {
  /** Clock at the start of this session, and the run's seconds then (a resumed run continues its count). */
  start: number;
  secondsAtStart: number;
  /** Clock when the loop last let the event loop run. */
  lastYield: number;
  /** Seconds of the steps since the last read (their mean makes the ETA). */
  stepSeconds: number;
  /** The sum and count of training losses since the last evaluation. */
  lossSum: number;
  lossCount: number;
  /** Exponentially smoothed training loss, and whether an 'exploding' warning is still in force. */
  smooth: number;
  exploding: boolean;
  /** ‖g‖ of the last step read, before clipping. */
  gradNorm: number;
  lastEvalIter: number;
  /** Whether that evaluation read the whole validation split (not only --eval-chars of it). */
  lastEvalWhole: boolean;
  /** --on-nan rollback: the state at the last evaluation with a finite loss, and how often we went back to it. */
  good: Snapshot | null;
  rollbacks: number;
}

/** A run's numbers: the model, its optimizer, the workspace that carries the hidden state, the counters. */
export interface RunNumbers {
  model: CharRNN;
  optimizer: Optimizer;
  ws: Workspace;
  state: TrainState;
}

/**
 * What a run starts from: the resumed run's numbers (its vocabulary checked against `vocab`), or
 * a new model initialised from the seed with its counters at 0. `windows`: training windows per
 * epoch (the schedule's budget counts them). The Trainer's start, and the torch engine's first
 * checkpoint, which a streamed corpus prepares from the lengths alone (src/torch-run.ts).
 */
export function startRun(config: TrainConfig, vocab: Vocabulary, windows: number, backend: Backend, resume?: CheckpointData): RunNumbers {
  if (resume) checkResume(resume, config, { vocab });
  const model = resume ? modelFromCheckpoint(resume, backend) : new CharRNN(modelConfigOf(config, vocab.size), backend);
  const optimizer = new Optimizer(model, config);
  const ws = new Workspace(model, config.batch, config.seqLen, { training: true });
  if (resume?.train) {
    restoreOptimizer(resume, model, optimizer);
    ws.setState(resume.train.carried);
    return { model, optimizer, ws, state: { ...resume.train.state } };
  }
  const rng = new Rng(config.seed);
  if (!resume) model.init(rng, config.init);
  optimizer.startAverage();
  const state: TrainState = {
    iter: 0, epoch: 0, window: 0, seconds: 0, trainSeconds: 0, trainChars: 0, lr: config.lr,
    scheduleIters: config.lrSchedule === 'step' ? null : iterBudget(config, windows),
    optimizerSteps: 0, bestValLoss: null, lastTrainLoss: null, lastValLoss: null,
    rng: rng.state, sampleRng: new Rng(config.seed ^ 0x5eed).state,
  };
  return { model, optimizer, ws, state };
}

/**
 * Checkpoint bytes of a run's numbers on host memory; `t`: Adam's step as of `run.state`;
 * `params`: the weights to save as the model's (default the model's own; best.safetensors with
 * --ema saves the average).
 */
export function runCheckpoint(config: TrainConfig, vocab: Vocabulary, run: RunNumbers, t: number, params: FloatArray = run.model.params): Uint8Array {
  const { m, v, ema } = run.optimizer;
  return encodeCheckpoint({
    config, model: run.model, vocab, params,
    train: { state: run.state, optimizer: { m, v, t, ema }, carried: run.ws.getState() },
  });
}
