/**
 * One arena: every float the model touches (parameters, gradients, optimizer state,
 * activations) lives in a single block of backend memory, handed out as typed-array views by
 * offset. A fast backend places that block in WebAssembly memory (shared between threads), so
 * kernels take pointers into it and a training step copies nothing between JS and WASM.
 *
 * Two phases, so the block can be sized once:
 *   const plan = new ArenaPlan('float32');
 *   const w = plan.floats(n);        // a slot, not memory yet
 *   const mem = plan.allocate(backend);
 *   const view = mem.floats(w);      // Float32Array (or Float64Array) view on the block
 *   mem.dispose();                   // the block goes back to the backend; views are now dead
 *
 * A typed array cannot be revoked, so a view used after dispose() reads and writes whatever
 * the block is reused for: an owner (model, workspace, sampler) disposes only when done.
 */
import type { Backend, Block, DType, FloatArray } from './backend/types.js';

export interface Slot {
  readonly kind: 'float' | 'int32';
  readonly length: number;
  /** Byte offset within the arena; set by the plan. */
  readonly byteOffset: number;
}

const ALIGN = 64; // a cache line; also keeps every view 16-byte aligned for SIMD

export class ArenaPlan {
  private bytes = 0;
  readonly elementBytes: number;

  constructor(readonly dtype: DType) {
    this.elementBytes = dtype === 'float64' ? 8 : 4;
  }

  private reserve(kind: Slot['kind'], length: number, elementBytes: number): Slot {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`bad arena slot length ${length}`);
    const slot: Slot = { kind, length, byteOffset: this.bytes };
    this.bytes += Math.ceil((length * elementBytes) / ALIGN) * ALIGN;
    return slot;
  }

  floats(length: number): Slot {
    return this.reserve('float', length, this.elementBytes);
  }

  ints(length: number): Slot {
    return this.reserve('int32', length, 4);
  }

  get byteLength(): number {
    return this.bytes;
  }

  allocate(backend: Backend): Arena {
    if (!backend.dtypes.includes(this.dtype)) throw new Error(`backend ${backend.name} does not compute in ${this.dtype}`);
    return new Arena(this.dtype, backend, backend.alloc(Math.max(this.bytes, ALIGN)));
  }
}

export class Arena {
  readonly buffer: ArrayBufferLike;
  readonly base: number;
  private disposed = false;

  constructor(readonly dtype: DType, private readonly backend: Backend, private readonly block: Block) {
    this.buffer = block.buffer;
    this.base = block.byteOffset;
  }

  /** Give the block back to the backend (see the header). A second call does nothing. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.free?.(this.block);
  }

  floats(slot: Slot): FloatArray {
    const Ctor = this.dtype === 'float64' ? Float64Array : Float32Array;
    // (a SharedArrayBuffer when the arena lives in shared WebAssembly memory)
    return new Ctor(this.buffer as ArrayBuffer, this.base + slot.byteOffset, slot.length);
  }

  ints(slot: Slot): Int32Array {
    return new Int32Array(this.buffer as ArrayBuffer, this.base + slot.byteOffset, slot.length);
  }
}
