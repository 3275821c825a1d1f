/**
 * Checkpoints: a safetensors file (see src/safetensors.ts and docs/checkpoint.md).
 *
 *   tensors   PyTorch state-dict names and layouts, float32:
 *             embedding.weight, rnn.weight_ih_l0 ..., decoder.weight, decoder.bias
 *             and, for resuming: optimizer.m.<name>, optimizer.v.<name> (same layout as <name>),
 *             ema.<name> (with --ema: the weights' moving average, same layout as <name>),
 *             state.h_l<k>, state.c_l<k> (B, H): the hidden state carried into the next window
 *   metadata  format = "charrnn", format_version = "1", config (JSON), model (JSON),
 *             vocab (JSON array of code points), train_state (JSON, for resuming)
 *
 * Pure bytes in, bytes out: writing files (atomically) is the caller's business.
 */
import type { Backend, FloatArray } from './backend/types.js';
import { RETIRED_KEYS, resolveConfig, type TrainConfig } from './config.js';
import { CharRnnError } from './errors.js';
import { CharRNN, paramSpecs, requireHost, type ModelConfig, type ParamSpec } from './model/model.js';
import type { Optimizer } from './optim.js';
import type { RngState } from './rng.js';
import { decodeSafetensors, encodeSafetensors, type Tensor } from './safetensors.js';
import { Vocabulary } from './vocab.js';

export const FORMAT_VERSION = 1;

/** Everything a run needs to continue exactly where it stopped. */
export interface TrainState {
  iter: number;
  /** Completed epochs. */
  epoch: number;
  /** Next window of the epoch to train on (the data cursor). */
  window: number;
  /** Wall-clock seconds of training so far, over all sessions. */
  seconds: number;
  /** Seconds spent in training steps only (for chars/s). */
  trainSeconds: number;
  trainChars: number;
  lr: number;
  /** --lr-schedule cosine/linear: the iterations the schedule spans, once fixed (null before; src/schedule.ts). */
  scheduleIters: number | null;
  optimizerSteps: number;
  bestValLoss: number | null;
  lastTrainLoss: number | null;
  lastValLoss: number | null;
  rng: RngState;
  sampleRng: RngState;
}

export interface CheckpointData {
  config: TrainConfig;
  model: ModelConfig;
  vocab: Vocabulary;
  /** Parameters in PyTorch layout, by name. */
  params: Map<string, Float32Array>;
  train: {
    state: TrainState;
    m: Map<string, Float32Array>;
    v: Map<string, Float32Array>;
    /** With --ema: the weights' moving average; null without. */
    ema: Map<string, Float32Array> | null;
    /** Carried state per layer: h (and c for an LSTM), each (B, H). */
    carried: Float32Array[];
  } | null;
}

export interface CheckpointInput {
  config: TrainConfig;
  model: CharRNN;
  vocab: Vocabulary;
  /**
   * The weights to write (the model's layout), default `model.params`, which must then be on host
   * memory: the trainer passes a device model's host copies as of its last read.
   */
  params?: FloatArray;
  train?: { state: TrainState; optimizer: Pick<Optimizer, 'm' | 'v' | 't' | 'ema'>; carried: FloatArray[] };
}

export function modelConfigOf(config: TrainConfig, vocabSize: number): ModelConfig {
  const m: ModelConfig = { type: config.model, vocabSize, hidden: config.hidden, layers: config.layers, embed: config.embed, dropout: config.dropout };
  if (config.embedDropout > 0) m.embedDropout = config.embedDropout;
  if (config.weightDrop > 0) m.weightDrop = config.weightDrop;
  if (config.lines) m.lines = true;
  return m;
}

function carriedNames(m: ModelConfig): string[] {
  const names: string[] = [];
  for (let l = 0; l < m.layers; l++) {
    names.push(`state.h_l${l}`);
    if (m.type === 'lstm') names.push(`state.c_l${l}`);
  }
  return names;
}

