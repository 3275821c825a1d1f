/**
 * Messages between the playground page and its engine worker. The worker owns the model and
 * the training loop (so the page never freezes); the page only renders.
 */
import type { TrainConfig } from '../src/config.js';
import type { TrainEvent } from '../src/train.js';

export type ToEngine =
  | { type: 'train'; text: string; config: Partial<TrainConfig> }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'reset' }
  | { type: 'sample'; prime: string; temperature: number; length: number; seed: number; count?: number; stop?: string[]; beam?: number; unique?: boolean; novelty?: boolean }
  | { type: 'save' }
  | { type: 'load'; bytes: Uint8Array; name: string }
  | { type: 'inspect'; text: string; find: string };

export type FromEngine =
  | { type: 'ready'; backend: string; threads: number; isolated: boolean }
  | { type: 'event'; event: TrainEvent }
  | { type: 'state'; state: 'idle' | 'training' | 'paused' }
  | { type: 'sample'; text: string }
  | { type: 'checkpoint'; bytes: Uint8Array; reason: 'save' | 'autosave' }
  | { type: 'loaded'; name: string; summary: string }
  | { type: 'inspect'; html: string; summary: string }
  | { type: 'error'; message: string };
