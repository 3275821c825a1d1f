/**
 * The WebGPU kernels in a real headless Chromium, on navigator.gpu: openDevice finds the adapter
 * (SwiftShader here: `--use-webgpu-adapter=swiftshader`, with Vulkan enabled and the GPU process
 * left on), and a GEMM in two transposes, a fused LSTM step forward and backward, and softmax
 * cross-entropy equal the JS reference, as in Node (test/webgpu-kernels.test.ts has the full
 * set); and a whole training step of the model on the WebGPU backend (loss, every gradient, an
 * Adam update with clipping inside it) equals the same step on the JS backend, as
 * test/webgpu-backend.test.ts checks in Node. Skipped where /usr/bin/chromium is missing; under
 * CI=true no adapter is a failure.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser } from 'playwright-core';
import { launchChromium, noChromium } from './chromium.js';

// compiled file: dist/test/webgpu-web.test.js -> the package root, whose dist/ is served
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A blank page at / and the compiled modules under /dist/. */
function serveDist(): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)).replace(/^\/+/, '');
    if (path === '' || path === '.') return void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>webgpu</title>');
    if (!path.startsWith('dist/') || !path.endsWith('.js')) return void res.writeHead(404).end();
    readFile(join(ROOT, path)).then((body) => res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(body), () => res.writeHead(404).end());
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

interface PageResult { error?: string; adapter?: string; software?: boolean; worst?: Record<string, number>; dispatches?: number; submits?: number; deviceErrors?: string[] }

/** In the page: each kernel's largest error relative to the reference's magnitude (|got - want| / (1e-3 + |want|)). */
async function kernelsInPage(): Promise<PageResult> {
  const imp = (m: string): Promise<unknown> => import(`/dist/src/backend/${m}.js`);
  const dev = await imp('webgpu/device') as typeof import('../src/backend/webgpu/device.js');
  const testHelper = '/dist/test/gpu-context.js'; // served as the modules are; a variable, so tsc does not resolve it
  const { TestGpuContext } = await import(testHelper) as typeof import('./gpu-context.js');
  const { gemm } = await imp('webgpu/gemm') as typeof import('../src/backend/webgpu/gemm.js');
  const cells = await imp('webgpu/cells') as typeof import('../src/backend/webgpu/cells.js');
  const loss = await imp('webgpu/loss') as typeof import('../src/backend/webgpu/loss.js');
  const { JsBackend } = await imp('js') as typeof import('../src/backend/js.js');
  const opened = await dev.openDevice(navigator.gpu);
  if ('error' in opened) return { error: opened.error };
  const g = new TestGpuContext(opened, { heapBytes: 1 << 22 });
  const js = new JsBackend();
  let seed = 1;
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1);
  const up = (x: Float32Array | Int32Array): number => { const o = g.alloc(x.length); g.write(o, x); return o; };
  const worst: Record<string, number> = {};
  const checks: [string, number, Float32Array][] = [];
  // GEMMs: NT and TN, odd sizes, beta 1
  for (const [tA, tB] of [[false, true], [true, false]] as const) {
    const [M, N, K] = [33, 65, 17];
    const A = rand(M * K), B = rand(K * N), C = rand(M * N);
    const want = Float32Array.from(C);
    js.gemm(tA, tB, M, N, K, A, tA ? M : K, B, tB ? K : N, 1, want, N);
    const c = up(C);
    gemm(g, tA, tB, M, N, K, up(A), tA ? M : K, up(B), tB ? K : N, 1, c, N);
    checks.push([`gemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`, c, want]);
  }
  // one LSTM step forward and its backward (from a next step's gate gradients), B = 3, H = 33
  const [Bn, H] = [3, 33];
  const hPrev = rand(Bn * H), whh = rand(H * 4 * H).map((x) => x / 6), gates = rand(Bn * 4 * H), cPrev = rand(Bn * H);
  const dNext = rand(Bn * 4 * H), dy = rand(Bn * H), dc = rand(Bn * H);
  const wg = Float32Array.from(gates), wc = new Float32Array(Bn * H), wh = new Float32Array(Bn * H);
  js.lstmStep(Bn, H, hPrev, whh, wg, cPrev, wc, wh);
  const wdh = new Float32Array(Bn * H), wdc = Float32Array.from(dc), wdg = new Float32Array(Bn * 4 * H);
  js.lstmStepBackward(Bn, H, dNext, whh, wdh, wg, cPrev, wc, dy, wdc, wdg);
  const [ga, gc, gh, gw, gcp] = [up(gates), g.alloc(Bn * H), g.alloc(Bn * H), up(whh), up(cPrev)];
  cells.lstmStep(g, Bn, H, up(hPrev), gw, ga, gcp, gc, gh);
  const [gdh, gdc, gdg] = [g.alloc(Bn * H), up(dc), g.alloc(Bn * 4 * H)];
  cells.lstmStepBackward(g, Bn, H, up(dNext), gw, gdh, ga, gcp, gc, up(dy), gdc, gdg);
  checks.push(['lstmStep h', gh, wh], ['lstmStep c', gc, wc], ['lstmStepBackward dh', gdh, wdh], ['lstmStepBackward dc', gdc, wdc], ['lstmStepBackward dgates', gdg, wdg]);
  // softmax cross-entropy, V = 65, a skipped row
  const [N, V] = [3, 65];
  const logits = rand(N * V).map((x) => 4 * x), targets = Int32Array.of(5, -1, 64);
  const wd = new Float32Array(N * V);
  const into = new Float64Array(1); // the reference's loss sum, in full precision
  js.softmaxCrossEntropy(N, V, logits, targets, wd, 1 / 2, into);
  const wantLoss = into[0];
  const [gl, gd, rows, sum] = [up(logits), g.alloc(N * V), g.alloc(N), g.alloc(1)];
  loss.softmaxCrossEntropy(g, N, V, gl, up(targets), gd, 1 / 2, rows, sum, g.alloc(1));
  checks.push(['softmax dlogits', gd, wd], ['softmax loss', sum, Float32Array.of(wantLoss)]);
  const got = await g.readMany(checks.map(([, off, want]) => [off, want.length] as const));
  checks.forEach(([name, , want], k) => {
    let e = 0;
    for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[k][i] - want[i]) / (1e-3 + Math.abs(want[i])));
    worst[name] = e;
  });
  const out = { adapter: opened.adapterInfo.name, software: opened.software, worst, dispatches: g.counters.dispatches, submits: g.counters.submits, deviceErrors: g.errors };
  g.destroy();
  opened.device.destroy();
  return out;
}

