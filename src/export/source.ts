/**
 * What an export reads: a checkpoint as decodeCheckpoint returns it, or a live model (the page's)
 * through exportSourceOf. Weights in PyTorch's layout, by name, as the checkpoint keeps them.
 */
import { JsBackend } from '../backend/js.js';
import type { TrainState } from '../checkpoint.js';
import { CharRnnError } from '../errors.js';
import { CharRNN, paramSpecs, requireHost, type ModelConfig } from '../model/model.js';
import type { Vocabulary } from '../vocab.js';

export interface ExportSource {
  model: ModelConfig;
  vocab: Vocabulary;
  /** Parameters in PyTorch layout, by name (paramSpecs). */
  params: Map<string, Float32Array>;
  /** The training figures the header states, when known. */
  train?: { state: Pick<TrainState, 'iter' | 'bestValLoss' | 'lastValLoss'> } | null;
}

/** A checkpoint is a source as it is; this is for a model in memory (host memory: `await model.toHost()` first). */
export function exportSourceOf(model: CharRNN, vocab: Vocabulary, state?: Pick<TrainState, 'iter' | 'bestValLoss' | 'lastValLoss'>): ExportSource {
  requireHost(model, 'exportSourceOf');
  const params = new Map(model.specs.map((s) => [s.name, Float32Array.from(model.exportParam(s))]));
  return { model: model.config, vocab, params, train: state ? { state } : null };
}

/** Every parameter the configuration has, at its size, and a vocabulary of the model's size; else a one-line error. */
export function checkSource(src: ExportSource): void {
  const bad = (msg: string): never => {
    throw new CharRnnError('bad-checkpoint', `cannot export: ${msg}`);
  };
  if (src.vocab.size !== src.model.vocabSize) bad(`the vocabulary has ${src.vocab.size} characters but the model ${src.model.vocabSize}`);
  for (const s of paramSpecs(src.model)) {
    const p = src.params.get(s.name);
    if (!p) bad(`the weights have no "${s.name}"`);
    else if (p.length !== s.size) bad(`"${s.name}" has ${p.length} numbers; the model needs ${s.size} ([${s.shape}])`);
  }
}

/** All weights in the model's own order and storage (CharRNN.params: 2-D weights as (in, out)), float32. */
export function internalParams(src: ExportSource): Float32Array {
  checkSource(src);
  const model = new CharRNN(src.model, new JsBackend());
  for (const s of model.specs) model.importParam(s, src.params.get(s.name)!);
  return model.params as Float32Array;
}

/** "LSTM, 2 layers × 128 units, embedding 64, 123,456 parameters". */
export function describeModel(m: ModelConfig, params: number): string {
  const input = m.embed > 0 ? `embedding ${m.embed}` : 'one-hot input';
  return `${m.type.toUpperCase()}, ${m.layers} layer${m.layers > 1 ? 's' : ''} × ${m.hidden} units, ${input}, ${params.toLocaleString('en-US')} parameters`;
}

/** The figures a header states: iterations and validation losses, or that the checkpoint has none. */
export function trainingFigures(src: ExportSource): { iterations: number | null; bestValLoss: number | null; lastValLoss: number | null } {
  const st = src.train?.state;
  return { iterations: st?.iter ?? null, bestValLoss: st?.bestValLoss ?? null, lastValLoss: st?.lastValLoss ?? null };
}

