/**
 * Worker threads for the WebAssembly backend: the job protocol (used by both sides, so a Web
 * Worker host can reuse it) and the calling thread's side of the pool.
 *
 * Every worker instantiates the same kernel module on the same shared WebAssembly.Memory, so a
 * job is a handful of numbers (pointers and sizes) in one pool-wide job block. A job is cut into
 * chunks; the caller and the workers take chunks from a shared counter until none are left.
 * That keeps the caller busy instead of waiting, and on a loaded machine (2 cores, other
 * processes) a descheduled worker costs nothing: a worker that has not taken the job by the time
 * the caller ran out of chunks is simply cancelled, never waited for.
 *
 * Per-worker control block, STATE: IDLE -> POSTED (caller) -> TAKEN (worker, by CAS) -> FINISHED
 * (worker) -> IDLE (caller); or POSTED -> IDLE (caller cancels by CAS). A worker spins on STATE
 * (round trip ≈ 1 µs) and after SPIN_MS of idling sleeps in Atomics.wait, flagging SLEEPING so
 * the caller knows to notify.
 */
import type { KernelExports } from './wasm-abi.js';

// Int32 slots of a worker's control block
const STATE = 0;
const SLEEPING = 1; // 1 while the worker is (about to be) in Atomics.wait
const FAILED = 2; // 1 if the worker's last job threw
const CONTROL_BYTES = 16;
const IDLE = 0, POSTED = 1, TAKEN = 2, FINISHED = 3;

// Job block: Int32 NEXT (chunk counter) then Float64 arguments, a[0] = op
const NEXT = 0;
const ARGS_OFFSET = 16;
const ARG_SLOTS = 24;
const JOB_BYTES = ARGS_OFFSET + ARG_SLOTS * 8;

/**
 * How long an idle worker spins before sleeping: about the gap between GEMMs in a training step.
 * A worker that overslept only joins a job late (the caller has started on the chunks), so this
 * can be short, which wastes less CPU on a busy machine.
 */
const SPIN_MS = 0.5;
/** How long the caller spins on a worker's last chunk before blocking. */
const AWAIT_SPIN_MS = 0.05;

export const OP_GEMM = 1;
export const OP_EXIT = 2;
const OP_CELL = 3;
/**
 * OP_LSTM_STEP / OP_LSTM_BACK: one LSTM time step (KernelExports.lstmStepUnits /
 * lstmStepBackUnits) split by hidden units, in chunks of whole 16-unit panels.
 * a[1..] = the kernel's arguments before u0, u1; a[23] = chunks.
 */
const OP_LSTM_STEP = 4;
const OP_LSTM_BACK = 5;
const STEP_CHUNKS = 23;

/**
 * OP_GEMM arguments: a[1..19] are those of KernelExports.gemmTask with rows [0, M) and panels
 * [0, nP); then a[20] = M, a[21] = nP, a[22] = 1 to cut by panels (else by pairs of rows),
 * a[23] = number of chunks.
 */
export const GEMM_M = 20, GEMM_NP = 21, GEMM_BY_PANELS = 22, GEMM_CHUNKS = 23;

/**
 * OP_CELL: a fused cell-step kernel (elementwise, row by row) over rows of the batch.
 * a[1] = kernel (CELL_KERNELS index), a[2] = B, a[3] = H, a[4..12) = pointers (as the kernel
 * takes them after B, H), a[12..20) = each pointer's bytes per batch row, a[23] = chunks.
 * Every element is computed the same whatever rows a chunk has, so results do not depend on
 * the split.
 */
const CELL_KERNEL = 1, CELL_B = 2, CELL_H = 3, CELL_PTRS = 4, CELL_STRIDES = 12, CELL_CHUNKS = 23;
export const CELL_KERNELS = ['lstmForward', 'lstmBackward', 'gruForward', 'gruBackward', 'rnnForward', 'rnnBackward'] as const;
export type CellKernel = (typeof CELL_KERNELS)[number];
/** Floats per batch row of each pointer a cell kernel takes, in units of H (gates 4H, GRU's 3H, states H). */
const CELL_ROWS: Record<CellKernel, readonly number[]> = {
  lstmForward: [4, 1, 1, 1], lstmBackward: [4, 1, 1, 1, 1, 1, 4],
  gruForward: [3, 3, 1, 3, 1], gruBackward: [3, 3, 1, 1, 1, 3, 3, 1],
  rnnForward: [1, 1], rnnBackward: [1, 1, 1, 1],
};

