/**
 * The backend interface: every operation of a training step or a sampled character goes through
 * one of these kernels (GEMMs, cell steps, softmax, dropout masks, fills and copies, ‖g‖,
 * optimizer updates, the draw of a character), so a faster backend (WebAssembly SIMD, threads, a
 * GPU) can replace the reference one (`js.ts`, the specification) without touching the model.
 * The host touches numbers only where it writes them (initialisation, token ids, a checkpoint's
 * weights, whose transposes it does) and where it reads them back (`download`).
 *
 * Conventions
 * - All matrices are row-major. A "view" is a typed array that is a window on the backend's
 *   memory (see `alloc`); a kernel may use `view.byteOffset` as a pointer, so views passed to a
 *   kernel must come from `alloc` of the same backend (the JS backend accepts any array; wasm
 *   and webgpu throw one line for a view that is not theirs).
 * - Shapes are given in comments as (rows, cols). B = batch, H = hidden, G = gate width
 *   (4H for LSTM, 3H for GRU, H for RNN), V = vocabulary size.
 * - Every backend is a device; host memory simply has zero lag. The model never reads or writes
 *   a view's numbers itself during a step: it zeroes, copies and draws dropout masks through
 *   `fill`, `copy` and `dropoutMask`; where the host writes a view (token ids, a loaded
 *   checkpoint, a carried state) it calls `upload`, and before the host reads one it awaits
 *   `download`. Scalars are results in views too: the loss goes `into` a view, ‖g‖ and the clip
 *   factor into gradientNorm's `out`, and the optimizers clip from there. On js and wasm a view
 *   *is* the memory, so upload, download, flush and settle do nothing (`hostMemory` is true); on
 *   webgpu a view is a handle whose `byteOffset` names the tensor in device memory, and its
 *   numbers on the host are a staging copy that is current only after `download`
 *   (docs/webgpu.md). So one loop serves every backend: it reads its numbers only where it logs
 *   them (src/step.ts), which on host memory may be every step.
 * - Kernels allocate nothing per call once warm: a backend may set up caches on first use (the
 *   WASM backend's packed weight panels, and its GEMM scratch at the first call of each size)
 *   and then reuses them, so a training step allocates nothing after the first
 *   (test/memory.test.ts checks it).
 */

export type FloatArray = Float32Array | Float64Array;
export type DType = 'float32' | 'float64';

/** Memory handed out by `Backend.alloc`. `buffer` may be shared (SharedArrayBuffer). */
export interface Block {
  buffer: ArrayBufferLike;
  byteOffset: number;
  byteLength: number;
}

/** What `createBackend` may be asked for: see create.ts. */
export type BackendKind = 'auto' | 'native' | 'wasm' | 'js' | 'webgpu';

/** What `createBackend` chose, and why it differs from what was asked (if it does). */
export interface BackendChoice {
  /** What was asked for. */
  requested: BackendKind;
  /** What runs. */
  kind: 'native' | 'wasm' | 'js' | 'webgpu';
  /** The GPU's adapter, when kind is 'webgpu' ("nvidia … (vulkan)"). */
  adapter?: string;
  /** The code path, when kind is 'native': 'avx512', 'avx2' or 'plain'. */
  isa?: string;
  /** Threads the kernels run on, the caller's included. */
  threads: number;
  /**
   * Set when the result is less than what was asked: 'auto' fell back to the reference kernels,
   * or did not take the native kernels (why not), or fewer threads started than asked (or than
   * the cores, when not asked), and why.
   */
  reason?: string;
  /**
   * 'auto' for training where there is a choice (the native addon loads, or a hardware GPU): the
   * training chars/s it measured on each engine (webgpu first), and took the fastest.
   */
  measured?: Partial<Record<'webgpu' | 'native' | 'wasm' | 'js', number>>;
}

export interface Backend {
  readonly name: string;
  /** How createBackend picked this backend; absent on a backend constructed directly. */
  readonly choice?: BackendChoice;
  /** Element type this backend computes in. The JS backend can do both (float64 for gradient checks). */
  readonly dtypes: readonly DType[];

  /**
   * Reserve `bytes` bytes (64-byte aligned), zeroed. Views into the block stay valid until it is
   * freed (or for the life of the backend): a backend whose memory can grow must not detach
   * earlier buffers.
   */
  alloc(bytes: number): Block;

  /**
   * Give a block from `alloc` back, for the next allocations to reuse (the WASM backend's memory
   * can only grow, so without this every workspace made would stay). Views on the block must not
   * be used afterwards. Optional: the JS backend leaves its blocks to the garbage collector.
   * Arena.dispose() calls it; freeing a block twice throws.
   */
  free?(block: Block): void;

