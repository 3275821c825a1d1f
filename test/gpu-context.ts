/**
 * A GpuContext for the kernel tests, which address the heap themselves: a bump allocator that a
 * test resets between cases, and one-range readbacks. The backend places its blocks with its
 * own free list (src/backend/webgpu/backend.ts) and reads back through readMany, so none of this
 * belongs in src/.
 */
import { ALIGN_WORDS, GpuContext } from '../src/backend/webgpu/context.js';

export class TestGpuContext extends GpuContext {
  /** The end of the words handed out by alloc. */
  private top = 0;

  /** Reserve n words of the heap (ALIGN_WORDS aligned); returns the offset in words. */
  alloc(n: number): number {
    const off = this.top;
    const end = off + Math.ceil(Math.max(n, 1) / ALIGN_WORDS) * ALIGN_WORDS;
    if (end > this.words) throw new Error(`GPU heap full: ${n} words asked, ${this.words - off} left of ${this.words}`);
    this.top = end;
    return off;
  }

  /** Forget every allocation (the next test reuses the heap). */
  reset(): void {
    this.top = 0;
  }

  /** Submit what is recorded and read n words at `off` back. */
  async read(off: number, n: number): Promise<Float32Array> {
    return (await this.readMany([[off, n]]))[0];
  }
}
