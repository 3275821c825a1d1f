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
 */
import type { Backend } from './backend/types.js';
import { decodeCheckpoint, encodeCheckpoint, loadParams, modelConfigOf, modelFromCheckpoint, restoreOptimizer, type CheckpointData, type TrainState } from './checkpoint.js';
import { flagName, type TrainConfig } from './config.js';
import { Batcher, type Corpus, type Split } from './data.js';
import { CharRnnError } from './errors.js';
import { evaluateIds, evaluateItems } from './evaluate.js';
import { drawSamples, planRequest } from './generate.js';
import { itemsOfPart, LinesBatcher, splitFor, type Items } from './lines.js';
import { CharRNN, Workspace } from './model/model.js';
import { Optimizer } from './optim.js';
import { Rng } from './rng.js';
import { Sampler, sampleText } from './sample.js';

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
  | { type: 'start'; params: number; vocabSize: number; trainChars: number; valChars: number; windowsPerEpoch: number; backend: string; resumed: boolean; iter: number }
  | { type: 'step'; iter: number; epoch: number; loss: number; smoothLoss: number; gradNorm: number; lr: number; seconds: number; charsPerSec: number; etaSeconds: number | null }
  | { type: 'eval'; metrics: Metrics; isBest: boolean }
  | { type: 'sample'; iter: number; text: string }
  | { type: 'nan'; iter: number; message: string }
  /** Not fatal: an exploding loss, or a rollback after a non-finite loss (--on-nan rollback). */
  | { type: 'warning'; iter: number; message: string }
  | { type: 'done'; reason: StopReason; summary: Summary };

