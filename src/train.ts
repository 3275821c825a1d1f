/**
 * The training loop. One iteration:
 *
 *   fill a window (B streams × T chars) → forward → backward → clip + optimizer step
 *   → carry the hidden state into the next window
 *
 * and every `evalEvery` iterations a pass over the validation split. The loop is an async
 * generator of events: it never prints and never touches files. The caller (CLI, web page)
 * renders events, writes metrics, and asks for `checkpoint()` bytes when it wants to save. While
 * the caller handles an event the loop is paused, so a checkpoint taken then is exact.
 *
 * Everything that decides what happens next (weights, optimizer moments, step counter, learning
 * rate, both random generators, the data cursor and the carried hidden state) is in the
 * checkpoint, so a resumed run continues bit for bit as if it had never stopped.
 *
 * On a lagging backend (webgpu, types.ts) the same loop records each window into one queue
 * submit and reads nothing back between evaluations: the loss sum, the last ‖g‖ and a count of
 * non-finite steps stay in device words (`Trainer.dev`) and come back together at each
 * evaluation (`pull`), where a non-finite step is found and rolled back or stopped. The weights,
 * moments and carried state come back at the same point, and checkpoint() returns the snapshot
 * taken then (an exact state, though up to --eval-every steps old). 'step' events carry the
 * mean loss since the last evaluation.
 */
import { isLagging, type Backend, type BackendChoice, type FloatArray, type LaggingBackend } from './backend/types.js';
import { JsBackend } from './backend/js.js';
import { ArenaPlan, type Arena } from './arena.js';
import { decodeCheckpoint, encodeCheckpoint, loadParams, modelConfigOf, modelFromCheckpoint, restoreOptimizer, type CheckpointData, type TrainState } from './checkpoint.js';
import { checkResumable, flagName, type TrainConfig } from './config.js';
import { Batcher, type Corpus, type Split } from './data.js';
import { CharRnnError } from './errors.js';
import { evaluateIdsAsync, evaluateItemsAsync } from './evaluate.js';
import { drawSamples, planRequest } from './generate.js';
import { itemsOfPart, LinesBatcher, splitFor, type Items } from './lines.js';
import { CharRNN, Workspace } from './model/model.js';
import { clipGradients, deviceClip, Optimizer } from './optim.js';
import { Rng } from './rng.js';
import { Sampler, sampleText } from './sample.js';
import { estimateIters, iterBudget, scheduleFactor } from './schedule.js';
import { describeChars } from './vocab.js';

