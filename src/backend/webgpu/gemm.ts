/**
 * Tiled GEMM in WGSL, the contract of Backend.gemm (types.ts):
 *
 *   C (M, N) = op(A) (M, K) @ op(B) (K, N) + beta C        beta ∈ {0, 1}
 *   transA: A stored (K, M), element (i, k) at A[k·lda + i]; else (M, K) at A[i·lda + k]
 *   transB: B stored (N, K), element (k, j) at B[j·ldb + k]; else (K, N) at B[k·ldb + j]
 *
 * Tiling: a workgroup owns a BM × BN block of C. It walks K in tiles of BK = 16: all its threads
 * copy the BM × BK slice of op(A) and the BK × BN slice of op(B) into workgroup memory (each
 * global element read once per workgroup instead of once per output), then each thread
 * multiplies out a TM × TN register block from those tiles. The copy loops are arranged per
 * transpose so that consecutive threads read consecutive addresses of the *stored* matrix
 * (coalesced), whichever way it is transposed; tiles are stored k-major so the inner loop reads
 * a column of As and a row of Bs. The transposes are parameters, not specialisations: the branch
 * is uniform (every thread takes the same side) and costs next to nothing on a GPU, while each
 * extra pipeline costs seconds of shader compilation on SwiftShader (4 × more pipelines made
 * the test file twice as slow). Threads own rows lid.y + r·TY and columns lid.x + c·TX
 * (strided, not blocked), so the final stores of a warp are to consecutive columns.
 *
 * Two shapes: 64 × 64 with 4 × 4 per thread for big products (the window's input projection,
 * weight gradients over T·B rows), and 16 × 64 with 1 × 4 per thread when M ≤ 16 (batch-1 and
 * small-batch products), so a tiny M does not leave 3/4 of every workgroup idle. Both use 256
 * threads. Edges (odd M, N, K) are handled by zero-filling the tiles and masking the stores.
 */
import type { GpuContext } from './context.js';

const BK = 16;

interface Shape { BM: number; BN: number; TM: number; TN: number }
const BIG: Shape = { BM: 64, BN: 64, TM: 4, TN: 4 };
const SMALL_M: Shape = { BM: 16, BN: 64, TM: 1, TN: 4 };

export const GEMM_PARAMS = 'M N K A lda B ldb C ldc beta transA transB';

function gemmSource(s: Shape): string {
  const { BM, BN, TM, TN } = s;
  const TX = BN / TN;
  const TY = BM / TM;
  const NT = TX * TY;
  // (k, i) of the e-th element of the A tile, (k, j) of the B tile: consecutive e walk the
  // stored matrix's rows, whichever way it is transposed.
  const aIdx = `var i = e / ${BK}u; var k = e % ${BK}u; if (p.transA != 0u) { i = e % ${BM}u; k = e / ${BM}u; }`;
  const aAt = 'select(gi * p.lda + gk, gk * p.lda + gi, p.transA != 0u)';
  const bIdx = `var j = e % ${BN}u; var k = e / ${BN}u; if (p.transB != 0u) { k = e % ${BK}u; j = e / ${BK}u; }`;
  const bAt = 'select(gk * p.ldb + gj, gj * p.ldb + gk, p.transB != 0u)';
  return /* wgsl */ `
var<workgroup> As: array<f32, ${BK * BM}>; // (BK, BM) k-major
var<workgroup> Bs: array<f32, ${BK * BN}>; // (BK, BN)

@compute @workgroup_size(${TX}, ${TY})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let i0 = wg.y * ${BM}u;
  let j0 = wg.x * ${BN}u;
  var acc: array<f32, ${TM * TN}>;
  for (var q = 0u; q < ${TM * TN}u; q++) { acc[q] = 0.0; }
  for (var k0 = 0u; k0 < p.K; k0 += ${BK}u) {
    for (var e = tid; e < ${BK * BM}u; e += ${NT}u) {
      ${aIdx}
      let gi = i0 + i;
      let gk = k0 + k;
      var v = 0.0;
      if (gi < p.M && gk < p.K) { v = h[p.A + ${aAt}]; }
      As[k * ${BM}u + i] = v;
    }
    for (var e = tid; e < ${BK * BN}u; e += ${NT}u) {
      ${bIdx}
      let gj = j0 + j;
      let gk = k0 + k;
      var v = 0.0;
      if (gj < p.N && gk < p.K) { v = h[p.B + ${bAt}]; }
      Bs[k * ${BN}u + j] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      var a: array<f32, ${TM}>;
      for (var r = 0u; r < ${TM}u; r++) { a[r] = As[kk * ${BM}u + lid.y + r * ${TY}u]; }
      for (var c = 0u; c < ${TN}u; c++) {
        let b = Bs[kk * ${BN}u + lid.x + c * ${TX}u];
        for (var r = 0u; r < ${TM}u; r++) { acc[r * ${TN}u + c] += a[r] * b; }
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < ${TM}u; r++) {
    let gi = i0 + lid.y + r * ${TY}u;
    for (var c = 0u; c < ${TN}u; c++) {
      let gj = j0 + lid.x + c * ${TX}u;
      if (gi < p.M && gj < p.N) {
        let at = p.C + gi * p.ldc + gj;
        var old = 0.0;
        if (p.beta != 0u) { old = h[at]; }
        h[at] = acc[r * ${TN}u + c] + old;
      }
    }
  }
}
`;
}

/** Record C = op(A) op(B) + beta C; A, B, C are heap offsets (words). */
export function gemm(
  ctx: GpuContext, transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: number, lda: number, B: number, ldb: number, beta: 0 | 1, C: number, ldc: number,
): void {
  if (M === 0 || N === 0) return;
  const s = M <= 16 ? SMALL_M : BIG;
  const k = ctx.kernel(`gemm:${s.BM}x${s.BN}`, GEMM_PARAMS, () => gemmSource(s));
  ctx.dispatch(k, { M, N, K, A, lda, B, ldb, beta, C, ldc, transA: transA ? 1 : 0, transB: transB ? 1 : 0 }, [Math.ceil(N / s.BN), Math.ceil(M / s.BM)]);
}
