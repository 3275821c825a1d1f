/**
 * charrnn — character-level RNN / LSTM / GRU language models, maths written out by hand.
 * The library does no I/O: give it bytes and text, get events, numbers and bytes back.
 * This is the entry for bundlers and browsers; Node gets index-node.ts (the same names, with
 * the worker_threads createBackend).
 */
export { DEFAULT_CONFIG, resolveConfig, newRunConfig, resumeConfig, checkResumable, checkResume, RESUMABLE_KEYS, LIMIT_KEYS, flagName, KNOBS, KNOB_GROUPS, knobFromText, knobToText, parseNumber, type TrainConfig, type OptimizerName, type Knob, type KnobInfo, type KnobGroup } from './config.js';
export { chooseModel, choosesModel, measureSpeed, paramCount, SHAPES, type ModelPlan, type ModelChoice, type BudgetInput, type Shape } from './budget.js';
export { scheduleFactor } from './schedule.js';
export { CharRnnError } from './errors.js';
export { Vocabulary, type IdArray } from './vocab.js';
export { buildCorpus, encodeParts, splitCorpus, Batcher, type Corpus, type WindowSource, type TextPart } from './data.js';
export { CharRNN, Workspace, paramSpecs, countParams, type ModelConfig, type ParamSpec } from './model/model.js';
export type { CellType } from './model/layer.js';
export { Optimizer, clipGradients, type Clipped } from './optim.js';
export { Trainer, type TrainEvent, type Metrics, type Summary, type StopReason, type TrainerOptions } from './train.js';
export { Rng, randomSeed } from './rng.js';
export { Sampler, checkSampleOptions, checkSeed, stopAt, MAX_SAMPLE_LENGTH, type SampleOptions, type SampledChar } from './sample.js';
export { generate, checkGenerateRequest, countFor, formatSamples, MAX_COUNT, MAX_BEAM, type GenerateRequest, type GenerateOptions, type GenerateStart, type GenerateResult, type Generated } from './generate.js';
export { GENERATION_DEFAULTS, LINES_COUNT, parseStop } from './generate-options.js';
export { beamSearch, beamScore, LENGTH_ALPHA, type BeamOptions } from './beam.js';
export { Assistant, checkAssistantOptions, type AssistantOptions, type Suggestion } from './write.js';
export { itemsOf, splitLines, splitFor, LinesBatcher, type Items } from './lines.js';
export { NoveltyIndex, NGRAM_SIZES, type NoveltyReport, type NoveltyMark, type NgramNovelty } from './novelty.js';
export { suffixArray, SubstringIndex } from './suffix-array.js';
export { classifyText, Attributor, type Candidate, type AuthorScore, type Attribution } from './classify.js';
export { evaluateText, evaluateIds, evaluateItems, lossSummary, guessingBits, type EvalResult } from './evaluate.js';
export { readText, findUnits, matchMask, temperatureSweep, wordsOf, type TextReading, type Track, type TrackKind, type Guess, type UnitScore, type SweepRow } from './viz/inspect.js';
export { reportHtml, inspectHtml, type ReportInput, type InspectInput, type ChartAssets, type UnitRef } from './viz/html.js';
export { lineChartSvg, heatmapSvg } from './viz/svg.js';
export { trainingCharts, type ChartSpec } from './viz/charts.js';
export { encodeCheckpoint, decodeCheckpoint, modelFromCheckpoint, FORMAT_VERSION, type CheckpointData, type TrainState } from './checkpoint.js';
export { encodeSafetensors, decodeSafetensors, type Tensor } from './safetensors.js';
export { exportJs, type JsExportOptions } from './export/js-module.js';
export { exportOnnx } from './export/onnx.js';
export { exportSourceOf, type ExportSource } from './export/source.js';
export { JsBackend } from './backend/js.js';
export type { Backend, BackendChoice, BackendKind, FloatArray } from './backend/types.js';
export { checkBackendOptions, describeChoice, type BackendOptions, type ChosenBackend } from './backend/create.js';
export { createBackend } from './backend/platform-web.js';
