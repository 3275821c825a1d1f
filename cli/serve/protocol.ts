/**
 * The messages between the server's main thread and its sampling workers (cli/serve/worker.ts).
 *
 * Cancelling: every job carries a SharedArrayBuffer holding one Int32. The main thread stores a
 * non-zero AbortReason there (the client went away, the deadline passed, the server is shutting
 * down) and the worker, which is busy in a synchronous loop and so cannot receive messages,
 * reads it with Atomics.load before each character and stops.
 */
import type { GenerateRequest, Generated } from '../../src/generate.js';

export interface ModelSpec {
  name: string;
  path: string;
}

/** What GET /v1/models says about a model. */
export interface ModelInfo {
  name: string;
  /** rnn, lstm or gru. */
  type: string;
  layers: number;
  hidden: number;
  embed: number;
  vocab_size: number;
  params: number;
  /** Trained with --lines (one item per line), when the checkpoint says so. */
  lines: boolean;
}

export type Backend = 'auto' | 'native' | 'wasm' | 'js';

export interface WorkerInit {
  models: ModelSpec[];
  backend: Backend;
  /** Heap growth (bytes) at which a worker asks to be replaced (see worker.ts); 0 = after every job. */
  recycleBytes: number;
}

export const enum AbortReason {
  None = 0,
  ClientGone = 1,
  Deadline = 2,
  Shutdown = 3,
}

export interface JobSpec {
  model: string;
  req: GenerateRequest;
  /** Stream: a start message, then characters (chunk messages) as they are drawn; count 1, no beam. */
  stream: boolean;
}

export interface JobResult {
  samples: Generated[];
  skipped: string[];
  /** The prime as the model read it (unknown characters dropped). */
  prime: string;
  /** The seed the samples were drawn with (the request's, or the one generate() made); null if cancelled before it started. */
  seed: number | null;
  /** Characters generated, all samples together. */
  chars: number;
  /** Why it stopped early, or None when it ran to the end. */
  aborted: AbortReason;
}

export type ToWorker = { type: 'job'; id: number; job: JobSpec; abort: SharedArrayBuffer };

export type FromWorker =
  | { type: 'ready'; models: ModelInfo[] }
  | { type: 'fatal'; message: string }
  /** A stream's request is checked and about to draw: its seed (for the stream's first event). */
  | { type: 'start'; id: number; seed: number }
  | { type: 'chunk'; id: number; text: string }
  /** recycle: this worker's memory has grown past its budget; replace it (see worker.ts). */
  | { type: 'done'; id: number; result: JobResult; recycle: boolean }
  | { type: 'failed'; id: number; status: number; message: string };
