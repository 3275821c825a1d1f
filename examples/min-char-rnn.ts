/**
 * min-char-rnn in TypeScript: Andrej Karpathy's 112-line vanilla RNN
 * (https://gist.github.com/karpathy/d4dee566867f8291f086), kept in the same order so the two
 * can be read side by side. No imports from the library: plain loops over Float64Arrays.
 *
 *   h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)     x_t one-hot (V), h_t (H)
 *   y_t = Why h_t + by                          (V) unnormalised log-probabilities
 *   p_t = softmax(y_t);  loss = Σ_t -log p_t[target_t]   (summed over the sequence, not averaged)
 *
 * Trained with truncated BPTT over 25 characters, Adagrad at lr 0.1, gradients clipped to ±5.
 * test/min-char-rnn.test.ts proves lossFun computes exactly what the library's `rnn` model
 * computes for the same weights (mapping: Wxh = weight_ih_l0, Whh = weight_hh_l0,
 * bh = bias_ih_l0 + bias_hh_l0, Why = decoder.weight, by = decoder.bias; ours is the mean loss).
 *
 * Run: npx tsx examples/min-char-rnn.ts [text file] [--iters N]
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Matrices are row-major Float64Arrays: M (rows, cols) element (i, j) is M[i * cols + j]. */
export interface Model {
  H: number; // hidden size
  V: number; // vocabulary size
  Wxh: Float64Array; // (H, V) input to hidden
  Whh: Float64Array; // (H, H) hidden to hidden
  Why: Float64Array; // (V, H) hidden to output
  bh: Float64Array; // (H) hidden bias
  by: Float64Array; // (V) output bias
}
export type Grads = Omit<Model, 'H' | 'V'>;
const NAMES = ['Wxh', 'Whh', 'Why', 'bh', 'by'] as const;

/** A small seeded generator (mulberry32), so runs repeat; randn by Box-Muller. */
export function makeRandom(seed: number): { rand: () => number; randn: () => number } {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const randn = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return { rand, randn };
}

/** Weights ~ N(0, 0.01²), biases zero, as in the original. */
export function initModel(H: number, V: number, randn: () => number): Model {
  const r = (n: number): Float64Array => Float64Array.from({ length: n }, () => randn() * 0.01);
  return { H, V, Wxh: r(H * V), Whh: r(H * H), Why: r(V * H), bh: new Float64Array(H), by: new Float64Array(V) };
}

/** Zero arrays shaped like the parameters (for gradients and Adagrad's memory). */
const zerosLike = (m: Model): Grads => ({ Wxh: new Float64Array(m.Wxh.length), Whh: new Float64Array(m.Whh.length), Why: new Float64Array(m.Why.length), bh: new Float64Array(m.H), by: new Float64Array(m.V) });

/** y += M x, M (rows, cols). */
function matVec(M: Float64Array, x: Float64Array, rows: number, cols: number, y: Float64Array): void {
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += M[i * cols + j] * x[j];
    y[i] += s;
  }
}

/** p = softmax(y), shifted by the max so exp never overflows. */
function softmax(y: Float64Array): Float64Array {
  const max = Math.max(...y);
  const p = y.map((v) => Math.exp(v - max));
  const sum = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / sum);
}

/**
 * Forward over the sequence, then backpropagation through time.
 * inputs, targets: character ids; hprev (H): the state carried in from the previous chunk.
 * Returns the summed loss, the gradients of every parameter, and the last hidden state.
 */
export function lossFun(m: Model, inputs: number[], targets: number[], hprev: Float64Array): { loss: number; grads: Grads; h: Float64Array } {
  const { H, V } = m;
  const hs: Float64Array[] = [Float64Array.from(hprev)]; // hs[t + 1] = h_t; hs[0] = h_{-1}
  const ps: Float64Array[] = [];
  let loss = 0;
  for (let t = 0; t < inputs.length; t++) {
    const h = Float64Array.from(m.bh); // Wxh x_t is column inputs[t] of Wxh (one-hot input)
    for (let i = 0; i < H; i++) h[i] += m.Wxh[i * V + inputs[t]];
    matVec(m.Whh, hs[t], H, H, h);
    for (let i = 0; i < H; i++) h[i] = Math.tanh(h[i]);
    hs.push(h);
    const y = Float64Array.from(m.by);
    matVec(m.Why, h, V, H, y);
    ps.push(softmax(y));
    loss += -Math.log(ps[t][targets[t]]); // cross-entropy
  }
  // backward pass: compute gradients going backwards
  const g = zerosLike(m);
  let dhnext = new Float64Array(H);
  for (let t = inputs.length - 1; t >= 0; t--) {
    const dy = Float64Array.from(ps[t]);
    dy[targets[t]] -= 1; // dloss/dy = p - onehot(target): the softmax + cross-entropy gradient
    const h = hs[t + 1];
    const hPrev = hs[t];
    for (let i = 0; i < V; i++) {
      for (let j = 0; j < H; j++) g.Why[i * H + j] += dy[i] * h[j]; // dWhy += dy hᵀ
      g.by[i] += dy[i];
    }
    const dh = Float64Array.from(dhnext); // dh = Whyᵀ dy + dhnext (the gradient from the future)
    for (let i = 0; i < V; i++) for (let j = 0; j < H; j++) dh[j] += m.Why[i * H + j] * dy[i];
    const dhraw = dh.map((d, i) => (1 - h[i] * h[i]) * d); // backprop through tanh
    dhnext = new Float64Array(H);
    for (let i = 0; i < H; i++) {
      g.bh[i] += dhraw[i];
      g.Wxh[i * V + inputs[t]] += dhraw[i]; // dWxh += dhraw x_tᵀ, x_t one-hot
      for (let j = 0; j < H; j++) {
        g.Whh[i * H + j] += dhraw[i] * hPrev[j]; // dWhh += dhraw h_{t-1}ᵀ
        dhnext[j] += m.Whh[i * H + j] * dhraw[i]; // dhnext = Whhᵀ dhraw
      }
    }
  }
  return { loss, grads: g, h: hs[inputs.length] };
}