  /**
   * Called by the model after the host wrote the parameters (init, load, a test poking a weight;
   * CharRNN.paramsChanged), and by a training workspace with weight drop for each of its masked
   * W_hh copies. A backend that caches weights in another layout (packed GEMM panels) drops the
   * cache here; its own kernels' writes (an optimizer step) it follows itself. Optional.
   * `params`, if given, is a view holding weights (the model's parameters, or a masked W_hh): the
   * CPU backends then treat matrices inside it as weights, and cache their packed panels from the
   * first GEMM on until a kernel writes there; the region is forgotten when its memory is freed.
   * (Without it they learn the parameters' region at the first optimizer step, so inference-only
   * use, e.g. sampling from a loaded checkpoint, packs nothing and runs a bit slower.)
   */
  paramsChanged?(params?: FloatArray): void;

  /**
   * True where views are the numbers themselves (js, wasm): reading one costs nothing, so a
   * caller may read every step, and per-character host reads (top-k, top-p, beam search, stop
   * sequences) are possible. False on a device (webgpu), whose numbers come back only through
   * `download`. The one capability a caller may ask about; every method below works on both.
   */
  readonly hostMemory: boolean;

  /**
   * The host wrote `view`'s numbers (token ids, weights from a checkpoint, a carried state):
   * a device copies them over, in order with the work recorded so far. Nothing on host memory.
   */
  upload(view: FloatArray | Int32Array): void;
  /**
   * Copy these views' numbers from the device into their host copies, after all the work
   * recorded so far. Resolves at once on host memory.
   */
  download(views: readonly (FloatArray | Int32Array)[]): Promise<void>;
  /** Submit what is recorded (the end of a training window: one queue submit). Nothing on host memory. */
  flush(): void;
  /**
   * Wait while more than a couple of submitted windows still run, so the host's clock measures
   * the device. Resolves at once on host memory, where every kernel has run when it returns.
   */
  settle(): Promise<void>;

  /** Release threads and memory; the backend is unusable afterwards. Optional. */
  dispose?(): void;

