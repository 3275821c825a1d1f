/**
 * A small seeded random number generator whose whole state is four 32-bit words, so it can be
 * saved in a checkpoint and a resumed run draws exactly the numbers it would have drawn.
 * Algorithm: xoshiro128** (Blackman & Vigna), seeded through splitmix32.
 */
export type RngState = [number, number, number, number];

export class Rng {
  private s: Uint32Array;

  constructor(seed: number | RngState) {
    this.s = new Uint32Array(4);
    if (typeof seed === 'number') {
      // splitmix32 spreads any seed (even 0) over all four words
      let x = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        this.s[i] = (z ^ (z >>> 16)) >>> 0;
      }
      if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
    } else {
      this.s.set(seed);
    }
  }

  get state(): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box–Muller; no cached spare, so the state stays four words). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]: log is finite
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/**
 * A seed for a request that names none (generate(), the writing assistant, a temperature
 * sweep): 32 bits from Math.random, so each run differs; they report it, so that one can be
 * drawn again.
 */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * Dropout's counter-based draw: 32 random bits for element i of the mask drawn with `key`, a
 * pure function of (key, i) so that a GPU thread computes its own element with no state, and
 * every backend (js.ts, wasm.ts, webgpu/elementwise.ts) makes the same mask. Two rounds of
 * Wellons' lowbias32 integer hash (each a bijection of 32-bit words with full avalanche).
 * The trainer draws one key per layer and forward from its seeded Rng, so masks are
 * reproducible by seed and resumed runs draw the same ones.
 */
export function dropoutBits(key: number, i: number): number {
  return lowbias32((lowbias32(i >>> 0) ^ key) >>> 0);
}

/** The threshold of dropoutBits for keeping an element with probability `keep`: keep·2³², at most 2³² − 1. */
export function keepThreshold(keep: number): number {
  return Math.min(0xffffffff, Math.floor(keep * 4294967296));
}

function lowbias32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The reference dropoutMask (types.ts): mask[i] = 1/keep where dropoutBits(key, i) < keepThreshold(keep), else 0. */
export function fillDropoutMask(n: number, mask: { [i: number]: number }, keep: number, key: number): void {
  const thr = keepThreshold(keep);
  const s = 1 / keep;
  for (let i = 0; i < n; i++) mask[i] = dropoutBits(key, i) < thr ? s : 0;
}
