/**
 * `npm run bench:kernels`: GEMM GFLOP/s of the JS reference, the WebAssembly backend (SIMD and
 * relaxed SIMD, 1 and 2 threads) and the native backend (its best code path and the lower ones,
 * 1 and 2 threads), the LSTM step's elementwise kernels in µs, and what one kernel call costs
 * when it does nothing (scale of one float): the overhead batch-1 sampling pays per call. The
 * machine is shared and noisy: compare columns of one run, not numbers of different runs.
 *
 *   node dist/bench/kernels.js [--ms 300] [--isa avx2]
 *
 * --isa runs the native columns on that code path only (avx2: what most laptops have; plain).
 * Last, the native GEMM at the LSTM 2×512 shapes as a share of the FMA peak measured on this core.
 *
 * Shapes are M×K×N (C (M, N) = A (M, K) B (K, N)). "weights" rows keep B in the parameter
 * region, so its packed panels are cached as in training; "per call" rows pack B on every call
 * (an activation as B, or parameters the backend was not told about).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { JsBackend } from '../src/backend/js.js';
import type { Backend } from '../src/backend/types.js';
import { createNodeNativeBackend, createNodeWasmBackend } from '../src/backend/platform-node.js';
import { ISA, ISA_NAMES, type IsaName } from '../src/backend/native-abi.js';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const MS = Number(opt('--ms') || 300);
const ISA_ARG = opt('--isa') as IsaName | undefined;

function f32(be: Backend, n: number): Float32Array {
  const b = be.alloc(4 * n);
  const v = new Float32Array(b.buffer, b.byteOffset, n);
  for (let i = 0; i < n; i++) v[i] = Math.random() - 0.5;
  return v;
}

/** Median over 5 runs of ~MS/5 ms each of the time per call, in seconds. */
function time(fn: () => void): number {
  fn();
  const t0 = performance.now();
  fn();
  const once = Math.max(performance.now() - t0, 1e-3);
  const reps = Math.max(1, Math.round(MS / 5 / once));
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const s = performance.now();
    for (let i = 0; i < reps; i++) fn();
    runs.push((performance.now() - s) / reps / 1000);
  }
  runs.sort((a, b) => a - b);
  return runs[2];
}

interface Case { name: string; M: number; K: number; N: number; transB: boolean; weights: boolean }
const CASES: Case[] = [
  { name: '50×256×512 weights', M: 50, K: 256, N: 512, transB: false, weights: true },
  { name: '50×256×512 per call', M: 50, K: 256, N: 512, transB: false, weights: false },
  { name: '50×1024×2048 weights', M: 50, K: 1024, N: 2048, transB: false, weights: true },
  { name: '50×1024×2048 per call', M: 50, K: 1024, N: 2048, transB: false, weights: false },
  { name: '50×2048×1024 Bᵀ weights', M: 50, K: 2048, N: 1024, transB: true, weights: true },
  { name: '1×100×100 weights', M: 1, K: 100, N: 100, transB: false, weights: true },
  { name: '1×100×100 per call', M: 1, K: 100, N: 100, transB: false, weights: false },
];

function gemmGflops(be: Backend, c: Case): number {
  const A = f32(be, c.M * c.K);
  const B = f32(be, c.K * c.N);
  const C = f32(be, c.M * c.N);
  if (c.weights) be.paramsChanged?.(B); // declare B a parameter region (wasm, native)
  const ldb = c.transB ? c.K : c.N;
  const s = time(() => be.gemm(false, c.transB, c.M, c.N, c.K, A, c.K, B, ldb, 0, C, c.N));
  return (2 * c.M * c.N * c.K) / s / 1e9;
}

function lstmMicros(be: Backend, B: number, H: number): [number, number] {
  const gates = f32(be, B * 4 * H), cPrev = f32(be, B * H), c = f32(be, B * H), h = f32(be, B * H);
  const dy = f32(be, B * H), dn = f32(be, B * H), dc = f32(be, B * H), dg = f32(be, B * 4 * H);
  const saved = Float32Array.from(gates);
  const fwd = time(() => {
    gates.set(saved); // keep the pre-activations bounded across repetitions
    be.lstmForward(B, H, gates, cPrev, c, h);
  });
  const bwd = time(() => be.lstmBackward(B, H, gates, cPrev, c, dy, dn, dc, dg));
  return [fwd * 1e6, bwd * 1e6];
}

