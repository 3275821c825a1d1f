/**
 * A sampling worker of `charrnn serve` (a worker_thread): loads every model once, on its own
 * single-threaded engine, then runs one job at a time with the library's generate(), streamed
 * for a stream (async, and a stream lets the event loop turn now and then; jobs are chained, so
 * one never starts inside another's await).
 * Parallelism comes from running several of these, one per core:
 * sampling is batch 1 and step by step, too small a job to split across threads.
 *
 * It checks the job's abort flag (see protocol.ts) before every character, so a client that
 * disconnects or a request past its deadline frees the worker within one character's time.
 *
 * Memory: every request, streamed or not, runs on its model's one Sampler: no workspace per
 * request, so the engine's memory stays flat. As a safety net, a
 * worker whose engine holds `recycleBytes` (default 64 MiB; 0 = after every request) more than
 * after loading asks to be replaced (the pool starts a new one, then retires this one), which
 * keeps the server's memory bounded however long it runs, whatever a future change leaks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CharRnnError } from '../../src/errors.js';
import { generate, type GenerateOptions } from '../../src/generate.js';
import type { CharRNN } from '../../src/model/model.js';
import { countParams } from '../../src/model/model.js';
import { Sampler } from '../../src/sample.js';
import { createBackend } from '../../src/backend/platform-node.js';
import { loadCheckpointFile } from '../checkpoint.js';
import { AbortReason, type FromWorker, type JobResult, type ModelInfo, type ToWorker, type WorkerInit } from './protocol.js';

interface Loaded {
  model: CharRNN;
  /** Every request on this model runs on it. */
  sampler: Sampler;
}

/** Stream chunks go out at least this often (ms), or when this many characters are waiting. */
const FLUSH_MS = 10;
const FLUSH_CHARS = 64;

const port = parentPort!;
const post = (m: FromWorker): void => port.postMessage(m);

async function start(init: WorkerInit): Promise<{ loaded: Map<string, Loaded>; heapBytes: () => number }> {
  const engine = await createBackend({ kind: init.backend, threads: 1 }); // one thread: the pool is the parallelism
  const loaded = new Map<string, Loaded>();
  for (const spec of init.models) {
    const { data, model } = await loadCheckpointFile(spec.path, engine);
    loaded.set(spec.name, { model, sampler: new Sampler(model, data.vocab) });
  }
  // bytes of engine memory in use: the WebAssembly and native engines count them (liveBytes); the JS engine
  // leaves its blocks to the garbage collector, so it counts as 0 and is never recycled
  const heapBytes = (): number => (engine as { liveBytes?: number }).liveBytes ?? 0;
  return { loaded, heapBytes };
}

function info(name: string, m: Loaded): ModelInfo {
  const c = m.model.config;
  return { name, type: c.type, layers: c.layers, hidden: c.hidden, embed: c.embed, vocab_size: c.vocabSize, params: countParams(c), lines: c.lines ?? false };
}

async function run(m: Loaded, msg: ToWorker): Promise<JobResult> {
  const flag = new Int32Array(msg.abort);
  const signal = {
    get aborted(): boolean {
      return Atomics.load(flag, 0) !== AbortReason.None;
    },
  };
  const { req, stream } = msg.job;
  let buf = '';
  let last = performance.now();
  const streaming: GenerateOptions = !stream ? {} : {
    onStart: ({ seed }) => post({ type: 'start', id: msg.id, seed: seed! }), // no rng given: a seed is always made
    onChar: (ch) => {
      buf += ch;
      const now = performance.now();
      if (buf.length >= FLUSH_CHARS || now - last >= FLUSH_MS) {
        post({ type: 'chunk', id: msg.id, text: buf });
        buf = '';
        last = now;
      }
    },
  };
  const r = await generate(m.sampler, req, { signal, ...streaming });
  if (buf) post({ type: 'chunk', id: msg.id, text: buf });
  let chars = 0;
  for (const s of r.samples) for (const _ of s.text) chars++;
  return { samples: r.samples, skipped: r.skipped, prime: r.prime, seed: r.seed, chars, aborted: Atomics.load(flag, 0) as AbortReason };
}

const init = workerData as WorkerInit;
start(init).then(
  ({ loaded, heapBytes }) => {
    const baseline = heapBytes();
    post({ type: 'ready', models: [...loaded].map(([name, m]) => info(name, m)) });
    const job = async (msg: ToWorker): Promise<void> => {
      const m = loaded.get(msg.job.model);
      try {
        if (!m) throw new CharRnnError('bad-request', `no model named ${JSON.stringify(msg.job.model)}`);
        const result = await run(m, msg);
        post({ type: 'done', id: msg.id, result, recycle: heapBytes() - baseline >= init.recycleBytes });
      } catch (e) {
        // the main thread checks requests first; what is left is a bad request it let through (400) or a bug (500)
        if (e instanceof CharRnnError) post({ type: 'failed', id: msg.id, status: 400, message: e.message });
        else post({ type: 'failed', id: msg.id, status: 500, message: `internal error: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` });
      }
    };
    let queue = Promise.resolve(); // job never rejects: it answers every failure itself
    port.on('message', (msg: ToWorker) => {
      queue = queue.then(() => job(msg));
    });
  },
  (e: unknown) => post({ type: 'fatal', message: e instanceof Error ? e.message.split('\n')[0] : String(e) }),
);