export function encodeCheckpoint(input: CheckpointInput): Uint8Array {
  const { model, config, vocab, train } = input;
  if (!input.params) requireHost(model, 'encodeCheckpoint');
  const params = input.params ?? model.params;
  const tensors: Array<[string, Tensor]> = [];
  const f32 = (shape: number[], data: FloatArray): Tensor => ({ dtype: 'F32', shape, data: data instanceof Float32Array ? data : Float32Array.from(data) });
  for (const s of model.specs) tensors.push([s.name, f32(s.shape, model.exportParam(s, params))]);
  const metadata: Record<string, string> = {
    format: 'charrnn',
    format_version: String(FORMAT_VERSION),
    config: JSON.stringify(config),
    model: JSON.stringify(model.config),
    vocab: JSON.stringify(vocab.symbols),
  };
  if (train) {
    for (const s of model.specs) tensors.push([`optimizer.m.${s.name}`, f32(s.shape, model.exportParam(s, train.optimizer.m))]);
    for (const s of model.specs) tensors.push([`optimizer.v.${s.name}`, f32(s.shape, model.exportParam(s, train.optimizer.v))]);
    const { ema } = train.optimizer;
    if (ema) for (const s of model.specs) tensors.push([`ema.${s.name}`, f32(s.shape, model.exportParam(s, ema))]);
    const names = carriedNames(model.config);
    names.forEach((name, i) => {
      const data = train.carried[i];
      tensors.push([name, f32([data.length / model.config.hidden, model.config.hidden], data)]);
    });
    metadata.train_state = JSON.stringify({ ...train.state, optimizerSteps: train.optimizer.t });
  }
  return encodeSafetensors(tensors, metadata);
}

const bad = (msg: string): CharRnnError => new CharRnnError('bad-checkpoint', `checkpoint ${msg}`);

function parseJson(meta: Record<string, string>, key: string): unknown {
  const text = meta[key];
  if (typeof text !== 'string') throw bad(`has no "${key}" metadata; is this a charrnn checkpoint?`);
  try {
    return JSON.parse(text);
  } catch {
    throw bad(`metadata "${key}" is not valid JSON; the file is corrupt`);
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export function decodeCheckpoint(bytes: Uint8Array): CheckpointData {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata.format !== 'charrnn') throw bad(`is not a charrnn checkpoint (metadata "format" is ${JSON.stringify(metadata.format ?? null)})`);
  const version = Number(metadata.format_version);
  if (!Number.isInteger(version) || version < 1) throw bad(`has an invalid format_version ${JSON.stringify(metadata.format_version)}`);
  if (version > FORMAT_VERSION) throw bad(`is format version ${version}, newer than this charrnn understands (${FORMAT_VERSION}); upgrade charrnn`);

  const rawConfig = parseJson(metadata, 'config');
  if (!isObject(rawConfig)) throw bad('metadata "config" is not an object');
  let config: TrainConfig;
  try {
    config = resolveConfig(Object.fromEntries(Object.entries(rawConfig).filter(([k]) => !RETIRED_KEYS.includes(k))) as Partial<TrainConfig>);
  } catch (e) {
    throw bad(`config is invalid: ${(e as Error).message}`);
  }
  const rawVocab = parseJson(metadata, 'vocab');
  if (!Array.isArray(rawVocab) || rawVocab.length === 0) throw bad('vocabulary is missing or empty');
  for (let i = 0; i < rawVocab.length; i++) {
    const cp = rawVocab[i];
    if (!Number.isInteger(cp) || cp < 0 || cp > 0x10ffff || (i > 0 && cp <= rawVocab[i - 1])) {
      throw bad(`vocabulary entry ${i} (${JSON.stringify(cp)}) is not a code point in ascending order`);
    }
  }
  const vocab = new Vocabulary(rawVocab as number[]);
  const model = modelConfigOf(config, vocab.size);
  const rawModel = parseJson(metadata, 'model');
  if (!isObject(rawModel)) throw bad('metadata "model" is not an object');
  for (const k of Object.keys(model) as (keyof ModelConfig)[]) {
    if (rawModel[k] !== model[k]) throw bad(`model.${k} = ${JSON.stringify(rawModel[k])} disagrees with its config/vocabulary (${JSON.stringify(model[k])})`);
  }

  const specs = paramSpecs(model);
  const take = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw bad(`is missing tensor "${name}"`);
    if (t.dtype !== 'F32') throw bad(`tensor "${name}" is ${t.dtype}; expected F32`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw bad(`tensor "${name}" has shape [${t.shape}] but the config needs [${shape}]`);
    }
    const data = t.data as Float32Array;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw bad(`tensor "${name}" contains NaN or infinite values`);
    return data;
  };
  const params = new Map(specs.map((s) => [s.name, take(s.name, s.shape)]));

  let train: CheckpointData['train'] = null;
  if (metadata.train_state !== undefined) {
    const st = parseJson(metadata, 'train_state');
    const state = validateTrainState(st);
    const m = new Map(specs.map((s) => [s.name, take(`optimizer.m.${s.name}`, s.shape)]));
    const v = new Map(specs.map((s) => [s.name, take(`optimizer.v.${s.name}`, s.shape)]));
    const ema = config.ema > 0 ? new Map(specs.map((s) => [s.name, take(`ema.${s.name}`, s.shape)])) : null;
    const carried = carriedNames(model).map((name) => take(name, [config.batch, config.hidden]));
    train = { state, m, v, ema, carried };
  }
  return { config, model, vocab, params, train };
}

