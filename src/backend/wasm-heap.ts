/**
 * The WebAssembly backend's memory: an allocator over one WebAssembly.Memory, and the test of
 * whether a typed array is a view on it (so its byteOffset is a pointer the kernels can use).
 *
 * Blocks are multiples of 64 bytes (a cache line), 64-byte aligned, placed by the free list that
 * the WebGPU heap uses too (free-list.ts: best fit, freed blocks merged with their neighbours and
 * the top), so a block of the same or a smaller size reuses a hole instead of growing the memory.
 * WebAssembly memory never shrinks: what this gives is memory that stops growing once a
 * program's pattern of allocations repeats (a workspace made and disposed per evaluation).
 *
 * Shared memory grows in place: views made earlier stay valid (a non-shared buffer would be
 * detached by grow()). The first RESERVED_BYTES are never handed out: the compiler's static data,
 * then a random token that identifies this memory.
 */
import { FreeList } from './free-list.js';
import type { Block, FloatArray } from './types.js';
import { RESERVED_BYTES, TOKEN_BYTES, TOKEN_OFFSET } from './wasm-abi.js';

const PAGE = 65536;
export const MAX_PAGES = 65536; // 4 GiB, as the modules declare

export class WasmHeap {
  private readonly blocks = new FreeList(RESERVED_BYTES, 'wasm backend');
  private handedOut = false;
  /**
   * Buffer objects known to be this memory. V8 hands out new SharedArrayBuffer objects for the
   * same memory (after grow() and at other times too), so identity alone cannot tell ours from
   * foreign: an unknown buffer is ours if it carries our random token (see ours()).
   */
  private readonly known = new WeakSet<ArrayBufferLike>();
  private lastBuffer: ArrayBufferLike;
  private readonly token: Uint32Array;

  /**
   * shared: the memory can grow without detaching views. reserveBytes: only for non-shared
   * memory, the size to grow to at the first allocation (the only growth it may get).
   */
  constructor(private readonly memory: WebAssembly.Memory, readonly shared: boolean, private readonly reserveBytes = 0) {
    this.lastBuffer = memory.buffer;
    this.known.add(this.lastBuffer);
    this.token = Uint32Array.from({ length: TOKEN_BYTES / 4 }, () => Math.floor(Math.random() * 2 ** 32));
    new Uint32Array(memory.buffer, TOKEN_OFFSET, TOKEN_BYTES / 4).set(this.token);
  }

  /** Size of the memory in bytes: it only ever grows (what the memory test watches). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Bytes in blocks handed out and not freed. */
  get liveBytes(): number {
    return this.blocks.liveSize;
  }

  /**
   * A block for the user (an arena): views will be made on it, so it throws rather than fail.
   * Zeroed, as fresh memory is (a reused hole holds what its last owner left).
   */
  block(bytes: number): Block {
    const p = this.alloc(bytes, true);
    if (p < 0) {
      throw new RangeError(`wasm backend: out of memory for ${bytes} bytes (without SharedArrayBuffer the memory ` +
        'cannot grow once views exist; pass a larger memoryBytes)');
    }
    this.handedOut = true;
    const buffer = this.memory.buffer;
    this.known.add(buffer);
    this.lastBuffer = buffer;
    const byteLength = Math.ceil(bytes / 64) * 64;
    new Uint8Array(buffer, p, this.blocks.sizeOf(p)!).fill(0);
    return { buffer, byteOffset: p, byteLength };
  }

  /**
   * 64-byte aligned allocation: from the best-fitting hole, else from the top, growing the
   * memory as needed; -1 if it may not grow (non-shared memory once views exist, or past 4 GiB).
   * forUser: a user block, not the backend's own scratch.
   */
  alloc(bytes: number, forUser = false): number {
    const size = Math.max(64, Math.ceil(bytes / 64) * 64);
    return this.blocks.reserve(size, (end) => this.reach(end, forUser));
  }

  /** Grow the memory to at least `end` bytes; false where it may not grow. */
  private reach(end: number, forUser: boolean): boolean {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return true;
    if (end > MAX_PAGES * PAGE) return false;
    let want = end;
    if (!this.shared) {
      if (this.handedOut) return false;
      // the only growth this memory gets: leave room for what comes after the first arena
      if (forUser) want = Math.max(end, this.reserveBytes, 2 * end + (16 << 20));
    }
    // at least 1 MiB at a time: fewer grow() calls, fewer buffer objects
    const pages = Math.min(Math.max(Math.ceil((want - have) / PAGE), 16), MAX_PAGES - have / PAGE);
    this.memory.grow(pages);
    return true;
  }

  /**
   * Give back the block at p (from alloc or block). Views on it must not be used afterwards:
   * its bytes go to the next allocation. Throws on a pointer that is not a live block (freed
   * twice, or never allocated), which would otherwise corrupt the holes.
   */
  free(p: number): void {
    this.blocks.release(p);
  }

  /** Byte pointer of a float32 view on this memory, or -1 (the caller then runs the JS reference). */
  f32(x: FloatArray): number {
    return x instanceof Float32Array && this.ours(x.buffer) ? x.byteOffset : -1;
  }

  i32(x: Int32Array): number {
    return this.ours(x.buffer) ? x.byteOffset : -1;
  }

  /** Is b (an object for) this memory? Cheap for buffers seen before. */
  private ours(b: ArrayBufferLike): boolean {
    if (b === this.lastBuffer) return true;
    if (!this.known.has(b)) {
      // Same memory iff the token is there: a foreign buffer holds our 128 random bits by chance
      // with probability 2^-128. Only the first sight of each buffer object costs this.
      if (b.byteLength < TOKEN_OFFSET + TOKEN_BYTES) return false;
      const t = new Uint32Array(b, TOKEN_OFFSET, TOKEN_BYTES / 4);
      for (let j = 0; j < t.length; j++) if (t[j] !== this.token[j]) return false;
      this.known.add(b);
    }
    this.lastBuffer = b;
    return true;
  }
}
