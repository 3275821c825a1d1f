/**
 * The native backend's memory: ordinary ArrayBuffers, the host memory the model already uses,
 * read and written in place by the C kernels (no copy at the boundary). Each block is its own
 * ArrayBuffer, 64 bytes longer than asked so the view can start on a 64-byte boundary of its
 * native address; the addon tells the address once per buffer (an ArrayBuffer's bytes never
 * move), and a view's pointer is then that address + byteOffset: a lookup and an add per operand.
 *
 * Why not native chunks exposed as external ArrayBuffers: the garbage collector already owns
 * these buffers, so a view that outlives free() still points at live memory (never a crash), a
 * model that is dropped without dispose() is collected like any other object, and there is no
 * allocator to write. The price: an address can be reused by a later buffer once the collector
 * has freed the old one, so a new block first tells the weight cache (`reused`) to forget what
 * lay there.
 */
import type { Block, FloatArray } from './types.js';

export class NativeMemory {
  /** Native address of each buffer handed out (weakly held: collected buffers drop out). */
  private readonly base = new WeakMap<ArrayBufferLike, number>();
  private lastBuffer: ArrayBufferLike | null = null;
  private lastBase = 0;
  /** Blocks handed out and not freed: address -> [bytes, id]; what liveBytes sums. */
  private readonly live = new Map<number, [number, number]>();
  private nextId = 0;
  /**
   * A block the collector took without free() (a model dropped without dispose()): out of `live`,
   * and, as for free(), the weight cache forgets it (packed copies of weights that lay there).
   */
  private readonly collected = new FinalizationRegistry<[number, number, number]>(([p, id, bytes]) => {
    if (this.live.get(p)?.[1] !== id) return; // freed already, or its address is another block's now
    this.live.delete(p);
    this.reused(p, bytes);
  });

  /** reused(p, bytes): [p, p + bytes) holds nothing of what was there (a new block, or a collected one). */
  constructor(private readonly address: (buffer: ArrayBuffer) => number, private readonly reused: (p: number, bytes: number) => void) {}

  /** Bytes in blocks handed out and not freed (nor collected). */
  get liveBytes(): number {
    let n = 0;
    for (const [bytes] of this.live.values()) n += bytes;
    return n;
  }

  /** A zeroed block of `bytes` (rounded up to 64), 64-byte aligned in native memory. */
  block(bytes: number): Block {
    const byteLength = Math.max(64, Math.ceil(bytes / 64) * 64);
    const buffer = new ArrayBuffer(byteLength + 64);
    const at = this.address(buffer);
    const byteOffset = (64 - (at % 64)) % 64;
    const p = at + byteOffset;
    this.reused(p, byteLength);
    this.base.set(buffer, at);
    const id = this.nextId++;
    this.live.set(p, [byteLength, id]);
    this.collected.register(buffer, [p, id, byteLength]);
    return { buffer, byteOffset, byteLength };
  }

  /** A block back: its views must not be used afterwards. Throws for one that is not live (freed twice). */
  free(block: Block): number {
    const p = this.pointer(block.buffer, block.byteOffset);
    if (p < 0 || !this.live.delete(p)) throw new Error(`native backend: free of a block that is not allocated (freed twice?)`);
    return p;
  }

  /** The native address of byte `offset` of a buffer from block(), or -1 for any other buffer. */
  pointer(buffer: ArrayBufferLike, offset: number): number {
    if (buffer === this.lastBuffer) return this.lastBase + offset;
    const at = this.base.get(buffer);
    if (at === undefined) return -1;
    this.lastBuffer = buffer;
    this.lastBase = at;
    return at + offset;
  }

  /** The address of a float32 view from block(), or -1. */
  f32(x: FloatArray): number {
    return x instanceof Float32Array ? this.pointer(x.buffer, x.byteOffset) : -1;
  }

  /** The address of an Int32Array view from block(), or -1. */
  i32(x: Int32Array): number {
    return this.pointer(x.buffer, x.byteOffset);
  }
}