/** ns per call of a kernel that does (almost) nothing: the cost of crossing into it. */
function callNanos(be: Backend): number {
  const x = f32(be, 16);
  return time(() => { for (let i = 0; i < 1000; i++) be.scale(1, x, 1); }) * 1e6;
}

/** The native code paths to time: --isa's, else every one this CPU runs (best first); none without the addon. */
function nativeIsas(): IsaName[] {
  try {
    const probe = createNodeNativeBackend({ threads: 1 });
    probe.dispose();
    return ISA_ARG ? [ISA_ARG] : ISA_NAMES.filter((i) => ISA[i] <= ISA[probe.isa]).reverse();
  } catch (e) {
    console.error(`native: unavailable (${(e as Error).message})`);
    return [];
  }
}

interface Column { name: string; make: () => Promise<Backend> }
const columns: Column[] = [
  { name: 'js', make: async () => new JsBackend() },
  { name: 'simd x1', make: () => createNodeWasmBackend({ threads: 1, relaxed: false }) },
  { name: 'simd x2', make: () => createNodeWasmBackend({ threads: 2, relaxed: false }) },
  { name: 'relaxed x1', make: () => createNodeWasmBackend({ threads: 1, relaxed: true }) },
  { name: 'relaxed x2', make: () => createNodeWasmBackend({ threads: 2, relaxed: true }) },
  ...nativeIsas().flatMap((isa) => [1, 2].map((threads) => ({ name: `${isa} x${threads}`, make: async () => createNodeNativeBackend({ threads, isa }) }))),
];

const gemm: string[][] = CASES.map((c) => [c.name]);
const lstm: string[][] = [[' B50 H128 fwd'], [' B50 H128 bwd'], [' B50 H512 fwd'], [' B50 H512 bwd']];
const calls: string[][] = [['scale(1)']];
const used: string[] = [];
for (const col of columns) {
  let be: Backend;
  try {
    be = await col.make();
  } catch (e) {
    console.error(`${col.name}: unavailable (${(e as Error).message})`);
    continue;
  }
  used.push(col.name);
  try {
    CASES.forEach((c, i) => gemm[i].push(gemmGflops(be, c).toFixed(1)));
    const [f1, b1] = lstmMicros(be, 50, 128);
    const [f2, b2] = lstmMicros(be, 50, 512);
    [f1, b1, f2, b2].forEach((v, i) => lstm[i].push(v.toFixed(1)));
    calls[0].push(callNanos(be).toFixed(0));
  } finally {
    be.dispose?.();
  }
}

const table = (title: string, head: string, rows: string[][]): void => {
  const all = [[head, ...used], ...rows];
  const widths = all[0].map((_, j) => Math.max(...all.map((r) => (r[j] ?? '').length)));
  const line = (r: string[]): string => '| ' + r.map((x, j) => (j === 0 ? x.padEnd(widths[j]) : x.padStart(widths[j]))).join(' | ') + ' |';
  console.log(`\n${title}`);
  console.log(line(all[0]));
  console.log('| ' + widths.map((w, j) => (j === 0 ? '-'.repeat(w) : '-'.repeat(w - 1) + ':')).join(' | ') + ' |');
  for (const r of rows) console.log(line(r));
};
table('GEMM GFLOP/s (median of 5), shapes M×K×N', 'shape', gemm);
table('LSTM step elementwise, µs per call', 'kernel', lstm);
table('A call that does nothing, ns', 'kernel', calls);

// The core's FMA peak the native GEMM is judged against (the issue's 70%), and each LSTM 2×512
// shape's share of it: the standalone harness (bench/native-gemm.c with native/gemm.c, built by the
// system's C compiler, as the addon is) measures the peak with an FMA loop and prints it first.
console.log('\nnative GEMM against the FMA peak (scripts/native-gemm-check.mjs bench --only 2x512):');
const harness = fileURLToPath(new URL('../../scripts/native-gemm-check.mjs', import.meta.url));
const peak = spawnSync(process.execPath, [harness, 'bench', '--only', '2x512', ...(ISA_ARG ? ['--isa', ISA_ARG] : [])], { stdio: 'inherit' });
if (peak.status !== 0) console.log(`(the harness did not run: ${peak.error?.message ?? `exit ${peak.status}`}; it needs gcc or $CC)`);