/**
 * Run a cell kernel on n batch rows, pointers as it takes them after B, H (those it does not
 * take are ignored): on the calling thread, and on each chunk of an OP_CELL job.
 */
export function runCell(k: KernelExports, kernel: CellKernel, n: number, H: number,
  p0: number, p1: number, p2: number, p3: number, p4: number, p5: number, p6: number, p7: number): void {
  switch (kernel) {
    case 'lstmForward': return k.lstmForward(n, H, p0, p1, p2, p3);
    case 'lstmBackward': return k.lstmBackward(n, H, p0, p1, p2, p3, p4, p5, p6);
    case 'gruForward': return k.gruForward(n, H, p0, p1, p2, p3, p4);
    case 'gruBackward': return k.gruBackward(n, H, p0, p1, p2, p3, p4, p5, p6, p7);
    case 'rnnForward': return k.rnnForward(n, H, p0, p1);
    case 'rnnBackward': return k.rnnBackward(n, H, p0, p1, p2, p3);
    default: throw new Error(`unknown cell kernel ${String(kernel)}`);
  }
}

/** Take OP_CELL chunks (runs of batch rows) from the shared counter and run them. */
function runCellChunks(k: KernelExports, next: Int32Array, a: Float64Array): void {
  const chunks = a[CELL_CHUNKS], B = a[CELL_B], H = a[CELL_H];
  const p = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let c = Atomics.add(next, NEXT, 1); c < chunks; c = Atomics.add(next, NEXT, 1)) {
    const b0 = Math.round((B * c) / chunks), b1 = Math.round((B * (c + 1)) / chunks);
    if (b0 >= b1) continue;
    for (let i = 0; i < 8; i++) p[i] = a[CELL_PTRS + i] + b0 * a[CELL_STRIDES + i];
    runCell(k, CELL_KERNELS[a[CELL_KERNEL]], b1 - b0, H, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
  }
}

/** Take OP_LSTM_STEP / OP_LSTM_BACK chunks (runs of 16-unit blocks) and run them. */
function runStepChunks(k: KernelExports, next: Int32Array, a: Float64Array, back: boolean): void {
  const chunks = a[STEP_CHUNKS], H = a[2], blocks = H / 16;
  for (let c = Atomics.add(next, NEXT, 1); c < chunks; c = Atomics.add(next, NEXT, 1)) {
    const u0 = 16 * Math.round((blocks * c) / chunks), u1 = 16 * Math.round((blocks * (c + 1)) / chunks);
    if (u0 >= u1) continue;
    if (back) k.lstmStepBackUnits(a[1], H, a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], u0, u1);
    else k.lstmStepUnits(a[1], H, a[3], a[4], a[5], a[6], a[7], a[8], u0, u1);
  }
}

/** Run the job in a (an OP_*): the caller and every worker that took it. */
function runJob(k: KernelExports, next: Int32Array, a: Float64Array): void {
  const op = a[0];
  if (op === OP_GEMM) runGemmChunks(k, next, a);
  else if (op === OP_CELL) runCellChunks(k, next, a);
  else if (op === OP_LSTM_STEP || op === OP_LSTM_BACK) runStepChunks(k, next, a, op === OP_LSTM_BACK);
  else throw new Error(`unknown op ${op}`);
}

/** What a worker needs to start: posted once (Module, shared Memory and SABs are cloneable). */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  job: SharedArrayBuffer;
}