function validateTrainState(st: unknown): TrainState {
  if (!isObject(st)) throw bad('train_state is not an object');
  const num = (k: string, min = 0): number => {
    const x = st[k];
    if (typeof x !== 'number' || !Number.isFinite(x) || x < min) throw bad(`train_state.${k} is ${JSON.stringify(x)}; expected a number ≥ ${min}`);
    return x;
  };
  const nullableNum = (k: string): number | null => (st[k] === null ? null : num(k, -Infinity));
  const rngState = (k: string): RngState => {
    const x = st[k];
    if (!Array.isArray(x) || x.length !== 4 || x.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) throw bad(`train_state.${k} is not a generator state`);
    return x as RngState;
  };
  return {
    iter: num('iter'),
    epoch: num('epoch'),
    window: num('window'),
    seconds: num('seconds'),
    trainSeconds: num('trainSeconds'),
    trainChars: num('trainChars'),
    lr: num('lr'),
    scheduleIters: st.scheduleIters === undefined ? null : nullableNum('scheduleIters'), // absent in older checkpoints
    optimizerSteps: num('optimizerSteps'),
    bestValLoss: nullableNum('bestValLoss'),
    lastTrainLoss: nullableNum('lastTrainLoss'),
    lastValLoss: nullableNum('lastValLoss'),
    rng: rngState('rng'),
    sampleRng: rngState('sampleRng'),
  };
}

/** Build a model on `backend` with the checkpoint's weights. */
export function modelFromCheckpoint(data: CheckpointData, backend: Backend): CharRNN {
  const model = new CharRNN(data.model, backend);
  loadParams(data, model);
  return model;
}

/** Copy the checkpoint's weights into a model of the same configuration. */
export function loadParams(data: CheckpointData, model: CharRNN): void {
  for (const s of model.specs) model.importParam(s, data.params.get(s.name)!);
  model.paramsChanged();
}

/** Load optimizer moments (and the weights' moving average) saved in PyTorch layout back into the optimizer's buffers. */
export function restoreOptimizer(data: CheckpointData, model: CharRNN, opt: Optimizer): void {
  if (!data.train) return;
  const put = (src: Map<string, Float32Array>, into: FloatArray): void => {
    for (const s of model.specs as ParamSpec[]) model.importParam(s, src.get(s.name)!, into);
  };
  put(data.train.m, opt.m);
  put(data.train.v, opt.v);
  model.backend.upload(opt.m);
  model.backend.upload(opt.v);
  if (opt.ema) {
    if (!data.train.ema) throw bad('has no ema.* tensors for its --ema run; resume it with the --ema it was saved with');
    put(data.train.ema, opt.ema);
    model.backend.upload(opt.ema);
  }
  opt.t = data.train.state.optimizerSteps;
}