/** Clip every gradient to [-5, 5] to mitigate exploding gradients (the original does it in lossFun). */
export function clip(g: Grads, limit = 5): void {
  for (const k of NAMES) g[k].forEach((v, i) => (g[k][i] = Math.min(limit, Math.max(-limit, v))));
}

/** Sample n character ids from the model, starting from state h and seed id. */
export function sample(m: Model, h: Float64Array, seedIx: number, n: number, rand: () => number): number[] {
  const out: number[] = [];
  let ix = seedIx;
  let hs = Float64Array.from(h);
  for (let t = 0; t < n; t++) {
    const next = Float64Array.from(m.bh);
    for (let i = 0; i < m.H; i++) next[i] += m.Wxh[i * m.V + ix];
    matVec(m.Whh, hs, m.H, m.H, next);
    hs = next.map(Math.tanh);
    const y = Float64Array.from(m.by);
    matVec(m.Why, hs, m.V, m.H, y);
    const p = softmax(y);
    let r = rand();
    ix = 0;
    while (ix < m.V - 1 && (r -= p[ix]) > 0) ix++; // draw from p
    out.push(ix);
  }
  return out;
}

/** Train on a text; prints the smoothed loss and a sample every `every` iterations. */
export function main(args: string[], log: (s: string) => void = console.log): { smoothLoss: number } {
  const iArg = args.indexOf('--iters');
  const maxIters = iArg >= 0 ? Number(args[iArg + 1]) : Infinity;
  const path = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--iters') ?? join(dirname(fileURLToPath(import.meta.url)), 'data', 'loomings.txt');
  const data = [...readFileSync(path, 'utf8')]; // code points
  const chars = [...new Set(data)].sort();
  log(`data has ${data.length} characters, ${chars.length} unique.`);
  const charToIx = new Map(chars.map((c, i) => [c, i]));
  const hiddenSize = 100; // size of hidden layer of neurons
  const seqLength = 25; // number of steps to unroll the RNN for
  const learningRate = 1e-1;
  const { rand, randn } = makeRandom(42);
  const m = initModel(hiddenSize, chars.length, randn);
  const mem = zerosLike(m); // Adagrad memory: sums of squared gradients
  let smoothLoss = -Math.log(1 / chars.length) * seqLength; // loss at iteration 0
  let hprev: Float64Array = new Float64Array(hiddenSize);
  for (let n = 0, p = 0; n < maxIters; n++, p += seqLength) {
    if (p + seqLength + 1 >= data.length || n === 0) {
      hprev = new Float64Array(hiddenSize); // reset RNN memory
      p = 0; // go from start of data
    }
    const inputs = data.slice(p, p + seqLength).map((c) => charToIx.get(c)!);
    const targets = data.slice(p + 1, p + seqLength + 1).map((c) => charToIx.get(c)!);
    if (n % 100 === 0) log(`----\n${sample(m, hprev, inputs[0], 200, rand).map((i) => chars[i]).join('')}\n----`);
    const { loss, grads, h } = lossFun(m, inputs, targets, hprev);
    hprev = h;
    clip(grads);
    smoothLoss = smoothLoss * 0.999 + loss * 0.001;
    if (n % 100 === 0) log(`iter ${n}, loss: ${smoothLoss.toFixed(4)}`);
    for (const k of NAMES) {
      // Adagrad: each parameter's step shrinks with the sum of its squared gradients so far
      const [param, d, s] = [m[k], grads[k], mem[k]];
      for (let i = 0; i < param.length; i++) {
        s[i] += d[i] * d[i];
        param[i] -= (learningRate * d[i]) / Math.sqrt(s[i] + 1e-8);
      }
    }
  }
  return { smoothLoss };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