  /**
   * C (M, N) = op(A) @ op(B) + beta * C, where op(A) is (M, K) and op(B) is (K, N).
   * transA: A is stored (K, M) with row stride lda; otherwise (M, K).
   * transB: B is stored (N, K) with row stride ldb; otherwise (K, N).
   * beta is 0 (overwrite) or 1 (accumulate, used for `+=` of gradients).
   */
  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: FloatArray, lda: number, B: FloatArray, ldb: number,
    beta: 0 | 1, C: FloatArray, ldc: number,
  ): void;

  /** C[i, :] = v for i < M (accumulate=false) or C[i, :] += v (accumulate=true). C is (M, N). */
  broadcastRows(M: number, N: number, v: FloatArray, C: FloatArray, accumulate: boolean): void;

  /** out[j] += sum_i A[i, j]. A is (M, N). (bias gradients) */
  colSumAcc(M: number, N: number, A: FloatArray, out: FloatArray): void;

  /** out[i, :] (+)= table[idx[i], :] for i < n. table is (rows, cols). (embedding / one-hot) */
  gatherRows(n: number, idx: Int32Array, table: FloatArray, cols: number, out: FloatArray, accumulate: boolean): void;

  /** table[idx[i], :] += src[i, :] for i < n. (embedding / one-hot gradient) */
  scatterAddRows(n: number, idx: Int32Array, src: FloatArray, cols: number, table: FloatArray): void;

  /** x[i] *= m[i] for i < n. (dropout, forward and backward) */
  mul(n: number, x: FloatArray, m: FloatArray): void;

  /** x[i] = v for i < n. (zeroing gradients and carried state) */
  fill(n: number, x: FloatArray, v: number): void;
  /** dst[i] = src[i] for i < n; the two do not overlap. (carrying state, dropout's copy of h) */
  copy(n: number, src: FloatArray, dst: FloatArray): void;
  /**
   * A dropout mask: mask[i] = 1/keep if dropoutBits(key, i) < keep·2³² else 0 (src/rng.ts), a
   * counter-based draw, so every backend makes the same mask from the same key.
   */
  dropoutMask(n: number, mask: FloatArray, keep: number, key: number): void;

  // ---- recurrent cells (batched over B, one time step) ----

  /** h (B, H) = tanh(pre (B, H)). */
  rnnForward(B: number, H: number, pre: FloatArray, h: FloatArray): void;
  /**
   * dpre (B, H) = (dy + dhNext) * (1 - h^2). dy is the gradient from above, dhNext the one
   * carried from step t+1; dhNext is only read.
   */
  rnnBackward(B: number, H: number, h: FloatArray, dy: FloatArray, dhNext: FloatArray, dpre: FloatArray): void;

  /**
   * gates (B, 4H) holds pre-activations i, f, g, o in place of which it leaves the activations
   * sigmoid(i), sigmoid(f), tanh(g), sigmoid(o). Then c = f * cPrev + i * g, h = o * tanh(c).
   * cPrev, c, h are (B, H).
   */
  lstmForward(B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void;
  /**
   * Backward of lstmForward for one step. gates holds the activations. dy (B, H) from above and
   * dhNext (B, H) from step t+1 are read; dc (B, H) holds dL/dc_t on entry and dL/dc_{t-1} on
   * exit. dgates (B, 4H) receives the gradient of the pre-activations.
   */
  lstmBackward(
    B: number, H: number, gates: FloatArray, cPrev: FloatArray, c: FloatArray,
    dy: FloatArray, dhNext: FloatArray, dc: FloatArray, dgates: FloatArray,
  ): void;
  /**
   * One whole LSTM time step: gates (B, 4H) += hPrev (B, H) @ whh (H, 4H), then lstmForward.
   * Exactly those two calls; a backend may fuse them (split by hidden units over threads).
   */
  lstmStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, gates: FloatArray, cPrev: FloatArray, c: FloatArray, h: FloatArray): void;
  /**
   * Its backward: if dgatesNext (B, 4H) is given, dh (B, H) = dgatesNext @ whhᵀ first; then
   * lstmBackward with dh as dhNext. Exactly those two calls; a backend may fuse them.
   */
  lstmStepBackward(
    B: number, H: number, dgatesNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
    gates: FloatArray, cPrev: FloatArray, c: FloatArray, dy: FloatArray, dc: FloatArray, dgates: FloatArray,
  ): void;

  /**
   * One whole RNN time step: pre (B, H) += hPrev (B, H) @ whh (H, H), then rnnForward into h.
   * Exactly those two calls; a backend may fuse them.
   */
  rnnStep(B: number, H: number, hPrev: FloatArray, whh: FloatArray, pre: FloatArray, h: FloatArray): void;
  /**
   * Its backward, with the gradient carried back in time first: if dpreNext (B, H) is given,
   * dh (B, H) = dpreNext @ whhᵀ; then rnnBackward(h, dy, dh, dpre), h being this step's output.
   * The model's loop then needs dh_0 = dpre_0 @ whhᵀ after it (one gemm).
   */
  rnnStepBackward(B: number, H: number, dpreNext: FloatArray | null, whh: FloatArray, dh: FloatArray, h: FloatArray, dy: FloatArray, dpre: FloatArray): void;
  /**
   * One whole GRU time step: gh (B, 3H) = b_hh, gh += hPrev @ whh (H, 3H), then gruForward.
   * Exactly those three calls; a backend may fuse them.
   */
  gruStep(B: number, H: number, gx: FloatArray, hPrev: FloatArray, whh: FloatArray, bhh: FloatArray, gh: FloatArray, act: FloatArray, h: FloatArray): void;
  /**
   * Its backward: if dghNext (B, 3H) is given, dh += dghNext @ whhᵀ (dh holds the direct part
   * carried from step t+1); then gruBackward(act, gh, hPrev, dy, dh, dgx, dgh, dh), which leaves
   * dh := (dy + dh) ⊙ z. The loop then needs dh_0 = dh + dgh_0 @ whhᵀ after it (one gemm).
   */
  gruStepBackward(B: number, H: number, dghNext: FloatArray | null, whh: FloatArray, dh: FloatArray,
    act: FloatArray, gh: FloatArray, hPrev: FloatArray, dy: FloatArray, dgx: FloatArray, dgh: FloatArray): void;

  /**
   * GRU step as PyTorch defines it: gx = x W_ih + b_ih (B, 3H), gh = hPrev W_hh + b_hh (B, 3H),
   * r = sigmoid(gx_r + gh_r), z = sigmoid(gx_z + gh_z), n = tanh(gx_n + r * gh_n),
   * h = (1 - z) * n + z * hPrev. act (B, 3H) receives r, z, n.
   */
  gruForward(B: number, H: number, gx: FloatArray, gh: FloatArray, hPrev: FloatArray, act: FloatArray, h: FloatArray): void;
  /**
   * Backward of gruForward. dh = dy + dhNext. Writes dgx (B, 3H), dgh (B, 3H) (gradients of gx
   * and gh) and dhPrevDirect (B, H) = dh * z, the part of dL/dhPrev that does not go through W_hh.
   * dhPrevDirect may alias dhNext.
   */
  gruBackward(
    B: number, H: number, act: FloatArray, gh: FloatArray, hPrev: FloatArray,
    dy: FloatArray, dhNext: FloatArray, dgx: FloatArray, dgh: FloatArray, dhPrevDirect: FloatArray,
  ): void;

  /**
   * Softmax cross-entropy over N rows of V logits, fused with its backward: into[0] += the sum
   * over rows of -log softmax(logits)[target] (summed in float64 on the host). If dlogits is
   * given, it receives (softmax(logits) - onehot(target)) * scale. A target < 0 marks a row to
   * skip (no loss, zero gradient). dlogits may alias logits.
   */
  softmaxCrossEntropy(N: number, V: number, logits: FloatArray, targets: Int32Array, dlogits: FloatArray | null, scale: number, into: FloatArray): void;

  /**
   * Draw the next character from logits (V), as Sampler.pick does without top-k/top-p: argmax
   * at temperature 0, else u[k] (a uniform drawn by the host) walked down exp((z − max)/T).
   * Writes the id to input[0] (the next step's input), ids[k], and its log-probability at
   * temperature 1 to logProbs[k]; on a device nothing comes back until `download`.
   */
  sampleNext(V: number, logits: FloatArray, temperature: number, u: FloatArray, k: number, input: Int32Array, ids: Int32Array, logProbs: FloatArray): void;

  // ---- optimizer kernels over the flat parameter arena ----

  /**
   * ‖g‖ without a readback: out (2) = (‖g‖, s) with s = clip/‖g‖ when byNorm, clip > 0 and
   * ‖g‖ > clip, else 1; flags (2): flags[0] += 1 when ‖g‖ is not finite, flags[1] = ‖g‖.
   * The optimizers then clip from `out` (ClipViews).
   */
  gradientNorm(n: number, g: FloatArray, clip: number, byNorm: boolean, out: FloatArray, flags: FloatArray): void;
  /** x[i] *= s. */
  scale(n: number, x: FloatArray, s: number): void;
  /** x[i] = min(hi, max(lo, x[i])). */
  clamp(n: number, x: FloatArray, lo: number, hi: number): void;
  /**
   * An exponential moving average of the weights (--ema): avg[i] = decay avg[i] + (1 - decay) x[i].
   * `skip`, if given, is gradientNorm's (‖g‖, s) pair: when ‖g‖ is not finite the optimizer
   * skipped its update, and so does this (on a device without reading it back).
   */
  emaUpdate(n: number, avg: FloatArray, x: FloatArray, decay: number, skip?: FloatArray): void;

  /**
   * Adam (PyTorch's torch.optim.Adam, L2 weight decay added to the gradient):
   * g' = g + wd p; m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2;
   * p -= lr * (m / bc1) / (sqrt(v / bc2) + eps), with bc1 = 1 - b1^t, bc2 = 1 - b2^t.
   */
  adam(n: number, p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray,
    lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number, wd: number, clip?: ClipViews): void;
  /** RMSprop (PyTorch): v = a v + (1 - a) g'^2; p -= lr g' / (sqrt(v) + eps). */
  rmsprop(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, alpha: number, eps: number, wd: number, clip?: ClipViews): void;
  /** Adagrad (PyTorch): v += g'^2; p -= lr g' / (sqrt(v) + eps). */
  adagrad(n: number, p: FloatArray, g: FloatArray, v: FloatArray, lr: number, eps: number, wd: number, clip?: ClipViews): void;
  /** SGD with momentum (PyTorch): buf = mu buf + g' (buf = g' on the first step); p -= lr buf. */
  sgd(n: number, p: FloatArray, g: FloatArray, buf: FloatArray, lr: number, momentum: number, wd: number, first: boolean, clip?: ClipViews): void;
}

/**
 * How an optimizer kernel clips on its way in (`clip` of adam, rmsprop, adagrad, sgd): `factor`
 * is gradientNorm's `out` pair (‖g‖, s). The kernel skips the whole update when ‖g‖ is not
 * finite, multiplies g by s (norm clipping: s < 1 only when ‖g‖ > clip), and clamps each
 * element to ±hi when hi > 0 (clipping by value). Without `clip`, g is used as it is.
 */
export interface ClipViews {
  factor: FloatArray;
  hi: number;
}
