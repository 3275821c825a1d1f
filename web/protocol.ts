/**
 * Messages between the playground page and its worker. The worker owns the model and
 * the training loop (so the page never freezes); the page only renders.
 */
import type { TrainConfig } from '../src/config.js';
import type { TrainEvent } from '../src/train.js';
import type { BackendChoice } from '../src/backend/types.js';

export type ToWorker =
  /** Continue the current model if there is one (refused, with the library's message, if a setting that may not change differs), or with fresh: a new model. */
  | { type: 'train'; text: string; config: Partial<TrainConfig>; fresh?: boolean }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'reset' }
  | { type: 'sample'; prime: string; temperature: number; length: number; seed: number; count?: number; stop?: string[]; beam?: number; unique?: boolean; novelty?: boolean }
  | { type: 'save' }
  | { type: 'load'; bytes: Uint8Array; name: string }
  | { type: 'inspect'; text: string; find: string }
  /** "Use it": the current model as the JS module or ONNX (src/export). */
  | { type: 'export'; format: 'js' | 'onnx' }
  /** The writing box: the text before the caret; the answer is the assistant's completion. */
  | { type: 'suggest'; text: string };

export type FromWorker =
  /**
   * The engines: `training` trains, `cpu` samples, inspects and loads (the same backend unless
   * training runs on WebGPU, whose numbers stay on the device); `note`: why ?engine=webgpu fell back.
   */
  | { type: 'ready'; training: BackendChoice; cpu: BackendChoice; note?: string }
  | { type: 'event'; event: TrainEvent }
  | { type: 'state'; state: 'idle' | 'training' | 'paused' }
  | { type: 'sample'; text: string }
  | { type: 'checkpoint'; bytes: Uint8Array; reason: 'save' | 'autosave' }
  | { type: 'loaded'; name: string; summary: string }
  /** The model that Train would continue (its config and iterations), or null: Train starts a new one. */
  | { type: 'continuable'; config: TrainConfig | null; iter: number }
  | { type: 'inspect'; html: string; summary: string }
  /** A file for "Use it" (the JS module or ONNX). */
  | { type: 'file'; bytes: Uint8Array; name: string }
  /** The writing assistant's completion after `text` ('' when it has none; null: there is no model yet). */
  | { type: 'suggestion'; text: string; suggestion: string | null }
  /** What the budget rule chose for a new run (src/budget.ts), in a sentence. */
  | { type: 'plan'; line: string }
  /** What guessing would score on this text's training split (bits/char), beside the loss. */
  | { type: 'guessing'; vocab: number; uniform: number; unigram: number }
  /** The sample drawn again every few seconds from the same prime and seed; a lines model's items with their novelty marks. */
  | { type: 'live'; iter: number; prime: string; text: string; items?: Array<{ text: string; mark: string }> }
  | { type: 'error'; message: string };
