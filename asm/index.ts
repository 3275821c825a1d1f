// Entry point of the kernel module (compiled twice by scripts/build-wasm.mjs: plain SIMD, and
// relaxed SIMD where fmadd becomes a fused multiply-add). Memory is imported and shared: all
// pointers are byte offsets into it, handed out by the allocator in src/backend/wasm-heap.ts.
// No runtime, no GC, no data segments: the module only computes.
export { gemmPanels, gemmTask, packB, gemmColsNN, gemmDotNT, gemmRowsNN, transpose } from './gemm';
export { broadcastRows, colSumAcc, gatherRows, scatterAddRows, mul, scale, clamp, sumSquares } from './rows';
export { rnnForward, rnnBackward, lstmForward, lstmBackward, lstmStepUnits, lstmStepBackUnits, gruForward, gruBackward } from './cells';
export { softmaxCrossEntropy } from './softmax';
export { adam, rmsprop, adagrad, sgd, emaUpdate } from './optim';
export { logf64 } from './math';

/** End of the compiler's static data: the host checks that it lies below its reserved region. */
export function heapBase(): usize {
  return __heap_base;
}