/** In the page: one training step of a 2-layer LSTM with dropout on webgpu and on js; the largest relative errors. */
async function trainingStepInPage(): Promise<PageResult> {
  const imp = (m: string): Promise<unknown> => import(`/dist/src/${m}.js`);
  const dev = await imp('backend/webgpu/device') as typeof import('../src/backend/webgpu/device.js');
  const { WebGpuBackend } = await imp('backend/webgpu/backend') as typeof import('../src/backend/webgpu/backend.js');
  const { JsBackend } = await imp('backend/js') as typeof import('../src/backend/js.js');
  const { CharRNN, Workspace } = await imp('model/model') as typeof import('../src/model/model.js');
  const { Optimizer } = await imp('optim') as typeof import('../src/optim.js');
  const { ArenaPlan } = await imp('arena') as typeof import('../src/arena.js');
  const { Rng } = await imp('rng') as typeof import('../src/rng.js');
  const opened = await dev.openDevice(navigator.gpu);
  if ('error' in opened) return { error: opened.error };
  const be = new WebGpuBackend(opened);
  const config = { type: 'lstm' as const, vocabSize: 11, hidden: 33, layers: 2, embed: 5, dropout: 0.25 };
  const [B, T] = [3, 7];
  const ref = new CharRNN(config, new JsBackend(), 'float32');
  ref.init(new Rng(3));
  const gpu = new CharRNN(config, be, 'float32');
  gpu.params.set(ref.params);
  gpu.paramsChanged();
  const wsR = new Workspace(ref, B, T, { training: true });
  const wsG = new Workspace(gpu, B, T, { training: true });
  const ids = new Rng(5);
  for (let i = 0; i < B * T; i++) {
    wsR.inputs[i] = wsG.inputs[i] = Math.floor(ids.next() * 11);
    wsR.targets[i] = wsG.targets[i] = Math.floor(ids.next() * 11);
  }
  wsG.idsWritten();
  const cfg = { optimizer: 'adam' as const, weightDecay: 0, weightDecayMode: 'l2' as const, beta1: 0.9, beta2: 0.999, eps: 1e-8, alpha: 0.99, momentum: 0, ema: 0 };
  const optR = new Optimizer(ref, cfg);
  const optG = new Optimizer(gpu, cfg);
  ref.forward(wsR, { train: true, rng: new Rng(9) });
  const r = { loss: wsR.lossSum[0] };
  gpu.forward(wsG, { train: true, rng: new Rng(9), into: wsG.lossSum });
  ref.backward(wsR);
  gpu.backward(wsG);
  const grads = Float32Array.from(ref.grads);
  // clip by norm at half the norm: the reference scales on the host, the GPU inside the update
  let ss = 0;
  for (const x of ref.grads) ss += x * x;
  const clip = Math.sqrt(ss) / 2;
  for (let i = 0; i < ref.grads.length; i++) ref.grads[i] *= clip / Math.sqrt(ss);
  optR.step(1e-2);
  const plan = new ArenaPlan('float32');
  const sc = plan.floats(2), sf = plan.floats(2);
  const words = plan.allocate(be);
  const factor = words.floats(sc);
  be.gradientNorm(gpu.numParams, gpu.grads, clip, true, factor, words.floats(sf));
  optG.step(1e-2, { factor, hi: 0 });
  await be.download([wsG.lossSum, gpu.grads, gpu.params]);
  const worst: Record<string, number> = {};
  const err = (name: string, got: ArrayLike<number>, want: ArrayLike<number>): void => {
    let e = 0;
    for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]) / (1e-3 + Math.abs(want[i])));
    worst[name] = e;
  };
  err('loss', [wsG.lossSum[0]], [r.loss]);
  err('gradients', gpu.grads, grads);
  err('weights after a clipped Adam step', gpu.params, ref.params);
  const out = { adapter: opened.adapterInfo.name, software: opened.software, worst, dispatches: be.ctx.counters.dispatches, submits: be.ctx.counters.submits, deviceErrors: be.ctx.errors };
  be.dispose();
  return out;
}