/** One line of metrics.jsonl. Losses in nats/char and bits/char. */
export interface Metrics {
  iter: number;
  epoch: number;
  seconds: number;
  train_loss: number;
  train_bpc: number;
  val_loss: number;
  val_bpc: number;
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
  | { type: 'start'; params: number; vocabSize: number; trainChars: number; valChars: number; windowsPerEpoch: number; backend: string; engine: BackendChoice | null; resumed: boolean; iter: number }
  | { type: 'step'; iter: number; epoch: number; loss: number; smoothLoss: number; gradNorm: number; lr: number; seconds: number; charsPerSec: number; etaSeconds: number | null }
  | { type: 'eval'; metrics: Metrics; isBest: boolean }
  | { type: 'sample'; iter: number; text: string }
  /** A cosine/linear schedule's span: known from the limits at the start, or estimated from the speed under --max-time. */
  | { type: 'schedule'; iter: number; schedule: string; iters: number; estimated: boolean }
  | { type: 'nan'; iter: number; message: string }
  /** Not fatal: an exploding loss, or a rollback after a non-finite loss (--on-nan rollback). */
  | { type: 'warning'; iter: number; message: string }
  | { type: 'done'; reason: StopReason; summary: Summary };

export interface TrainerOptions {
  config: TrainConfig;
  corpus: Corpus;
  backend: Backend;
  /** Continue this run: its vocabulary must be the corpus's, and `config` may differ from its own only where resumeConfig allows. */
  resume?: CheckpointData;
  /** Clock in seconds (tests may pass a fake one). */
  now?: () => number;
  /**
   * Where a lagging backend's run draws its samples (a copy of the weights as of the last
   * evaluation); default the JS reference kernels. The CLI passes its WebAssembly backend.
   */
  hostBackend?: Backend;
}

/** A lagging backend's per-run words on the device (see the header). */
interface DeviceWords {
  be: LaggingBackend;
  arena: Arena;
  /** (1) Σ of the windows' loss sums since the last pull. */
  loss: FloatArray;
  /** (2) gradientNorm's (‖g‖, scale) of the last step. */
  clip: FloatArray;
  /** (2) non-finite steps since the last pull, and the last ‖g‖. */
  flags: FloatArray;
  /** Steps and predicted characters recorded since the last pull. */
  steps: number;
  chars: number;
  /** The first iteration since the last pull. */
  from: number;
  /** checkpoint() bytes taken at the last pull, and whether steps ran since then. */
  snapshot: Uint8Array | null;
  dirty: boolean;
}

/**
 * Can `resume` continue on this corpus with this config? The corpus must have exactly the run's
 * vocabulary (ids index the embedding and the decoder), and the config may differ only where
 * resumeConfig allows (the batch, say, is the shape of the carried state and the data cursor).
 * Throws a one-line CharRnnError; the Trainer calls it, and a CLI may call it before touching files.
 */
export function checkResume(resume: CheckpointData, config: TrainConfig, corpus: Corpus): void {
  checkResumable(resume.config, config);
  const a = resume.vocab.symbols;
  const b = corpus.vocab.symbols;
  if (a.length === b.length && a.every((x, i) => x === b[i])) return;
  const had = new Set(a);
  const now = new Set(b);
  const added = b.filter((x) => !had.has(x)).map((x) => String.fromCodePoint(x));
  const gone = a.filter((x) => !now.has(x)).map((x) => String.fromCodePoint(x));
  const diff = added.length > 0 ? `; ${describeChars(added)} new` : gone.length > 0 ? `; ${describeChars(gone)} missing` : '';
  throw new CharRnnError('cannot-resume', `the text's characters differ from the run's vocabulary (${b.length} vs ${a.length} symbols${diff}); resume with the run's own text, or start a new run`);
}

/** Items shown per sample while training a lines model. */
const SAMPLE_ITEMS = 8;

const defaultNow = (): number => performance.now() / 1000;

export class Trainer {
  readonly config: TrainConfig;
  readonly corpus: Corpus;
  readonly split: Split;
  readonly model: CharRNN;
  readonly optimizer: Optimizer;
  readonly batcher: Batcher | LinesBatcher;
  /** With --lines: the items of the training split (batched by `batcher`) and of the validation split. */
  readonly lines: { train: Items; val: Items; nl: number } | null;
  readonly ws: Workspace;
  readonly state: TrainState;
  private rng: Rng;
  private sampleRng: Rng;
  private readonly now: () => number;
  private sampler: Sampler | null = null;
  /** Set on a lagging backend (see the header). */
  private readonly dev: DeviceWords | null = null;
  private readonly hostBackend: Backend | null;
  /** A lagging run's samples come from this copy of the model on hostBackend. */
  private hostModel: CharRNN | null = null;

