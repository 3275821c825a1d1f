/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend: every Backend method recorded as WGSL dispatches (gemm.ts, cells.ts,
 * elementwise.ts, loss.ts, optim.ts) into one heap on the device (context.ts).
 *
 * Views are handles. alloc() reserves a range of the heap and returns a Block on a host
 * ArrayBuffer of the same size: the block's staging copy. A view on it (what the arena hands
 * out) names the device range `base + view.byteOffset / 4`, and its numbers on the host are
 * only what `upload` sent or `download` brought back (types.ts, "Device-neutral").
 *
 * Nothing runs when a method is called: dispatches are recorded into one command buffer and
 * submitted by flush() (the trainer flushes once per window: one queue submit), by an upload
 * (a queue write must not overtake recorded work), or by a download. Scalars stay on the device:
 * softmaxCrossEntropy adds its loss to `into`, sumSquares writes ‖x‖² to `out`, and both return
 * NaN; gradientNorm and the optimizers' `clip` argument do clipping without a readback.
 *
 * Memory: a best-fit free list over the heap (../free-list.ts, the WASM heap's too), which grows
 * (copied, offsets kept) when a block from the top does not fit, up to the device's storage-buffer
 * limit. A block's device range is zeroed when it is handed out.
 * float32 only: WebGPU has no float64.
 */
import type { Backend, BackendChoice, Block, ClipViews, DType, FloatArray } from '../types.js';
import { keepThreshold } from '../../rng.js';
import { FreeList } from '../free-list.js';
import { ALIGN_WORDS, GpuContext } from './context.js';
import type { OpenedDevice } from './device.js';
import * as cells from './cells.js';
import * as el from './elementwise.js';
import { gemm } from './gemm.js';
import { clipFactor, reduceScratch, softmaxCrossEntropy, stepFlags, sumSquares } from './loss.js';
import * as optim from './optim.js';
import { sampleNext } from './sample.js';

export interface WebGpuOptions {
  /** Initial heap in bytes (it grows when full); default 64 MiB. */
  heapBytes?: number;
  /** Dispatches per command buffer before the recorder submits on its own (default 16384). */
  slots?: number;
}

/** Submitted windows that may run on the device while the host records the next. */
const IN_FLIGHT = 2;

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly dtypes: readonly DType[] = ['float32'];
  /** A device: the numbers come back only through download (types.ts). */
  readonly hostMemory = false;
  readonly ctx: GpuContext;
  /** The adapter, in one line ("NVIDIA … (nvidia ampere)"), and whether it is a software renderer. */
  readonly adapter: string;
  readonly software: boolean;
  choice?: BackendChoice;
  /** Device word offset of each live block, by its staging buffer. */
  private readonly blocks = new Map<ArrayBufferLike, number>();
  /** Where blocks and the scratch lie in the heap, in words. */
  private readonly heap = new FreeList(0, 'webgpu');
  /** Internal scratch (row losses, reduce partials, a dummy loss word): offset and size in words. */
  private scratch = { off: -1, words: 0 };
  private readonly inFlight: Promise<void>[] = [];
  /** Blocks handed out so far (never decremented), counted for the structural tests. */
  allocations = 0;

  constructor(opened: Pick<OpenedDevice, 'gpu' | 'device' | 'adapterInfo' | 'software'>, opts: WebGpuOptions = {}) {
    const max = Math.min(opened.device.limits.maxStorageBufferBindingSize, opened.device.limits.maxBufferSize);
    this.ctx = new GpuContext(opened, { heapBytes: Math.min(opts.heapBytes ?? 64 << 20, max), slots: opts.slots ?? 16384 });
    this.adapter = opened.adapterInfo.name;
    this.software = opened.software;
  }

  // ---- memory ----

  alloc(bytes: number): Block {
    const words = Math.ceil(Math.max(bytes, 4) / 4 / ALIGN_WORDS) * ALIGN_WORDS;
    const off = this.reserve(words);
    const buffer = new ArrayBuffer(words * 4);
    this.blocks.set(buffer, off);
    this.allocations++;
    el.fill(this.ctx, words, off, 0); // zeroed, as alloc promises (a reused range holds old numbers)
    return { buffer, byteOffset: 0, byteLength: words * 4 };
  }

  free(block: Block): void {
    const off = this.blocks.get(block.buffer);
    if (off === undefined) throw new Error('webgpu: free of a block that is not live');
    this.blocks.delete(block.buffer);
    this.heap.release(off);
  }

  /** `words` (a multiple of ALIGN_WORDS) of the heap, growing it by doubling when the block comes from the top. */
  private reserve(words: number): number {
    return this.heap.reserve(words, (end) => {
      if (end > this.ctx.words) {
        let next = this.ctx.words;
        while (next < end) next *= 2;
        this.ctx.grow(Math.min(next, Math.max(end, this.ctx.maxWords)));
      }
      return true;
    });
  }

  /** The device offset (in words) of a view from alloc. */
  private off(x: FloatArray | Int32Array): number {
    const off = this.blocks.get(x.buffer);
    if (off === undefined) throw new Error('webgpu: a view that is not from this backend (or was freed)');
    return off + x.byteOffset / 4;
  }

  private opt(x: FloatArray | null): number {
    return x ? this.off(x) : -1;
  }

  /** At least `words` of internal scratch; its offset. */
  private scratchWords(words: number): number {
    if (this.scratch.words < words) {
      if (this.scratch.off >= 0) this.heap.release(this.scratch.off);
      const n = Math.ceil(Math.max(words, 1024) / ALIGN_WORDS) * ALIGN_WORDS;
      this.scratch = { off: this.reserve(n), words: n };
    }
    return this.scratch.off;
  }

  upload(view: FloatArray | Int32Array): void {
    if (view instanceof Float64Array) throw new Error('webgpu computes in float32');
    this.ctx.write(this.off(view), view);
  }

  async download(views: readonly (FloatArray | Int32Array)[]): Promise<void> {
    const got = await this.ctx.readMany(views.map((v) => [this.off(v), v.length] as const));
    views.forEach((v, i) => {
      const f = got[i];
      if (v instanceof Int32Array) v.set(new Int32Array(f.buffer, f.byteOffset, f.length));
      else v.set(f);
    });
  }

  flush(): void {
    this.ctx.flush();
    this.inFlight.push(this.ctx.device.queue.onSubmittedWorkDone());
  }

  async settle(): Promise<void> {
    while (this.inFlight.length > IN_FLIGHT) await this.inFlight.shift();
    if (this.ctx.errors.length) throw new Error(`WebGPU error: ${this.ctx.errors[0]}`);
  }

  dispose(): void {
    this.ctx.destroy();
    this.ctx.device.destroy();
  }

  // ---- the Backend kernels ----

  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: FloatArray, lda: number, B: FloatArray, ldb: number, beta: 0 | 1, C: FloatArray, ldc: number): void {
    gemm(this.ctx, transA, transB, M, N, K, this.off(A), lda, this.off(B), ldb, beta, this.off(C), ldc);
  }

  broadcastRows(M: number, N: number, v: FloatArray, C: FloatArray, accumulate: boolean): void {
    el.broadcastRows(this.ctx, M, N, this.off(v), this.off(C), accumulate);
  }

  colSumAcc(M: number, N: number, A: FloatArray, out: FloatArray): void {
    el.colSumAcc(this.ctx, M, N, this.off(A), this.off(out));
  }

  gatherRows(n: number, idx: Int32Array, table: FloatArray, cols: number, out: FloatArray, accumulate: boolean): void {
    el.gatherRows(this.ctx, n, this.off(idx), this.off(table), cols, this.off(out), accumulate);
  }

  scatterAddRows(n: number, idx: Int32Array, src: FloatArray, cols: number, table: FloatArray): void {
    el.scatterAddRows(this.ctx, n, this.off(idx), this.off(src), cols, this.off(table));
  }

  mul(n: number, x: FloatArray, m: FloatArray): void {
    el.mul(this.ctx, n, this.off(x), this.off(m));
  }

  fill(n: number, x: FloatArray, v: number): void {
    el.fill(this.ctx, n, this.off(x), v);
  }

  copy(n: number, src: FloatArray, dst: FloatArray): void {
    el.copy(this.ctx, n, this.off(src), this.off(dst));
  }

  dropoutMask(n: number, mask: FloatArray, keep: number, key: number): void {
    el.dropoutMask(this.ctx, n, this.off(mask), keepThreshold(keep), 1 / keep, key >>> 0);
  }

  rnnForward(B: number, H: number, pre: FloatArray, h: FloatArray): void {
    cells.rnnForward(this.ctx, B, H, this.off(pre), this.off(h));
  }

  rnnBackward(B: number, H: number, h: FloatArray, dy: FloatArray, dhNext: FloatArray, dpre: FloatArray): void {
    cells.rnnBackward(this.ctx, B, H, this.off(h), this.off(dy), this.off(dhNext), this.off(dpre));
  }

  lstmForward(B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    cells.lstmForward(this.ctx, B, H, this.off(gates), this.off(cPrev), this.off(c), this.off(h));
  }

  lstmBackward(B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray, dy: FloatArray, dhNext: FloatArray, dc: FloatArray, dgates: FloatArray): void {
    cells.lstmBackward(this.ctx, B, H, this.off(gates), this.off(cPrev), this.off(c), this.off(dy), this.off(dhNext), this.off(dc), this.off(dgates));
  }

  lstmStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    cells.lstmStep(this.ctx, B, H, this.off(hPrev), this.off(whh), this.off(gates), this.off(cPrev), this.off(c), this.off(h));
  }

  lstmStepBackward(B: number, H: number, dgatesNext: FloatArray | null, whh: FloatArray, dh: FloatArray, gates: FloatArray, cPrev: FloatArray, c: FloatArray, dy: FloatArray, dc: FloatArray, dgates: FloatArray): void {
    cells.lstmStepBackward(this.ctx, B, H, this.opt(dgatesNext), this.off(whh), this.off(dh), this.off(gates), this.off(cPrev), this.off(c), this.off(dy), this.off(dc), this.off(dgates));
  }

  rnnStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, pre: FloatArray, h: FloatArray): void {
    cells.rnnStep(this.ctx, B, H, this.off(hPrev), this.off(whh), this.off(pre), this.off(h));
  }

  rnnStepBackward(B: number, H: number, dpreNext: FloatArray | null, whh: FloatArray, dh: FloatArray, h: FloatArray, dy: FloatArray, dpre: FloatArray): void {
    cells.rnnStepBackward(this.ctx, B, H, this.opt(dpreNext), this.off(whh), this.off(dh), this.off(h), this.off(dy), this.off(dpre));
  }

  gruForward(B: number, H: number, gx: FloatArray, gh: FloatArray, hPrev: FloatArray, act: FloatArray, h: FloatArray): void {
    cells.gruForward(this.ctx, B, H, this.off(gx), this.off(gh), this.off(hPrev), this.off(act), this.off(h));
  }

  gruBackward(B: number, H: number, act: FloatArray, gh: FloatArray, hPrev: FloatArray, dy: FloatArray, dhNext: FloatArray, dgx: FloatArray, dgh: FloatArray, dhPrevDirect: FloatArray): void {
    cells.gruBackward(this.ctx, B, H, this.off(act), this.off(gh), this.off(hPrev), this.off(dy), this.off(dhNext), this.off(dgx), this.off(dgh), this.off(dhPrevDirect));
  }

  gruStep(B: number, H: number, gx: FloatArray, hPrev: FloatArray, whh: FloatArray, bhh: FloatArray, gh: FloatArray, act: FloatArray, h: FloatArray): void {
    cells.gruStep(this.ctx, B, H, this.off(gx), this.off(hPrev), this.off(whh), this.off(bhh), this.off(gh), this.off(act), this.off(h));
  }

  gruStepBackward(B: number, H: number, dghNext: FloatArray | null, whh: FloatArray, dh: FloatArray, act: FloatArray, gh: FloatArray, hPrev: FloatArray, dy: FloatArray, dgx: FloatArray, dgh: FloatArray): void {
    cells.gruStepBackward(this.ctx, B, H, this.opt(dghNext), this.off(whh), this.off(dh), this.off(act), this.off(gh), this.off(hPrev), this.off(dy), this.off(dgx), this.off(dgh));
  }

  /** Adds the loss to into[0] on the device: the number stays there until a download. */
  softmaxCrossEntropy(N: number, V: number, logits: FloatArray, targets: Int32Array, dlogits: FloatArray | null, scale: number, into: FloatArray): void {
    const s = this.scratchWords(N + reduceScratch(N));
    softmaxCrossEntropy(this.ctx, N, V, this.off(logits), this.off(targets), this.opt(dlogits), scale, s, this.off(into), s + N, true);
  }

  gradientNorm(n: number, g: FloatArray, clip: number, byNorm: boolean, out: FloatArray, flags: FloatArray): void {
    const s = this.scratchWords(reduceScratch(n) + 1);
    sumSquares(this.ctx, n, this.off(g), s, s + 1);
    clipFactor(this.ctx, s, this.off(out), clip, byNorm);
    stepFlags(this.ctx, this.off(out), this.off(flags));
  }

  sampleNext(V: number, logits: FloatArray, temperature: number, u: FloatArray, k: number, input: Int32Array, ids: Int32Array, logProbs: FloatArray): void {
    sampleNext(this.ctx, V, this.off(logits), temperature, this.off(u), k, this.off(input), this.off(ids), this.off(logProbs));
  }

  scale(n: number, x: FloatArray, s: number): void {
    el.scale(this.ctx, n, this.off(x), s);
  }

  clamp(n: number, x: FloatArray, lo: number, hi: number): void {
    el.clamp(this.ctx, n, this.off(x), lo, hi);
  }

  emaUpdate(n: number, avg: FloatArray, x: FloatArray, decay: number, skip?: FloatArray): void {
    optim.emaUpdate(this.ctx, n, this.off(avg), this.off(x), decay, skip ? this.off(skip) : -1);
  }

  private clip(c?: ClipViews): optim.DeviceClip {
    return c ? { factor: this.off(c.factor), hi: c.hi } : optim.NO_CLIP;
  }

  adam(n: number, p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number, wd: number, clip?: ClipViews): void {
    optim.adam(this.ctx, n, this.off(p), this.off(g), this.off(m), this.off(v), lr, b1, b2, eps, bc1, bc2, wd, this.clip(clip));
  }

  rmsprop(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, alpha: number, eps: number, wd: number, clip?: ClipViews): void {
    optim.rmsprop(this.ctx, n, this.off(p), this.off(g), this.off(v), lr, alpha, eps, wd, this.clip(clip));
  }

  adagrad(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, eps: number, wd: number, clip?: ClipViews): void {
    optim.adagrad(this.ctx, n, this.off(p), this.off(g), this.off(v), lr, eps, wd, this.clip(clip));
  }

  sgd(n: number, p: FloatArray, g: FloatArray, buf: FloatArray, lr: number, momentum: number, wd: number, first: boolean, clip?: ClipViews): void {
    optim.sgd(this.ctx, n, this.off(p), this.off(g), this.off(buf), lr, momentum, wd, first, this.clip(clip));
  }
}
