/**
 * The reference backend: plain TypeScript loops over typed arrays. This file is the
 * specification every faster backend is tested against, so it favours clarity; the loop orders
 * are still chosen so the innermost loop walks memory contiguously (row-major i-k-j GEMM).
 * It works in float32 (training) and float64 (gradient checks).
 */
import { fillDropoutMask } from '../rng.js';
import * as compose from './compose.js';
import { clipOnHost, hostDevice, sampleNextOnHost, writeGradientNorm } from './host.js';
import type { Backend, Block, ClipViews, DType, FloatArray } from './types.js';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export class JsBackend implements Backend {
  readonly name = 'js';
  readonly dtypes: readonly DType[] = ['float32', 'float64'];
  // host memory: nothing to move, nothing to wait for (host.ts)
  readonly hostMemory = hostDevice.hostMemory;
  readonly upload = hostDevice.upload;
  readonly download = hostDevice.download;
  readonly flush = hostDevice.flush;
  readonly settle = hostDevice.settle;
  /** sampleNext's scratch (V). */
  private probs = new Float64Array(0);

  alloc(bytes: number): Block {
    // Separate ArrayBuffers never move, so views stay valid.
    const byteLength = Math.ceil(bytes / 64) * 64;
    return { buffer: new ArrayBuffer(byteLength), byteOffset: 0, byteLength };
  }

  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: FloatArray, lda: number, B: FloatArray, ldb: number,
    beta: 0 | 1, C: FloatArray, ldc: number,
  ): void {
    if (beta === 0) for (let i = 0; i < M; i++) C.fill(0, i * ldc, i * ldc + N);
    // Element (i, k) of op(A): where it sits in A's storage.
    const sa = transA ? 1 : lda; // step between rows i
    const ka = transA ? lda : 1; // step between columns k
    if (!transB) gemmNN(M, N, K, A, sa, ka, B, ldb, C, ldc);
    else gemmNT(M, N, K, A, sa, ka, B, ldb, C, ldc);
  }

  broadcastRows(M: number, N: number, v: FloatArray, C: FloatArray, accumulate: boolean): void {
    for (let i = 0; i < M; i++) {
      const ci = i * N;
      if (accumulate) for (let j = 0; j < N; j++) C[ci + j] += v[j];
      else for (let j = 0; j < N; j++) C[ci + j] = v[j];
    }
  }

  colSumAcc(M: number, N: number, A: FloatArray, out: FloatArray): void {
    for (let i = 0; i < M; i++) {
      const ai = i * N;
      for (let j = 0; j < N; j++) out[j] += A[ai + j];
    }
  }

  gatherRows(n: number, idx: Int32Array, table: FloatArray, cols: number, out: FloatArray, accumulate: boolean): void {
    for (let i = 0; i < n; i++) {
      const src = idx[i] * cols;
      const dst = i * cols;
      if (accumulate) for (let j = 0; j < cols; j++) out[dst + j] += table[src + j];
      else for (let j = 0; j < cols; j++) out[dst + j] = table[src + j];
    }
  }

  scatterAddRows(n: number, idx: Int32Array, src: FloatArray, cols: number, table: FloatArray): void {
    for (let i = 0; i < n; i++) {
      const dst = idx[i] * cols;
      const s = i * cols;
      for (let j = 0; j < cols; j++) table[dst + j] += src[s + j];
    }
  }

  mul(n: number, x: FloatArray, m: FloatArray): void {
    for (let i = 0; i < n; i++) x[i] *= m[i];
  }

  fill(n: number, x: FloatArray, v: number): void {
    x.fill(v, 0, n);
  }

  copy(n: number, src: FloatArray, dst: FloatArray): void {
    dst.set(n === src.length ? src : src.subarray(0, n));
  }

  dropoutMask(n: number, mask: FloatArray, keep: number, key: number): void {
    fillDropoutMask(n, mask, keep, key);
  }

  rnnForward(B: number, H: number, pre: FloatArray, h: FloatArray): void {
    const n = B * H;
    for (let i = 0; i < n; i++) h[i] = Math.tanh(pre[i]);
  }

  rnnBackward(B: number, H: number, h: FloatArray, dy: FloatArray, dhNext: FloatArray, dpre: FloatArray): void {
    const n = B * H;
    for (let i = 0; i < n; i++) dpre[i] = (dy[i] + dhNext[i]) * (1 - h[i] * h[i]);
  }

  lstmForward(B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    const G = 4 * H;
    for (let b = 0; b < B; b++) {
      const g0 = b * G;
      const s0 = b * H;
      for (let j = 0; j < H; j++) {
        const i = sigmoid(gates[g0 + j]);
        const f = sigmoid(gates[g0 + H + j]);
        const g = Math.tanh(gates[g0 + 2 * H + j]);
        const o = sigmoid(gates[g0 + 3 * H + j]);
        gates[g0 + j] = i;
        gates[g0 + H + j] = f;
        gates[g0 + 2 * H + j] = g;
        gates[g0 + 3 * H + j] = o;
        const ct = f * cPrev[s0 + j] + i * g;
        c[s0 + j] = ct;
        h[s0 + j] = o * Math.tanh(ct);
      }
    }
  }

  // the whole steps are the calls they stand for (compose.ts), on these kernels
  lstmStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void {
    compose.lstmStep(this, B, H, hPrev, whh, gates, cPrev, c, h);
  }

  lstmStepBackward(
    B: number, H: number, dgatesNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
    gates: FloatArray, cPrev: FloatArray, c: FloatArray, dy: FloatArray, dc: FloatArray, dgates: FloatArray,
  ): void {
    compose.lstmStepBackward(this, B, H, dgatesNext, whh, dh, gates, cPrev, c, dy, dc, dgates);
  }

  rnnStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, pre: FloatArray, h: FloatArray): void {
    compose.rnnStep(this, B, H, hPrev, whh, pre, h);
  }

  rnnStepBackward(B: number, H: number, dpreNext: FloatArray | null, whh: FloatArray, dh: FloatArray, h: FloatArray, dy: FloatArray, dpre: FloatArray): void {
    compose.rnnStepBackward(this, B, H, dpreNext, whh, dh, h, dy, dpre);
  }

  gruStep(B: number, H: number, gx: FloatArray, hPrev: FloatArray, whh: FloatArray, bhh: FloatArray, gh: FloatArray, act: FloatArray, h: FloatArray): void {
    compose.gruStep(this, B, H, gx, hPrev, whh, bhh, gh, act, h);
  }

  gruStepBackward(B: number, H: number, dghNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
    act: FloatArray, gh: FloatArray, hPrev: FloatArray, dy: FloatArray, dgx: FloatArray, dgh: FloatArray): void {
    compose.gruStepBackward(this, B, H, dghNext, whh, dh, act, gh, hPrev, dy, dgx, dgh);
  }

  lstmBackward(
    B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray,
    dy: FloatArray, dhNext: FloatArray, dc: FloatArray, dgates: FloatArray,
  ): void {
    const G = 4 * H;
    for (let b = 0; b < B; b++) {
      const g0 = b * G;
      const s0 = b * H;
      for (let j = 0; j < H; j++) {
        const i = gates[g0 + j];
        const f = gates[g0 + H + j];
        const g = gates[g0 + 2 * H + j];
        const o = gates[g0 + 3 * H + j];
        const tc = Math.tanh(c[s0 + j]);
        const dh = dy[s0 + j] + dhNext[s0 + j];
        // h = o * tanh(c): the cell state gets the gradient through tanh plus the carried one.
        const dct = dc[s0 + j] + dh * o * (1 - tc * tc);
        dgates[g0 + j] = dct * g * i * (1 - i); // di * sigmoid'
        dgates[g0 + H + j] = dct * cPrev[s0 + j] * f * (1 - f); // df * sigmoid'
        dgates[g0 + 2 * H + j] = dct * i * (1 - g * g); // dg * tanh'
        dgates[g0 + 3 * H + j] = dh * tc * o * (1 - o); // do * sigmoid'
        dc[s0 + j] = dct * f; // c_t = f * c_{t-1} + ...
      }
    }
  }

  gruForward(B: number, H: number, gx: FloatArray, gh: FloatArray, hPrev: FloatArray, act: FloatArray, h: FloatArray): void {
    const G = 3 * H;
    for (let b = 0; b < B; b++) {
      const g0 = b * G;
      const s0 = b * H;
      for (let j = 0; j < H; j++) {
        const r = sigmoid(gx[g0 + j] + gh[g0 + j]);
        const z = sigmoid(gx[g0 + H + j] + gh[g0 + H + j]);
        const n = Math.tanh(gx[g0 + 2 * H + j] + r * gh[g0 + 2 * H + j]);
        act[g0 + j] = r;
        act[g0 + H + j] = z;
        act[g0 + 2 * H + j] = n;
        h[s0 + j] = (1 - z) * n + z * hPrev[s0 + j];
      }
    }
  }

  gruBackward(
    B: number, H: number, act: FloatArray, gh: FloatArray, hPrev: FloatArray,
    dy: FloatArray, dhNext: FloatArray, dgx: FloatArray, dgh: FloatArray, dhPrevDirect: FloatArray,
  ): void {
    const G = 3 * H;
    for (let b = 0; b < B; b++) {
      const g0 = b * G;
      const s0 = b * H;
      for (let j = 0; j < H; j++) {
        const r = act[g0 + j];
        const z = act[g0 + H + j];
        const n = act[g0 + 2 * H + j];
        const hp = hPrev[s0 + j];
        const dh = dy[s0 + j] + dhNext[s0 + j];
        const dpn = dh * (1 - z) * (1 - n * n); // through n = tanh(...)
        const dpz = dh * (hp - n) * z * (1 - z); // h = n + z (hPrev - n)
        const dpr = dpn * gh[g0 + 2 * H + j] * r * (1 - r); // n's pre-activation has r * gh_n
        dgx[g0 + j] = dpr;
        dgx[g0 + H + j] = dpz;
        dgx[g0 + 2 * H + j] = dpn;
        dgh[g0 + j] = dpr;
        dgh[g0 + H + j] = dpz;
        dgh[g0 + 2 * H + j] = dpn * r;
        dhPrevDirect[s0 + j] = dh * z;
      }
    }
  }

  softmaxCrossEntropy(N: number, V: number, logits: FloatArray, targets: Int32Array, dlogits: FloatArray | null, scale: number, into: FloatArray): void {
    let loss = 0; // summed in float64, added to into once
    for (let i = 0; i < N; i++) {
      const r = i * V;
      const t = targets[i];
      if (t < 0) {
        if (dlogits) dlogits.fill(0, r, r + V);
        continue;
      }
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (logits[r + j] > max) max = logits[r + j];
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(logits[r + j] - max);
      const logZ = max + Math.log(sum);
      loss += logZ - logits[r + t];
      if (dlogits) {
        const inv = 1 / sum;
        for (let j = 0; j < V; j++) dlogits[r + j] = Math.exp(logits[r + j] - max) * inv * scale;
        dlogits[r + t] -= scale;
      }
    }
    into[0] += loss;
  }

  sampleNext(V: number, logits: FloatArray, temperature: number, u: FloatArray, k: number, input: Int32Array, ids: Int32Array, logProbs: FloatArray): void {
    if (this.probs.length < V) this.probs = new Float64Array(V);
    sampleNextOnHost(V, logits, temperature, u, k, input, ids, logProbs, this.probs);
  }

  gradientNorm(n: number, g: FloatArray, clip: number, byNorm: boolean, out: FloatArray, flags: FloatArray): void {
    writeGradientNorm(this.sumSquares(n, g), clip, byNorm, out, flags);
  }

  /** sum_i x[i]^2 for i < n, accumulated in float64 (gradientNorm's). */
  sumSquares(n: number, x: FloatArray): number {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i] * x[i];
    return s;
  }

  scale(n: number, x: FloatArray, s: number): void {
    for (let i = 0; i < n; i++) x[i] *= s;
  }

  clamp(n: number, x: FloatArray, lo: number, hi: number): void {
    for (let i = 0; i < n; i++) x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
  }

  emaUpdate(n: number, avg: FloatArray, x: FloatArray, decay: number, skip?: FloatArray): void {
    if (skip && !Number.isFinite(skip[0])) return;
    for (let i = 0; i < n; i++) avg[i] = decay * avg[i] + (1 - decay) * x[i];
  }

  adam(n: number, p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray,
    lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number, wd: number, clip?: ClipViews): void {
    if (!clipOnHost(this, n, g, clip)) return;
    for (let i = 0; i < n; i++) {
      const gi = g[i] + wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      p[i] -= (lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + eps);
    }
  }

  rmsprop(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, alpha: number, eps: number, wd: number, clip?: ClipViews): void {
    if (!clipOnHost(this, n, g, clip)) return;
    for (let i = 0; i < n; i++) {
      const gi = g[i] + wd * p[i];
      v[i] = alpha * v[i] + (1 - alpha) * gi * gi;
      p[i] -= (lr * gi) / (Math.sqrt(v[i]) + eps);
    }
  }

  adagrad(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, eps: number, wd: number, clip?: ClipViews): void {
    if (!clipOnHost(this, n, g, clip)) return;
    for (let i = 0; i < n; i++) {
      const gi = g[i] + wd * p[i];
      v[i] += gi * gi;
      p[i] -= (lr * gi) / (Math.sqrt(v[i]) + eps);
    }
  }

  sgd(n: number, p: FloatArray, g: FloatArray, buf: FloatArray, lr: number, momentum: number, wd: number, first: boolean, clip?: ClipViews): void {
    if (!clipOnHost(this, n, g, clip)) return;
    for (let i = 0; i < n; i++) {
      const gi = g[i] + wd * p[i];
      buf[i] = first ? gi : momentum * buf[i] + gi;
      p[i] -= lr * buf[i];
    }
  }
}