  constructor(opts: TrainerOptions) {
    const { config, corpus, backend, resume } = opts;
    this.config = config;
    this.corpus = corpus;
    this.now = opts.now ?? defaultNow;
    const { batch: B, seqLen: T } = config;
    this.split = splitFor(corpus.ids, corpus.vocab, config);
    if (config.lines) {
      const nl = corpus.vocab.id(10);
      const cr = corpus.vocab.id(13);
      this.lines = { train: itemsOfPart(this.split.train, nl, cr, 'training'), val: itemsOfPart(this.split.val, nl, cr, 'validation'), nl };
      this.batcher = new LinesBatcher(this.lines.train, B, T, nl, config.seed);
    } else {
      this.lines = null;
      this.batcher = new Batcher(this.split.train, B, T);
    }
    if (this.batcher.windows < 1) {
      const need = B * T + 1;
      const needTotal = Math.ceil(need / (1 - config.valFrac - config.testFrac));
      throw new CharRnnError('too-short', `the training split has ${this.split.train.length} characters but ${flagName('batch')} ${B} × ${flagName('seqLen')} ${T} needs at least ${need} (a corpus of about ${needTotal}); use a smaller --batch or --seq-len, or more text`);
    }
    if (!this.lines && this.split.val.length < 2) {
      throw new CharRnnError('too-short', `the validation split has ${this.split.val.length} characters; raise --val-frac or give more text`);
    }
    if (resume) checkResume(resume, config, corpus);
    this.model = resume ? modelFromCheckpoint(resume, backend) : new CharRNN(modelConfigOf(config, corpus.vocab.size), backend);
    this.optimizer = new Optimizer(this.model, config);
    this.ws = new Workspace(this.model, B, T, { training: true });
    if (resume?.train) {
      restoreOptimizer(resume, this.model, this.optimizer);
      this.ws.setState(resume.train.carried);
      this.state = { ...resume.train.state };
    } else {
      const rng = new Rng(config.seed);
      if (!resume) this.model.init(rng);
      this.state = {
        iter: 0, epoch: 0, window: 0, seconds: 0, trainSeconds: 0, trainChars: 0, lr: config.lr,
        scheduleIters: config.lrSchedule === 'step' ? null : iterBudget(config, this.batcher.windows),
        optimizerSteps: 0, bestValLoss: null, lastTrainLoss: null, lastValLoss: null,
        rng: rng.state, sampleRng: new Rng(config.seed ^ 0x5eed).state,
      };
    }
    this.rng = new Rng(this.state.rng);
    this.sampleRng = new Rng(this.state.sampleRng);
    if (this.batcher instanceof LinesBatcher) this.batcher.plan(this.state.epoch); // a resumed run's epoch
    this.hostBackend = isLagging(backend) ? (opts.hostBackend ?? new JsBackend()) : null;
    if (isLagging(backend)) {
      const plan = new ArenaPlan('float32');
      const sLoss = plan.floats(1);
      const sClip = plan.floats(2);
      const sFlags = plan.floats(2);
      const arena = plan.allocate(backend);
      this.dev = {
        be: backend, arena, loss: arena.floats(sLoss), clip: arena.floats(sClip), flags: arena.floats(sFlags),
        steps: 0, chars: 0, from: this.state.iter, snapshot: null, dirty: false,
      };
    }
  }

  /**
   * Give the backend memory of the run back: the model, its optimizer, workspace and sampler
   * (`trainer.model` is unusable afterwards). For a long-lived page that trains many models.
   */
  dispose(): void {
    this.sampler?.dispose();
    this.hostModel?.dispose();
    this.dev?.arena.dispose();
    this.ws.dispose();
    this.optimizer.dispose();
    this.model.dispose();
  }

  /**
   * The exact state of the run as checkpoint bytes. On a lagging backend, the state as of the
   * last evaluation (or the end of the run) once steps have run since: the device's numbers are
   * only read back there (see the header).
   */
  checkpoint(): Uint8Array {
    if (this.dev?.dirty) return this.dev.snapshot!;
    return this.encode();
  }

  private encode(): Uint8Array {
    this.state.rng = this.rng.state;
    this.state.sampleRng = this.sampleRng.state;
    this.state.optimizerSteps = this.optimizer.t;
    return encodeCheckpoint({
      config: this.config, model: this.model, vocab: this.corpus.vocab,
      train: { state: this.state, optimizer: this.optimizer, carried: this.ws.getState() },
    });
  }