/** Open a page on the served dist/ and run `fn` there; skips (or under CI fails) when the page has no WebGPU. */
async function inPage(t: { diagnostic(s: string): void; skip(s: string): void }, fn: () => Promise<PageResult>): Promise<PageResult | null> {
  const server = await serveDist();
  let browser: Browser | null = null;
  try {
    browser = await launchChromium({ webgpu: true });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const r = await page.evaluate(fn);
    t.diagnostic(JSON.stringify(r));
    if (r.error) {
      if (process.env.CI === 'true') assert.fail(`no WebGPU in Chromium: ${r.error}`);
      t.skip(`no WebGPU in Chromium: ${r.error}`); // a developer machine without the driver
      return null;
    }
    assert.ok(r.adapter, 'the adapter has a name');
    if (/swiftshader/i.test(r.adapter!)) assert.equal(r.software, true, `${r.adapter} is a software adapter`);
    assert.deepEqual(r.deviceErrors, []);
    assert.deepEqual(pageErrors, []);
    return r;
  } finally {
    await browser?.close();
    server.close();
  }
}

test('a whole training step on the WebGPU backend in Chromium equals the JS backend', { skip: noChromium, timeout: 120_000 }, async (t) => {
  const r = await inPage(t, trainingStepInPage);
  if (!r) return;
  assert.deepEqual(Object.keys(r.worst!), ['loss', 'gradients', 'weights after a clipped Adam step']);
  for (const [name, e] of Object.entries(r.worst!)) assert.ok(e < 1e-3, `${name}: relative error ${e}`);
});

test('WebGPU kernels in Chromium (navigator.gpu) equal the JS reference', { skip: noChromium, timeout: 120_000 }, async (t) => {
  const r = await inPage(t, kernelsInPage);
  if (!r) return;
  for (const [name, e] of Object.entries(r.worst!)) assert.ok(e < 1e-4, `${name}: relative error ${e}`);
  assert.equal(Object.keys(r.worst!).length, 9);
});
