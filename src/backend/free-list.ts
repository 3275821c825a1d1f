/**
 * The allocator of both heaps, the WASM backend's linear memory (wasm-heap.ts, in bytes) and the
 * WebGPU backend's storage buffer (webgpu/backend.ts, in words): offsets only, it touches no
 * memory. The caller rounds sizes to its alignment, makes the memory reach a block taken from
 * the top (the `fits` callback of reserve), and zeroes what it hands out.
 *
 *   reserve(n): the smallest hole ≥ n (the lowest offset on ties), split from its front;
 *               else [top, top + n), once `fits(top + n)` says the memory reaches that far
 *   release(p): the block at p becomes a hole, merged with the holes it touches; a hole that
 *               reaches the top goes back into the top
 *
 * Why best fit: both heaps serve a few large blocks that live long (a model's parameters and
 * gradients, the optimizer's moments, the training workspace) and a pattern of shorter ones that
 * repeats (a validation workspace per evaluation, a sampler's). Best fit keeps a large hole whole
 * for the next large request, where first fit carves small requests out of whichever hole comes
 * first, a large one included, and the next large request then comes from the top: growth that
 * costs a copy of the whole heap on the GPU and memory that is never given back in WebAssembly.
 * The holes are few (tens), so the scan over them costs nothing next to zeroing a block.
 */
export class FreeList {
  /** End of the blocks handed out (or freed into holes); blocks from the top start here. */
  private end: number;
  /** Holes below `end`, [start, size] pairs sorted by start; no two touch (they are merged). */
  private readonly holes: number[] = [];
  /** Blocks handed out and not yet released: offset → size. */
  private readonly live = new Map<number, number>();

  /** start: the first offset handed out. label: who allocates, for the error of a bad release. */
  constructor(start = 0, private readonly label = 'heap') {
    this.end = start;
  }

  /** The first offset past every block handed out or hole: what the memory must reach. */
  get top(): number {
    return this.end;
  }

  /** Units in blocks handed out and not released. */
  get liveSize(): number {
    let n = 0;
    for (const size of this.live.values()) n += size;
    return n;
  }

  /** The size of the live block at `off`, or undefined. */
  sizeOf(off: number): number | undefined {
    return this.live.get(off);
  }

  /**
   * Reserve `size` units (the caller's alignment already applied) and return the offset. From
   * the top, `fits(end)` is asked first: it makes the memory at least `end` long and says whether
   * it could; if not, nothing changes and the answer is -1.
   */
  reserve(size: number, fits: (end: number) => boolean = () => true): number {
    if (!(size > 0)) throw new Error(`${this.label}: a block of ${size} units`);
    const holes = this.holes;
    let best = -1;
    for (let i = 0; i < holes.length; i += 2) {
      if (holes[i + 1] >= size && (best < 0 || holes[i + 1] < holes[best + 1])) best = i;
    }
    let off: number;
    if (best >= 0) {
      off = holes[best];
      if (holes[best + 1] === size) holes.splice(best, 2);
      else {
        holes[best] += size;
        holes[best + 1] -= size;
      }
    } else {
      off = this.end;
      if (!fits(off + size)) return -1;
      this.end = off + size;
    }
    this.live.set(off, size);
    return off;
  }

  /**
   * Give back the block at `off` and return its size. Throws on an offset that is not a live
   * block (released twice, or never reserved), which would otherwise corrupt the holes.
   */
  release(off: number): number {
    const size = this.live.get(off);
    if (size === undefined) throw new Error(`${this.label}: free of ${off}, which is not an allocated block (freed twice?)`);
    this.live.delete(off);
    const holes = this.holes;
    let start = off;
    let end = off + size;
    let i = 0; // the first hole after off
    while (i < holes.length && holes[i] < off) i += 2;
    if (i < holes.length && holes[i] === end) {
      end += holes[i + 1];
      holes.splice(i, 2);
    }
    if (i > 0 && holes[i - 2] + holes[i - 1] === start) {
      i -= 2;
      start = holes[i];
      holes.splice(i, 2);
    }
    if (end === this.end) this.end = start;
    else holes.splice(i, 0, start, end - start);
    return size;
  }
}