  /**
   * Go back to a state taken by checkpoint(): weights, optimizer, carried state, counters and
   * generators (--on-nan rollback; the bytes stay in memory, the core does no I/O).
   */
  private restore(bytes: Uint8Array): void {
    const data = decodeCheckpoint(bytes);
    if (!data.train) throw new CharRnnError('bad-checkpoint', 'a rollback snapshot has no training state');
    loadParams(data, this.model);
    restoreOptimizer(data, this.model, this.optimizer);
    this.ws.setState(data.train.carried);
    Object.assign(this.state, data.train.state);
    this.rng = new Rng(this.state.rng);
    this.sampleRng = new Rng(this.state.sampleRng);
    if (this.dev) {
      this.dev.dirty = false; // the host's copies are what was just uploaded
      this.dev.from = this.state.iter;
    }
  }

  /**
   * Mean validation loss (nats/char): B streams over the validation split, from the zero state.
   * Async because a lagging backend sums it on the device and reads it back once.
   */
  async validationLoss(): Promise<number> {
    const { batch: B, seqLen: T } = this.config;
    if (this.lines) return (await evaluateItemsAsync(this.model, this.lines.val, this.lines.nl, { streams: B, T })).loss;
    return (await evaluateIdsAsync(this.model, this.split.val, { streams: B, T })).loss;
  }

  /**
   * A lagging backend: bring the loss sum and flags of the steps since the last pull back, with
   * the weights, moments and carried state, so checkpoint() and sampling see them. Returns what
   * went wrong in those steps (a non-finite loss or gradient), or null.
   */
  private async pull(r: Session): Promise<string | null> {
    const d = this.dev!;
    await d.be.download([d.loss, d.flags, this.model.params, this.optimizer.m, this.optimizer.v, ...this.ws.stateViews()]);
    const sum = d.loss[0];
    const bad = d.flags[0];
    const fault = d.steps > 0 && (!Number.isFinite(sum) || bad > 0)
      ? `training loss or gradient became non-finite between iterations ${d.from + 1} and ${this.state.iter} (found at the evaluation; a GPU reads its numbers back only there)`
      : null;
    if (d.steps > 0 && !fault) {
      // the steps since the last pull, as their mean: the sums and averages the CPU loop keeps per step
      const loss = sum / d.chars;
      r.loss = loss;
      r.lossSum += loss * d.steps;
      r.lossCount += d.steps;
      r.smooth = r.smooth + (1 - 0.98 ** d.steps) * (loss - r.smooth);
      r.gradNorm = d.flags[1];
    }
    d.be.fill(1, d.loss, 0);
    d.be.fill(2, d.flags, 0);
    d.steps = 0;
    d.chars = 0;
    d.from = this.state.iter;
    if (!fault) d.dirty = false; // checkpoint() encodes the host's copies again
    return fault;
  }

  /**
   * A sample from the model as it is now (drawn from the run's own sampling generator); for a
   * lines model, SAMPLE_ITEMS items (each at most `length` characters), one per line.
   */
  sample(length = this.config.sampleLength, temperature = this.config.sampleTemperature): string {
    this.sampler ??= new Sampler(this.samplingModel(), this.corpus.vocab);
    if (this.lines) {
      const req = { length, temperature, count: SAMPLE_ITEMS, lines: true };
      return drawSamples(this.sampler, req, planRequest(this.sampler, this.corpus.vocab, req), this.sampleRng).map((g) => g.text).join('\n');
    }
    return sampleText(this.sampler, { length, temperature, rng: this.sampleRng });
  }

  /**
   * The model samples are drawn from: the model itself, or on a lagging backend a copy on the
   * host backend with the weights last read back (pull), so sampling needs no readback per character.
   */
  private samplingModel(): CharRNN {
    if (!this.hostBackend) return this.model;
    this.hostModel ??= new CharRNN(this.model.config, this.hostBackend);
    this.hostModel.params.set(this.model.params);
    this.hostModel.paramsChanged();
    return this.hostModel;
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
    if (c.epochs > 0) left.push(((c.epochs - s.epoch) * this.batcher.windows - s.window) / itersPerSec);
    if (c.maxTime > 0) left.push(c.maxTime - s.seconds);
    return left.length ? Math.max(0, Math.min(...left)) : null;
  }