/** A started worker, as the platform's spawner returns it once the worker is serving jobs. */
export interface WorkerHandle {
  terminate(): unknown;
}
/** Platform hook: start a worker that calls `serveJobs` (see wasm-worker-node.ts). */
export type SpawnWorker = (init: WorkerInit) => Promise<WorkerHandle>;

/** Take GEMM chunks from the shared counter and run them until none are left (caller and workers alike). */
export function runGemmChunks(k: KernelExports, next: Int32Array, a: Float64Array): void {
  const chunks = a[GEMM_CHUNKS];
  const M = a[GEMM_M], nP = a[GEMM_NP], byPanels = a[GEMM_BY_PANELS] === 1;
  for (let c = Atomics.add(next, NEXT, 1); c < chunks; c = Atomics.add(next, NEXT, 1)) {
    let i0 = 0, i1 = M, p0 = 0, p1 = nP;
    if (byPanels) {
      p0 = Math.round((nP * c) / chunks);
      p1 = Math.round((nP * (c + 1)) / chunks);
    } else {
      // pairs of rows, so every chunk but the last keeps the 2-row register tile full
      i0 = Math.min(M, 2 * Math.round((M / 2) * (c / chunks)));
      i1 = Math.min(M, 2 * Math.round((M / 2) * ((c + 1) / chunks)));
    }
    if (i0 >= i1 || p0 >= p1) continue;
    k.gemmTask(a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11],
      i0, i1, p0, p1, a[16], a[17], a[18], a[19]);
  }
}

/** The worker side: serve jobs until OP_EXIT. Blocks its thread (the worker does nothing else). */
export function serveJobs(init: WorkerInit, k: KernelExports): void {
  const ints = new Int32Array(init.control, 0, CONTROL_BYTES / 4);
  const next = new Int32Array(init.job, 0, 1);
  const a = new Float64Array(init.job, ARGS_OFFSET, ARG_SLOTS);
  for (;;) {
    let s = Atomics.load(ints, STATE);
    if (s !== POSTED) {
      let until = performance.now() + SPIN_MS;
      let spins = 0;
      while ((s = Atomics.load(ints, STATE)) !== POSTED) {
        if ((++spins & 1023) === 0 && performance.now() > until) {
          Atomics.store(ints, SLEEPING, 1);
          Atomics.wait(ints, STATE, s); // returns at once if STATE already changed
          Atomics.store(ints, SLEEPING, 0);
          until = performance.now() + SPIN_MS;
        }
      }
    }
    if (Atomics.compareExchange(ints, STATE, POSTED, TAKEN) !== POSTED) continue; // cancelled
    const op = a[0];
    if (op === OP_EXIT) {
      Atomics.store(ints, STATE, FINISHED);
      return;
    }
    try {
      runJob(k, next, a);
    } catch {
      Atomics.store(ints, FAILED, 1);
    }
    Atomics.store(ints, STATE, FINISHED);
    Atomics.notify(ints, STATE); // in case the caller is blocked in awaitFinished
  }
}

/** The calling thread's side: fill args(), run(), in which the caller works on the job too. */
export class WorkerPool {
  private readonly ints: Int32Array[];
  private readonly next: Int32Array;
  private readonly a: Float64Array;
  private closed = false;
  private canBlock = true;
  /** Jobs run, and worker participations in them (a worker cancelled before it woke does not count). */
  readonly stats = { jobs: 0, helped: 0 };

  private constructor(controls: SharedArrayBuffer[], job: SharedArrayBuffer, private readonly handles: WorkerHandle[]) {
    this.ints = controls.map((c) => new Int32Array(c, 0, CONTROL_BYTES / 4));
    this.next = new Int32Array(job, 0, 1);
    this.a = new Float64Array(job, ARGS_OFFSET, ARG_SLOTS);
  }

  static async start(count: number, spawn: SpawnWorker, module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<WorkerPool> {
    const job = new SharedArrayBuffer(JOB_BYTES);
    const controls = Array.from({ length: count }, () => new SharedArrayBuffer(CONTROL_BYTES));
    const settled = await Promise.allSettled(controls.map((control) => spawn({ module, memory, control, job })));
    const handles = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      for (const h of handles) void h.terminate();
      throw failed.reason;
    }
    return new WorkerPool(controls, job, handles);
  }