export interface TrainerOptions {
  config: TrainConfig;
  corpus: Corpus;
  backend: Backend;
  /** Continue this run (its vocabulary must be the corpus's). */
  resume?: CheckpointData;
  /** Clock in seconds (tests may pass a fake one). */
  now?: () => number;
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
  private evalWs: Workspace | null = null;
  private sampler: Sampler | null = null;

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
        optimizerSteps: 0, bestValLoss: null, lastTrainLoss: null, lastValLoss: null,
        rng: rng.state, sampleRng: new Rng(config.seed ^ 0x5eed).state,
      };
    }
    this.rng = new Rng(this.state.rng);
    this.sampleRng = new Rng(this.state.sampleRng);
    if (this.batcher instanceof LinesBatcher) this.batcher.plan(this.state.epoch); // a resumed run's epoch
  }

  /** The exact state of the run as checkpoint bytes. */
  checkpoint(): Uint8Array {
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
  }

  /** Mean validation loss (nats/char): B streams over the validation split, from the zero state. */
  validationLoss(): number {
    const { batch: B, seqLen: T } = this.config;
    this.evalWs ??= new Workspace(this.model, B, T, { training: false });
    if (this.lines) return evaluateItems(this.model, this.lines.val, this.lines.nl, { streams: B, T, ws: this.evalWs }).loss;
    return evaluateIds(this.model, this.split.val, { streams: B, T, ws: this.evalWs }).loss;
  }

  /**
   * A sample from the model as it is now (drawn from the run's own sampling generator); for a
   * lines model, SAMPLE_ITEMS items (each at most `length` characters), one per line.
   */
  sample(length = this.config.sampleLength, temperature = this.config.sampleTemperature): string {
    this.sampler ??= new Sampler(this.model, this.corpus.vocab);
    if (this.lines) {
      const req = { length, temperature, count: SAMPLE_ITEMS, lines: true };
      return drawSamples(this.sampler, req, planRequest(this.sampler, this.corpus.vocab, req), this.sampleRng).map((g) => g.text).join('\n');
    }
    return sampleText(this.sampler, { length, temperature, rng: this.sampleRng });
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

  async *run(signal?: AbortSignal): AsyncGenerator<TrainEvent, void, undefined> {
    const { config: c, model, ws, batcher, state: s } = this;
    const B = c.batch;
    const T = c.seqLen;
    yield {
      type: 'start', params: model.numParams, vocabSize: this.corpus.vocab.size, trainChars: this.split.train.length,
      valChars: this.split.val.length, windowsPerEpoch: batcher.windows, backend: model.backend.name, resumed: s.iter > 0, iter: s.iter,
    };
    const sessionStart = this.now();
    const secondsAtStart = s.seconds;
    let lastYield = sessionStart;
    let lossSum = 0; // training loss since the last evaluation
    let lossCount = 0;
    let smooth = s.lastTrainLoss ?? Math.log(this.corpus.vocab.size);
    let gradNorm = 0;
    let lastEvalIter = -1;
    let reason: StopReason | null = null;
    const tick = (): void => {
      s.seconds = secondsAtStart + (this.now() - sessionStart);
    };
    const evaluate = (): Extract<TrainEvent, { type: 'eval' }> => {
      const val = this.validationLoss();
      const train = lossCount > 0 ? lossSum / lossCount : (s.lastTrainLoss ?? NaN);
      lossSum = 0;
      lossCount = 0;
      s.lastTrainLoss = train;
      s.lastValLoss = val;
      const isBest = Number.isFinite(val) && (s.bestValLoss === null || val < s.bestValLoss);
      if (isBest) s.bestValLoss = val;
      lastEvalIter = s.iter;
      tick();
      const metrics: Metrics = {
        iter: s.iter, epoch: this.epochs, seconds: s.seconds,
        train_loss: train, train_bpc: train / Math.LN2, val_loss: val, val_bpc: val / Math.LN2,
        chars_per_s: s.trainSeconds > 0 ? s.trainChars / s.trainSeconds : 0, lr: s.lr, grad_norm: gradNorm,
      };
      return { type: 'eval', metrics, isBest };
    };

    // --on-nan rollback: the state of the last evaluation with a finite loss, and how often we went back to it
    let good = c.onNan === 'rollback' ? this.checkpoint() : null;
    let rollbacks = 0;
    let exploding = false;
    /** A non-finite loss: roll back to `good` with half the learning rate (a 'warning'), or stop (a 'nan' event). */
    const fault = (what: string): TrainEvent => {
      if (good && rollbacks < c.maxRollbacks) {
        rollbacks++;
        const lr = s.lr; // halvings add up: the snapshot holds the rate from before them
        this.restore(good);
        s.lr = lr / 2;
        lossSum = 0;
        lossCount = 0;
        smooth = s.lastTrainLoss ?? smooth;
        lastEvalIter = s.iter;
        return { type: 'warning', iter: s.iter, message: `${what}; rolled back to iteration ${s.iter} and halved the learning rate to ${s.lr.toPrecision(3)} (rollback ${rollbacks} of ${c.maxRollbacks})` };
      }
      const advice = good ? `stopped after ${rollbacks} rollback${rollbacks === 1 ? '' : 's'} (--max-rollbacks ${c.maxRollbacks})` : 'try a lower --lr or --clip, or --on-nan rollback';
      return { type: 'nan', iter: s.iter, message: `${what}; ${advice}` };
    };

    while (!(reason = this.stopReason())) {
      if (signal?.aborted) {
        reason = 'aborted';
        break;
      }
      // ---- one training step ----
      const t0 = this.now();
      if (s.window === 0) ws.resetState(); // each epoch starts from the zero state
      if (batcher instanceof LinesBatcher) {
        batcher.plan(s.epoch);
        batcher.fill(s.window, ws.inputs, ws.targets);
        ws.resetRows(batcher.starts); // each item from the zero state
      } else batcher.fill(s.window, ws.inputs, ws.targets);
      model.zeroGrad();
      const { loss: lossTotal, count } = model.forward(ws, { train: true, rng: this.rng });
      const loss = lossTotal / count;
      model.backward(ws);
      gradNorm = Number.isFinite(loss) ? this.optimizer.step(s.lr) : NaN;
      if (!Number.isFinite(gradNorm)) {
        const ev = fault(`training loss or gradient became ${Number.isFinite(loss) ? 'non-finite (gradient)' : loss} at iteration ${s.iter + 1}`);
        yield ev;
        if (ev.type === 'warning') continue;
        reason = 'nan';
        break;
      }
      ws.carryState();
      const t1 = this.now();
      s.trainSeconds += t1 - t0;
      s.trainChars += count; // B·T, less the padding of a lines run
      s.iter++;
      s.window++;
      if (s.window === batcher.windows) {
        s.window = 0;
        s.epoch++;
        if (s.epoch >= c.lrDecayAfter && c.lrDecay !== 1) s.lr *= c.lrDecay; // char-rnn's schedule
      }
      lossSum += loss;
      lossCount++;
      const jumped: boolean = loss > 3 * smooth && !exploding; // reported once until it calms down
      exploding = jumped || (exploding && loss > 1.5 * smooth);
      const average = smooth;
      smooth = 0.98 * smooth + 0.02 * loss;
      tick();
      const charsPerSec = s.trainChars / s.trainSeconds;
      yield {
        type: 'step', iter: s.iter, epoch: this.epochs, loss, smoothLoss: smooth, gradNorm, lr: s.lr,
        seconds: s.seconds, charsPerSec, etaSeconds: this.eta(1 / Math.max(1e-9, (t1 - t0))),
      };
      if (jumped) yield { type: 'warning', iter: s.iter, message: `loss exploding: ${loss.toFixed(3)} at iteration ${s.iter}, over 3× its running average ${average.toFixed(3)}; if it keeps rising, lower --lr or --clip` };
      if (s.iter % c.evalEvery === 0) {
        const ev = evaluate();
        if (!Number.isFinite(ev.metrics.val_loss)) {
          const f = fault(`validation loss became ${ev.metrics.val_loss} at iteration ${s.iter}`);
          yield f;
          if (f.type === 'warning') continue;
          reason = 'nan';
          break;
        }
        if (c.onNan === 'rollback') good = this.checkpoint(); // never a state whose loss is not finite
        yield ev;
      }
      if (c.sampleEvery > 0 && s.iter % c.sampleEvery === 0) yield { type: 'sample', iter: s.iter, text: this.sample() };
      // Let the event loop breathe (Ctrl-C, a pause button) about 20 times a second.
      if (this.now() - lastYield > 0.05) {
        await new Promise((r) => setTimeout(r, 0));
        lastYield = this.now();
      }
    }
    if (reason !== 'nan' && lastEvalIter !== s.iter && s.iter > 0) {
      const ev = evaluate();
      if (Number.isFinite(ev.metrics.val_loss)) yield ev;
      else {
        yield { type: 'nan', iter: s.iter, message: `validation loss became ${ev.metrics.val_loss} at iteration ${s.iter}; the model was not saved` };
        reason = 'nan';
      }
    }
    tick();
    yield { type: 'done', reason, summary: this.summary() };
  }
}
