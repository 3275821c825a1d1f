process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
const { requestWebGpuDevice } = await import('/work/wt/gpu/dist/src/backend/webgpu/node.js');
const { GpuContext } = await import('/work/wt/gpu/dist/src/backend/webgpu/context.js');
const { gemm } = await import('/work/wt/gpu/dist/src/backend/webgpu/gemm.js');
const o = await requestWebGpuDevice();
const g = new GpuContext(o, { heapBytes: 16 << 20 });
const A = g.alloc(150*150), B = g.alloc(150*150), C = g.alloc(150*150);
let t0 = performance.now();
for (const M of [1, 33]) for (const ta of [false, true]) for (const tb of [false, true]) {
  const t1 = performance.now(); gemm(g, ta, tb, M, 3, 3, A, 150, B, 150, 0, C, 150); await g.read(C, 1); console.log('compile+run', M, ta, tb, (performance.now()-t1).toFixed(0));
}
console.log('compiles', (performance.now()-t0).toFixed(0));
t0 = performance.now();
const SH = [[1, 1, 1], [3, 5, 2], [17, 65, 17], [5, 17, 33], [33, 129, 65], [50, 128, 33], [150, 7, 50], [3, 2, 0]];
for (const [M,N,K] of SH) { const t1 = performance.now(); for (const ta of [false, true]) for (const tb of [false, true]) for (const b of [0,1]) gemm(g, ta, tb, M, N, K, A, 150, B, 150, b, C, 150); await g.read(C, 1); console.log(M,N,K, (performance.now()-t1).toFixed(0)); }
console.log('runs', (performance.now()-t0).toFixed(0));
g.destroy(); o.device.destroy();