/**
 * C += op(A) B, B stored (K, N). Four rows of C at a time: each element of B loaded once
 * serves four multiply-adds, which is what makes plain JS reach a few GFLOP/s.
 */
function gemmNN(M: number, N: number, K: number, A: FloatArray, sa: number, ka: number, B: FloatArray, ldb: number, C: FloatArray, ldc: number): void {
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const c0 = i * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
    for (let k = 0; k < K; k++) {
      const ak = i * sa + k * ka;
      const a0 = A[ak], a1 = A[ak + sa], a2 = A[ak + 2 * sa], a3 = A[ak + 3 * sa];
      if (a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
      const bk = k * ldb;
      for (let j = 0; j < N; j++) {
        const b = B[bk + j];
        C[c0 + j] += a0 * b;
        C[c1 + j] += a1 * b;
        C[c2 + j] += a2 * b;
        C[c3 + j] += a3 * b;
      }
    }
  }
  for (; i < M; i++) {
    const ci = i * ldc;
    for (let k = 0; k < K; k++) {
      const a = A[i * sa + k * ka];
      if (a === 0) continue;
      const bk = k * ldb;
      for (let j = 0; j < N; j++) C[ci + j] += a * B[bk + j];
    }
  }
}

/** C += op(A) Bᵀ, B stored (N, K): dot products of rows, four rows of B at a time. */
function gemmNT(M: number, N: number, K: number, A: FloatArray, sa: number, ka: number, B: FloatArray, ldb: number, C: FloatArray, ldc: number): void {
  for (let i = 0; i < M; i++) {
    const ci = i * ldc;
    const ai = i * sa;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const b0 = j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const a = A[ai + k * ka];
        s0 += a * B[b0 + k];
        s1 += a * B[b1 + k];
        s2 += a * B[b2 + k];
        s3 += a * B[b3 + k];
      }
      C[ci + j] += s0;
      C[ci + j + 1] += s1;
      C[ci + j + 2] += s2;
      C[ci + j + 3] += s3;
    }
    for (; j < N; j++) {
      const bj = j * ldb;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[ai + k * ka] * B[bj + k];
      C[ci + j] += s;
    }
  }
}
