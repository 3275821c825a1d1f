/**
 * The cache of packed weights that the CPU backends share (wasm-gemm.ts, native.ts): which
 * memory holds the parameters, and a packed copy of each weight matrix op(B) used by a GEMM,
 * valid until the parameters change. Addresses are byte pointers in the backend's memory (the
 * WebAssembly memory, or the process's address space for the native addon).
 *
 * Parameter regions are learned from paramsChanged(params) and from the `p` of the optimizer
 * kernels; any kernel write that overlaps them, and every paramsChanged(), makes the cache stale.
 * Freeing memory (released()) takes it out of the regions and frees the packed copies of the
 * weights that lay in it, so a model that is disposed leaves nothing behind.
 *
 * op(B) (K, N) packed is ceil(N / 16) panels of K x 16 floats (asm/gemm.ts, native/gemm.h).
 */
import { PANEL } from './wasm-abi.js';

/** A cached packed copy of a weight matrix op(B) (K, N). */
export interface PackedB {
  transB: boolean;
  K: number;
  N: number;
  ldb: number;
  /** Byte pointer of the panels. */
  dst: number;
  /** Value of WeightCache.gen when packed; stale when different. */
  gen: number;
}

/** Bytes spanned by op(B) (K, N) stored with row stride ldb. */
function bBytes(transB: boolean, K: number, N: number, ldb: number): number {
  return 4 * (transB ? (N - 1) * ldb + K : (K - 1) * ldb + N);
}

/** Where the packed copies live: a block of `bytes` (a byte pointer, or -1 when there is no memory), and its release. */
export interface PanelMemory {
  alloc(bytes: number): number;
  free(p: number): void;
}

export class WeightCache {
  /** Parameter regions [start, end) in bytes, as flat pairs. */
  private readonly params: number[] = [];
  /** Bumped whenever parameters may have changed; packed copies from older generations are stale. */
  gen = 0;
  private readonly packed = new Map<number, PackedB[]>();

  constructor(private readonly mem: PanelMemory) {}

  /** Packed copies held (what the memory tests watch). */
  get entries(): number {
    let n = 0;
    for (const list of this.packed.values()) n += list.length;
    return n;
  }

  /** Parameters may have changed; [p, p + bytes) if given is (part of) the parameters. */
  paramsChanged(p = -1, bytes = 0): void {
    this.gen++;
    if (p >= 0) this.addParams(p, bytes);
  }

  /** A kernel is about to write [p, p + bytes): if that overlaps the parameters, caches go stale. */
  writes(p: number, bytes: number): void {
    const r = this.params;
    for (let i = 0; i < r.length; i += 2) {
      if (p < r[i + 1] && p + bytes > r[i]) {
        this.gen++;
        return;
      }
    }
  }

  private addParams(start: number, bytes: number): void {
    const end = start + bytes;
    const r = this.params;
    for (let i = 0; i < r.length; i += 2) {
      if (start >= r[i] && end <= r[i + 1]) return;
      if (start <= r[i + 1] && end >= r[i]) {
        // overlapping or adjacent: merge, and add the union
        const s = Math.min(start, r[i]);
        const e = Math.max(end, r[i + 1]);
        r.splice(i, 2);
        this.addParams(s, e - s);
        return;
      }
    }
    r.push(start, end);
  }

  /**
   * [p, p + bytes) was freed (a disposed model or workspace): it is no longer a parameter region,
   * and the packed copies of weights inside it are freed too (their memory is reused). Returns
   * whether anything of the cache lay there.
   */
  released(p: number, bytes: number): boolean {
    const end = p + bytes;
    const r = this.params;
    const kept: number[] = [];
    for (let i = 0; i < r.length; i += 2) {
      if (r[i + 1] <= p || r[i] >= end) kept.push(r[i], r[i + 1]);
      else {
        if (r[i] < p) kept.push(r[i], p);
        if (r[i + 1] > end) kept.push(end, r[i + 1]);
      }
    }
    let hit = kept.length !== r.length || kept.some((x, i) => x !== r[i]);
    r.splice(0, r.length, ...kept);
    for (const [b, list] of this.packed) {
      const stale = list.filter((e) => b < end && b + bBytes(e.transB, e.K, e.N, e.ldb) > p);
      if (stale.length === 0) continue;
      hit = true;
      for (const e of stale) this.mem.free(e.dst);
      const left = list.filter((e) => !stale.includes(e));
      if (left.length) this.packed.set(b, left);
      else this.packed.delete(b);
    }
    if (hit) this.gen++;
    return hit;
  }

  private inParams(start: number, bytes: number): boolean {
    const r = this.params;
    for (let i = 0; i < r.length; i += 2) if (start >= r[i] && start + bytes <= r[i + 1]) return true;
    return false;
  }

  /** The packed-copy cache entry of op(B) if B lies inside the parameters (fresh or not), else null. */
  weightEntry(b: number, transB: boolean, K: number, N: number, ldb: number): PackedB | null {
    return this.params.length && this.inParams(b, bBytes(transB, K, N, ldb)) ? this.packedFor(b, transB, K, N, ldb) : null;
  }

  private packedFor(b: number, transB: boolean, K: number, N: number, ldb: number): PackedB | null {
    for (const e of this.packed.get(b) ?? []) if (e.transB === transB && e.K === K && e.N === N && e.ldb === ldb) return e;
    const dst = this.mem.alloc(Math.ceil(N / PANEL) * K * 4 * PANEL); // may call released() (native-memory.ts)
    if (dst < 0) return null;
    const e: PackedB = { transB, K, N, ldb, dst, gen: this.gen - 1 };
    const list = this.packed.get(b);
    if (list) list.push(e);
    else this.packed.set(b, [e]);
    return e;
  }
}
