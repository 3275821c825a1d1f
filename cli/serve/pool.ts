/**
 * A bounded pool of sampling workers with a bounded queue.
 *
 *   N workers (worker_threads), each running one job at a time  → at most N jobs generating
 *   a FIFO queue of at most Q jobs waiting for a worker           → run() throws QueueFull past that
 *
 * so the server's memory and latency stay bounded under any load: past N + Q requests in
 * flight, new ones are answered 503 at once instead of piling up. A job can be cancelled at any
 * moment: while queued it is dropped, while running its abort flag is raised (protocol.ts) and
 * the worker stops before the next character. A worker that dies fails its job and is replaced;
 * one that asks to be recycled (its heap has grown, see worker.ts) keeps serving until its
 * replacement has loaded the models, then retires.
 */
import { Worker } from 'node:worker_threads';
import { AbortReason, type Backend, type FromWorker, type JobResult, type JobSpec, type ModelInfo, type ModelSpec, type WorkerInit } from './protocol.js';

export class QueueFull extends Error {}

/** A job the worker refused (status 400) or failed on (500). */
export class JobFailed extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The answer of a job cancelled before a worker took it: nothing generated. */
const unstarted = (aborted: AbortReason): JobResult => ({ samples: [], skipped: [], prime: '', seed: null, chars: 0, aborted });

/** What a streamed job reports before it is done: its seed once it starts, then chunks of characters. */
export interface StreamEvents {
  onStart?: (seed: number) => void;
  onChunk?: (text: string) => void;
}

export interface RunningJob {
  /** Resolves with the result (aborted ≠ None if cancelled); rejects with JobFailed. */
  done: Promise<JobResult>;
  /** Stop the job (no-op once finished). */
  cancel(reason: AbortReason): void;
}

interface Task {
  id: number;
  job: JobSpec;
  abort: Int32Array; // (1) the shared flag
  events: StreamEvents;
  resolve(r: JobResult): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  task: Task | null;
  /** A replacement is loading (this one still serves). */
  retiring: boolean;
  /** The replacement is ready: stop this one as soon as it is idle. */
  replaced: boolean;
  /** Terminated on purpose: its exit is no failure. */
  retired: boolean;
}

export interface PoolOptions {
  models: ModelSpec[];
  workers: number;
  queue: number;
  backend: Backend;
  /** See WorkerInit. */
  recycleBytes: number;
}

export interface PoolStats {
  workers: number;
  busy: number;
  queued: number;
  /** Jobs finished, cancelled (client gone, deadline or shutdown), refused (queue full), failed. */
  done: number;
  cancelled: number;
  refused: number;
  failed: number;
  /** Workers replaced because their memory grew. */
  recycled: number;
}

const WORKER = new URL('./worker.js', import.meta.url);

