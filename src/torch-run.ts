/**
 * The prepared run directory of the PyTorch engine (python/charrnn_torch.py), as pure data:
 *
 *   torch.json   TorchRunSpec below: the run's config, model, vocabulary, where the ids are, and
 *                the thresholds of the --max-time schedule rule (src/schedule.ts) and of the
 *                loss watch (smoothing, 'loss exploding': src/step.ts)
 *   ids.bin      every token id of the corpus, flat, little-endian, uint8/16/32 as the vocabulary
 *                needs (the Python side memory-maps it: a rank reads only its own windows)
 *
 * The split is our contiguous train/val/test split (splitLengths: splitCorpus's cut) given as offsets into ids.bin,
 * so both engines read the same characters. The config and model are also given as the exact
 * JSON strings our checkpoints carry, so a checkpoint written by the Python side has the same
 * metadata as one written by ours.
 */
import { JsBackend } from './backend/js.js';
import { flagName, type TrainConfig } from './config.js';
import { modelConfigOf, type CheckpointData } from './checkpoint.js';
import { splitLengths, streamWindows } from './data.js';
import { checkRunLengths } from './lines.js';
import type { ModelConfig } from './model/model.js';
import { SCHEDULE_FIX } from './schedule.js';
import { LOSS_WATCH } from './step.js';
import { runCheckpoint, startRun } from './train.js';
import { idDtype, type IdArray, type Vocabulary } from './vocab.js';

export const TORCH_RUN_FORMAT = 'charrnn-torch-run';

export interface TorchRunSpec {
  format: typeof TORCH_RUN_FORMAT;
  version: 1;
  config: TrainConfig;
  /** JSON.stringify(config), written verbatim as the checkpoint's "config" metadata. */
  configJson: string;
  model: ModelConfig;
  modelJson: string;
  /** Code points, id order. */
  vocab: number[];
  ids: { file: string; dtype: 'uint8' | 'uint16' | 'uint32'; length: number };
  /** [begin, end) offsets into ids.bin. */
  split: { train: [number, number]; val: [number, number]; test: [number, number] };
  /** SCHEDULE_FIX, so the Python side does not keep its own copy of the thresholds. */
  scheduleFix: typeof SCHEDULE_FIX;
  /** LOSS_WATCH: the running average's smoothing and the 'loss exploding' factors, one source for both engines. */
  lossWatch: typeof LOSS_WATCH;
}

/** Knobs the torch engine does not implement, with what to do instead; null when it runs this config. */
export function torchUnsupported(config: TrainConfig): string | null {
  if (config.lines) return `${flagName('lines')} is not supported by the torch engine yet (its batcher streams running text); train a lines model with --engine ours`;
  if (config.onNan !== 'stop') return `${flagName('onNan')} ${config.onNan} is not supported by the torch engine; use ${flagName('onNan')} stop (a non-finite loss stops the run, the last checkpoint stays good)`;
  return null;
}

export function torchRunSpec(config: TrainConfig, vocab: Vocabulary, length: number): TorchRunSpec {
  const { nTrain, nVal } = splitLengths(length, config.valFrac, config.testFrac);
  const model = modelConfigOf(config, vocab.size);
  return {
    format: TORCH_RUN_FORMAT,
    version: 1,
    config,
    configJson: JSON.stringify(config),
    model,
    modelJson: JSON.stringify(model),
    vocab: [...vocab.symbols],
    ids: { file: 'ids.bin', dtype: idDtype(vocab.size), length },
    split: { train: [0, nTrain], val: [nTrain, nTrain + nVal], test: [nTrain + nVal, length] },
    scheduleFix: SCHEDULE_FIX,
    lossWatch: LOSS_WATCH,
  };
}

/**
 * The run directory's first latest.safetensors, from the corpus's vocabulary and length alone
 * (the ids may be on disk only): the checks and the start of our Trainer (runData's lengths,
 * startRun), on the reference kernels, so both engines start from the same bytes.
 */
export function torchStartCheckpoint(config: TrainConfig, vocab: Vocabulary, length: number, resume?: CheckpointData): Uint8Array {
  const { nTrain, nVal } = splitLengths(length, config.valFrac, config.testFrac);
  const windows = streamWindows(nTrain, config.batch, config.seqLen);
  checkRunLengths({ trainChars: nTrain, windows, valChars: nVal }, config);
  const run = startRun(config, vocab, windows, new JsBackend(), resume);
  try {
    return runCheckpoint(config, vocab, run, run.optimizer.t);
  } finally {
    run.ws.dispose();
    run.optimizer.dispose();
    run.model.dispose();
  }
}

/** The ids as ids.bin bytes (little-endian, as every platform we run on; see src/safetensors.ts). */
export function idBytes(ids: IdArray): Uint8Array {
  return new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength);
}