  /** Epochs done so far, fractional (char-rnn's count): completed epochs plus the windows of this one. */
  get epochs(): number {
    return this.state.epoch + this.state.window / this.batcher.windows;
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

  /**
   * A cosine/linear schedule under --max-time: fix the iterations it spans once the run has
   * measured its speed with evaluations included (past the first evaluation and 5% of the budget,
   * at most 30 s in; or 20% of the budget). Returns whether it fixed them now.
   */
  private fixSchedule(): boolean {
    const { config: c, state: s } = this;
    if (c.lrSchedule === 'step' || s.scheduleIters !== null || c.maxTime <= 0) return false;
    const measured = (s.iter > c.evalEvery && s.seconds >= Math.min(30, 0.05 * c.maxTime)) || s.seconds >= 0.2 * c.maxTime;
    if (!measured) return false;
    s.scheduleIters = estimateIters(s.iter, s.seconds, c, this.batcher.windows);
    return true;
  }

  /**
   * Under --max-time, at every evaluation once the span is fixed: estimate it again from the
   * speed so far, so the decay still ends with the budget when the machine's speed changes (a
   * busy machine made a 300 s run's first estimate 24% long, and its lr never decayed). Like the
   * first estimate it is in the checkpoint taken at this evaluation, so resume stays exact.
   */
  private refitSchedule(): void {
    const { config: c, state: s } = this;
    if (c.lrSchedule === 'step' || s.scheduleIters === null || c.maxTime <= 0) return;
    s.scheduleIters = estimateIters(s.iter, s.seconds, c, this.batcher.windows);
  }

  // ---- the loop ----

  /**
   * Train until a limit, an abort or a fault stops the run, yielding events. Read top to bottom:
   * a training step, every evalEvery steps an evaluation, every sampleEvery a sample; a fault
   * (a non-finite loss or gradient) rolls back or stops; at the end a last evaluation.
   */
  async *run(signal?: AbortSignal): AsyncGenerator<TrainEvent, void, undefined> {
    const r = this.beginSession();
    yield this.startEvent();
    const n = this.state.scheduleIters;
    if (this.config.lrSchedule !== 'step' && n !== null) yield { type: 'schedule', iter: this.state.iter, schedule: this.config.lrSchedule, iters: n, estimated: false };
    let reason: StopReason | null;
    while (!(reason = signal?.aborted ? 'aborted' : this.stopReason())) {
      const fault = yield* this.iteration(r);
      if (!fault && this.dev) await this.settle();
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
    if (reason !== 'nan' && this.state.iter > 0 && r.lastEvalIter !== this.state.iter) {
      const fault = this.dev ? await this.pull(r) : null;
      const ev = fault ? null : await this.evaluate(r); // the steps since the last evaluation
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
   * One iteration: a training step, then (on its iteration) an evaluation and a sample. Returns
   * what went wrong, or null. A fault leaves the state as the failed step left it: the caller
   * rolls back or stops.
   */
  private async *iteration(r: Session): AsyncGenerator<TrainEvent, string | null, undefined> {
    const { config: c, state: s } = this;
    const t0 = this.now();
    const fault = this.trainStep(r);
    if (fault) return fault;
    yield* this.countStep(r, this.now() - t0);
    const evaluating = s.iter % c.evalEvery === 0;
    const sampling = c.sampleEvery > 0 && s.iter % c.sampleEvery === 0;
    if (this.dev && (evaluating || sampling)) {
      // a lagging backend's numbers come back here: the steps' losses and flags, and the
      // weights (a sample's), moments and state (an evaluation's checkpoint)
      const lost = await this.pull(r);
      if (lost) return lost;
    }
    // Drawn before the evaluation, whose checkpoint then holds the sampling generator after this
    // sample: a run resumed from it draws its next sample as the unbroken run does.
    const sample = sampling ? this.sample() : null;
    if (evaluating) {
      const ev = await this.evaluate(r);
      if (!Number.isFinite(ev.metrics.val_loss)) return `validation loss became ${ev.metrics.val_loss} at iteration ${s.iter}`;
      this.refitSchedule();
      if (c.onNan === 'rollback') r.good = this.checkpoint(); // never a state whose loss is not finite
      yield ev;
    }
    if (sample !== null) yield { type: 'sample', iter: s.iter, text: sample };
    return null;
  }

  /**
   * One window: forward, backward, clip, update, and carry the hidden state into the next window.
   * Returns null, or what was not finite (then nothing was applied to the parameters).
   */
  private trainStep(r: Session): string | null {
    const { model, ws, state: s } = this;
    if (this.dev && !this.dev.dirty) {
      // the last state whose numbers are all on the host: checkpoint() returns it until the next pull
      this.dev.snapshot = this.encode();
      this.dev.dirty = true;
    }
    if (s.window === 0) ws.resetState(); // each epoch starts from the zero state
    const batcher = this.batcher;
    if (batcher instanceof LinesBatcher) {
      batcher.plan(s.epoch);
      batcher.fill(s.window, ws.inputs, ws.targets);
      ws.resetRows(batcher.starts); // each item from the zero state
    } else batcher.fill(s.window, ws.inputs, ws.targets);
    ws.idsWritten();
    model.zeroGrad();
    if (this.dev) return this.deviceStep(r); // the same window, its numbers left on the device
    const { loss: lossTotal, count } = model.forward(ws, { train: true, rng: this.rng });
    const loss = lossTotal / count;
    r.loss = loss;
    r.chars = count; // B·T, less the padding of a lines run
    model.backward(ws);
    const clipped = Number.isFinite(loss) ? clipGradients(model.backend, model.numParams, model.grads, this.config) : null;
    r.gradNorm = clipped?.norm ?? NaN;
    if (!clipped || !Number.isFinite(clipped.norm)) {
      return `training loss or gradient became ${Number.isFinite(loss) ? 'non-finite (gradient)' : loss} at iteration ${s.iter + 1}`;
    }
    this.optimizer.step(this.lr);
    ws.carryState();
    return null;
  }

  /**
   * trainStep's forward, backward and update on a lagging backend: the loss is added to a device
   * word, clipping and the non-finite test happen inside the update (optim.ts), and the window
   * is submitted as one command buffer. Faults are found at the next pull.
   */
  private deviceStep(r: Session): null {
    const { model, ws, config: c } = this;
    const d = this.dev!;
    const { count } = model.forward(ws, { train: true, rng: this.rng, into: d.loss });
    r.chars = count;
    model.backward(ws);
    d.be.gradientNorm(model.numParams, model.grads, c.clip, c.clipMode === 'norm', d.clip, d.flags);
    this.optimizer.step(this.lr, deviceClip(c, d.clip));
    ws.carryState();
    d.be.flush();
    d.steps++;
    d.chars += count;
    return null;
  }

  /** A lagging backend: let the device catch up (at most a couple of windows ahead), counted as training time. */
  private async settle(): Promise<void> {
    const t0 = this.now();
    await this.dev!.be.settle();
    this.state.trainSeconds += this.now() - t0;
  }

  /** Count a finished step (iteration, epoch, the lr schedule, the loss averages) and report it. */
  private *countStep(r: Session, stepSeconds: number): Generator<TrainEvent, void, undefined> {
    const { config: c, state: s } = this;
    const loss = r.loss;
    s.trainSeconds += stepSeconds;
    s.trainChars += r.chars;
    s.iter++;
    s.window++;
    if (s.window === this.batcher.windows) {
      s.window = 0;
      s.epoch++;
      if (c.lrSchedule === 'step' && s.epoch >= c.lrDecayAfter && c.lrDecay !== 1) s.lr *= c.lrDecay; // char-rnn's schedule
    }
    // a lagging backend's loss comes back at evaluations (pull), which keeps these sums then
    const counted = !this.dev;
    if (counted) {
      r.lossSum += loss;
      r.lossCount++;
    }
    const jumped = counted && loss > 3 * r.smooth && !r.exploding; // reported once until it calms down
    r.exploding = jumped || (r.exploding && loss > 1.5 * r.smooth);
    const average = r.smooth;
    if (counted) r.smooth = 0.98 * r.smooth + 0.02 * loss;
    this.tick(r);
    if (this.fixSchedule()) yield { type: 'schedule', iter: s.iter, schedule: c.lrSchedule, iters: s.scheduleIters!, estimated: true };
    yield {
      // (a lagging backend: the mean since the last evaluation, the prior before the first)
      type: 'step', iter: s.iter, epoch: this.epochs, loss: Number.isFinite(loss) || counted ? loss : r.smooth, smoothLoss: r.smooth, gradNorm: r.gradNorm, lr: this.lr,
      seconds: s.seconds, charsPerSec: s.trainChars / s.trainSeconds, etaSeconds: this.eta(1 / Math.max(1e-9, stepSeconds)),
    };
    if (jumped) yield { type: 'warning', iter: s.iter, message: `loss exploding: ${loss.toFixed(3)} at iteration ${s.iter}, over 3× its running average ${average.toFixed(3)}; if it keeps rising, lower --lr or --clip` };
  }

  /** A validation pass, and the metrics line of the iterations since the last one. */
  private async evaluate(r: Session): Promise<Extract<TrainEvent, { type: 'eval' }>> {
    const s = this.state;
    const val = await this.validationLoss();
    const train = r.lossCount > 0 ? r.lossSum / r.lossCount : (s.lastTrainLoss ?? NaN);
    r.lossSum = 0;
    r.lossCount = 0;
    s.lastTrainLoss = train;
    s.lastValLoss = val;
    const isBest = Number.isFinite(val) && (s.bestValLoss === null || val < s.bestValLoss);
    if (isBest) s.bestValLoss = val;
    r.lastEvalIter = s.iter;
    this.tick(r);
    const metrics: Metrics = {
      iter: s.iter, epoch: this.epochs, seconds: s.seconds,
      train_loss: train, train_bpc: train / Math.LN2, val_loss: val, val_bpc: val / Math.LN2,
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
    return { type: 'warning', iter: s.iter, message: `${what}; rolled back to iteration ${s.iter} and halved the learning rate to ${s.lr.toPrecision(3)} (rollback ${r.rollbacks} of ${c.maxRollbacks})` };
  }

  private nanEvent(message: string): TrainEvent {
    return { type: 'nan', iter: this.state.iter, message };
  }

  /** What one run() call keeps between iterations: the clock, loss averages, the rollback snapshot. */
  private beginSession(): Session {
    const now = this.now();
    return {
      start: now, secondsAtStart: this.state.seconds, lastYield: now,
      loss: NaN, chars: 0, lossSum: 0, lossCount: 0, smooth: this.state.lastTrainLoss ?? Math.log(this.corpus.vocab.size), exploding: false,
      gradNorm: 0, lastEvalIter: -1,
      good: this.config.onNan === 'rollback' ? this.checkpoint() : null, rollbacks: 0,
    };
  }

  private startEvent(): TrainEvent {
    const s = this.state;
    return {
      type: 'start', params: this.model.numParams, vocabSize: this.corpus.vocab.size, trainChars: this.split.train.length,
      valChars: this.split.val.length, windowsPerEpoch: this.batcher.windows, backend: this.model.backend.name,
      engine: this.model.backend.choice ?? null, resumed: s.iter > 0, iter: s.iter,
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
  /** The last step's mean loss and its count of predicted characters; the sum and count of training losses since the last evaluation. */
  loss: number;
  chars: number;
  lossSum: number;
  lossCount: number;
  /** Exponentially smoothed training loss, and whether an 'exploding' warning is still in force. */
  smooth: number;
  exploding: boolean;
  /** ‖g‖ of the last step, before clipping. */
  gradNorm: number;
  lastEvalIter: number;
  /** --on-nan rollback: the state at the last evaluation with a finite loss, and how often we went back to it. */
  good: Uint8Array | null;
  rollbacks: number;
}