export class Pool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Task[] = [];
  private nextId = 1;
  private closing = false;
  private readonly counts = { done: 0, cancelled: 0, refused: 0, failed: 0, recycled: 0 };

  private constructor(readonly opts: PoolOptions, readonly models: ModelInfo[]) {}

  /** Start the workers; rejects with the first worker's load error (a bad checkpoint, say). */
  static async start(opts: PoolOptions): Promise<Pool> {
    const spawned = Array.from({ length: opts.workers }, () => spawn(opts));
    const results = await Promise.allSettled(spawned);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      for (const r of results) if (r.status === 'fulfilled') void r.value.worker.terminate();
      throw (failed as PromiseRejectedResult).reason;
    }
    const ok = results as PromiseFulfilledResult<{ worker: Worker; models: ModelInfo[] }>[];
    const pool = new Pool(opts, ok[0].value.models);
    for (const r of ok) pool.adopt(r.value.worker);
    return pool;
  }

  /** Queue a job; throws QueueFull when every worker is busy and the queue is full. */
  run(job: JobSpec, events: StreamEvents = {}): RunningJob {
    if (this.closing) throw new QueueFull('the server is shutting down');
    const idle = this.slots.find((s) => s.task === null && !s.retired);
    if (!idle && this.waiting.length >= this.opts.queue) {
      this.counts.refused++;
      throw new QueueFull(`all ${this.slots.length} workers are busy and ${this.waiting.length} requests are queued`);
    }
    const abort = new Int32Array(new SharedArrayBuffer(4));
    let task!: Task;
    const done = new Promise<JobResult>((resolve, reject) => {
      task = { id: this.nextId++, job, abort, events, resolve, reject };
    });
    if (idle) this.dispatch(idle, task);
    else this.waiting.push(task);
    const cancel = (reason: AbortReason): void => {
      const i = this.waiting.indexOf(task);
      if (i >= 0) {
        // never started: answer now, nothing generated
        this.waiting.splice(i, 1);
        this.counts.cancelled++;
        task.resolve(unstarted(reason));
      } else if (Atomics.load(abort, 0) === AbortReason.None) {
        Atomics.store(abort, 0, reason); // the worker sees it before its next character
      }
    };
    return { done, cancel };
  }

  stats(): PoolStats {
    return { workers: this.slots.length, busy: this.slots.filter((s) => s.task).length, queued: this.waiting.length, ...this.counts };
  }

  /** Jobs queued or running. */
  get inFlight(): number {
    return this.waiting.length + this.slots.filter((s) => s.task).length;
  }

  /** Refuse new jobs from now on (shutdown has begun). */
  stopAccepting(): void {
    this.closing = true;
  }

  /** Cancel every job, queued or running, with this reason. */
  cancelAll(reason: AbortReason): void {
    for (const t of this.waiting.splice(0)) {
      this.counts.cancelled++;
      t.resolve(unstarted(reason));
    }
    for (const s of this.slots) if (s.task && Atomics.load(s.task.abort, 0) === AbortReason.None) Atomics.store(s.task.abort, 0, reason);
  }

  /** Stop the workers (after the jobs have finished or been cancelled). */
  async close(): Promise<void> {
    this.closing = true;
    this.cancelAll(AbortReason.Shutdown);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private adopt(worker: Worker): Slot {
    const slot: Slot = { worker, task: null, retiring: false, replaced: false, retired: false };
    this.slots.push(slot);
    worker.on('message', (m: FromWorker) => this.onMessage(slot, m));
    worker.on('error', () => { /* followed by 'exit' */ });
    worker.on('exit', () => this.onExit(slot));
    return slot;
  }

  /** Start a replacement for `old`; once it is ready, it takes the queue and `old` stops when idle. */
  private recycle(old: Slot): void {
    if (old.retiring || this.closing) return;
    old.retiring = true;
    this.counts.recycled++;
    spawn(this.opts).then(
      ({ worker }) => {
        if (this.closing) return void worker.terminate();
        this.next(this.adopt(worker));
        old.replaced = true;
        if (!old.task) this.retire(old);
      },
      () => {
        old.retiring = false; // cannot start one now: keep the old worker
      },
    );
  }

  private retire(slot: Slot): void {
    slot.retired = true;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.worker.terminate();
  }

  private dispatch(slot: Slot, task: Task): void {
    slot.task = task;
    slot.worker.postMessage({ type: 'job', id: task.id, job: task.job, abort: task.abort.buffer as SharedArrayBuffer });
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    const task = slot.task;
    if (!task || !('id' in m) || m.id !== task.id) return;
    if (m.type === 'start') {
      task.events.onStart?.(m.seed);
      return;
    }
    if (m.type === 'chunk') {
      task.events.onChunk?.(m.text);
      return;
    }
    slot.task = null;
    if (m.type === 'done') {
      if (m.result.aborted === AbortReason.None) this.counts.done++;
      else this.counts.cancelled++;
      task.resolve(m.result);
      if (m.recycle) this.recycle(slot);
    } else if (m.type === 'failed') {
      this.counts.failed++;
      task.reject(new JobFailed(m.status, m.message));
    }
    if (slot.replaced) this.retire(slot);
    else this.next(slot);
  }

  private next(slot: Slot): void {
    const task = this.waiting.shift();
    if (task) this.dispatch(slot, task);
  }

  /** A worker died (a bug, or out of memory): fail its job, replace it. */
  private onExit(slot: Slot): void {
    if (slot.retired) return;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    if (slot.task) {
      this.counts.failed++;
      slot.task.reject(new JobFailed(500, 'internal error: a sampling worker stopped; the request was not completed'));
      slot.task = null;
    }
    if (this.closing) return;
    spawn(this.opts).then(
      ({ worker }) => {
        if (this.closing) void worker.terminate();
        else this.next(this.adopt(worker));
      },
      () => { /* it loaded once; if it cannot now, serve with one worker fewer */ },
    );
  }
}

/** Start one worker and wait until it has loaded the models. */
function spawn(opts: PoolOptions): Promise<{ worker: Worker; models: ModelInfo[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: { models: opts.models, backend: opts.backend, recycleBytes: opts.recycleBytes } satisfies WorkerInit });
    const onExit = (code: number): void => reject(new Error(`a sampling worker exited while loading (code ${code})`));
    worker.once('exit', onExit);
    worker.once('error', (e) => reject(e));
    worker.once('message', (m: FromWorker) => {
      worker.off('exit', onExit);
      if (m.type === 'ready') resolve({ worker, models: m.models });
      else {
        void worker.terminate();
        reject(new Error(m.type === 'fatal' ? m.message : 'a sampling worker did not start'));
      }
    });
  });
}