  /** Number of workers (threads besides the caller). */
  get size(): number {
    return this.closed ? 0 : this.handles.length;
  }

  /** The job's argument slots. Only between run() calls (all workers are idle then). */
  args(): Float64Array {
    return this.a;
  }

  /**
   * A cell kernel split by batch rows over all threads (OP_CELL); p: its pointers as it takes
   * them after B, H. Each row is computed as on one thread, so results do not depend on the split.
   */
  runCells(k: KernelExports, kernel: CellKernel, B: number, H: number, p: readonly number[]): void {
    const a = this.a, rows = CELL_ROWS[kernel];
    a[0] = OP_CELL;
    a[CELL_KERNEL] = CELL_KERNELS.indexOf(kernel);
    a[CELL_B] = B;
    a[CELL_H] = H;
    for (let i = 0; i < 8; i++) {
      a[CELL_PTRS + i] = p[i] ?? 0;
      a[CELL_STRIDES + i] = 4 * H * (rows[i] ?? 0);
    }
    a[CELL_CHUNKS] = Math.min(B, 2 * (this.size + 1));
    this.run(k);
  }

  /**
   * One LSTM time step (back: its backward) split by 16-unit blocks of hidden units over all
   * threads (OP_LSTM_STEP, OP_LSTM_BACK); args: the kernel's arguments before u0, u1 (B, H first).
   */
  runLstmStep(k: KernelExports, back: boolean, args: readonly number[]): void {
    const a = this.a;
    a[0] = back ? OP_LSTM_BACK : OP_LSTM_STEP;
    for (let i = 0; i < args.length; i++) a[1 + i] = args[i];
    a[STEP_CHUNKS] = Math.min(args[1] / 16, 4 * (this.size + 1));
    this.run(k);
  }

  /** Post the job in args() to every worker, work on it here too, return when it is complete. */
  run(k: KernelExports): void {
    this.stats.jobs++;
    Atomics.store(this.next, NEXT, 0);
    for (const ints of this.ints) {
      Atomics.store(ints, STATE, POSTED);
      if (Atomics.load(ints, SLEEPING)) Atomics.notify(ints, STATE);
    }
    try {
      runJob(k, this.next, this.a);
    } finally {
      this.finish();
    }
  }

  /** Cancel workers that never took the job; wait for those that did. Rethrow a worker's failure. */
  private finish(): void {
    let failed = false;
    for (const ints of this.ints) {
      if (Atomics.compareExchange(ints, STATE, POSTED, IDLE) === POSTED) continue;
      this.stats.helped++;
      this.awaitFinished(ints);
      Atomics.store(ints, STATE, IDLE);
      if (ints[FAILED]) {
        ints[FAILED] = 0;
        failed = true;
      }
    }
    if (failed) throw new Error('wasm worker job failed (out-of-bounds pointer or bad shape?)');
  }

  /**
   * Wait while a worker runs its last chunk: spin briefly (the usual case, microseconds), then,
   * where the thread may block (Node's main thread, workers; not a browser's main thread), sleep
   * in Atomics.wait so that on an oversubscribed machine the worker gets the core it needs.
   */
  private awaitFinished(ints: Int32Array): void {
    const until = performance.now() + AWAIT_SPIN_MS;
    let spins = 0;
    while (Atomics.load(ints, STATE) !== FINISHED) {
      if ((++spins & 255) !== 0 || performance.now() < until) continue;
      if (this.canBlock) {
        try {
          Atomics.wait(ints, STATE, TAKEN, 1);
        } catch {
          this.canBlock = false; // this thread may not block: spin
        }
      }
    }
  }

  /** Stop the workers (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.a[0] = OP_EXIT;
    for (const ints of this.ints) {
      Atomics.store(ints, STATE, POSTED);
      Atomics.notify(ints, STATE);
    }
    for (const h of this.handles) void h.terminate();
  }
}
