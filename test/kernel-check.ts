/**
 * What the kernel tests (WASM, WebGPU) share: a seeded generator of test data and the
 * element-by-element comparison against the reference with a per-element tolerance.
 */
import assert from 'node:assert/strict';

/** mulberry32: uniform numbers in [0, 1) from a 32-bit seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** got equals want within tol(i) at every i (NaN matches NaN); fails naming the first element off. */
export function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: (i: number) => number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= tol(i)) && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      assert.fail(`${what}: [${i}] got ${got[i]}, want ${want[i]} (|diff| ${d} > ${tol(i)})`);
    }
  }
}
