/**
 * The WebGPU backend (src/backend/webgpu/backend.ts) behind the same model, optimizer and
 * trainer as the CPU backends, against the JS reference, in Node through Dawn (SwiftShader when
 * there is no GPU; see webgpu-kernels.test.ts for the set-up and the skip rule). Correctness and
 * structure only, never speed:
 * - a whole training step (loss, every gradient, the carried state) for all three cells, one-hot
 *   and embedding input (and the embedding's dropout), with dropout between layers: equal to js
 *   within float32 tolerance;
 * - dropout masks: bit for bit the reference's (the counter-based draw of rng.ts);
 * - 20 trainer steps with each optimizer and each clipping mode: the same weights and losses;
 * - the structure of a window: LSTM 2×128, T = 50, counted by the backend;
 * - numbers read at evaluations: a non-finite step is found at the next evaluation and rolled back exactly;
 * - resume: a webgpu checkpoint continues on wasm and the other way round;
 * - sampling on the device: the CPU sampler's characters, one readback per sample; the one
 *   sampler path (Sampler.steps, generate, temperatureSweep) gives js's texts, and what reads
 *   the model on the host (beam search, top-k, readText) is one line naming model.toHost();
 * - createBackend's rules for webgpu, and the CLI's --backend webgpu.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsBackend } from '../src/backend/js.js';
import type { Backend, FloatArray } from '../src/backend/types.js';
import { requestWebGpuDevice } from '../src/backend/webgpu/node.js';
import { WebGpuBackend } from '../src/backend/webgpu/backend.js';
import { createBackend } from '../src/backend/platform-node.js';
import { describeChoice, pickBackend } from '../src/backend/create.js';
import { CharRNN, Workspace, type ModelConfig } from '../src/model/model.js';
import { Rng, fillDropoutMask } from '../src/rng.js';
import { buildCorpus } from '../src/data.js';
import { newRunConfig, resolveConfig, type TrainConfig } from '../src/config.js';
import { Trainer, type TrainEvent } from '../src/train.js';
import { decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint } from '../src/checkpoint.js';
import { classifyText } from '../src/classify.js';
import { evaluateText } from '../src/evaluate.js';
import { clipGradients } from '../src/optim.js';
import { Sampler, type SampledChar } from '../src/sample.js';
import { beamSearch } from '../src/beam.js';
import { generate } from '../src/generate.js';
import { readText, temperatureSweep } from '../src/viz/inspect.js';
import { CharRnnError } from '../src/errors.js';
import { CELLS, textOf, words } from './helpers.js';
import { close } from './kernel-check.js';
import { runCli } from './run-cli.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

const opened = await requestWebGpuDevice();
const noDevice = 'error' in opened ? opened.error : null;
const gpu = 'error' in opened ? null : new WebGpuBackend(opened);
const skip = noDevice && process.env.CI !== 'true' ? `no WebGPU: ${noDevice}` : false;

test.after(() => gpu?.dispose());

function gpuTest(name: string, fn: (be: WebGpuBackend) => Promise<void>): void {
  test(name, { skip }, async () => {
    if (!gpu) assert.fail(`no WebGPU device: ${noDevice}`);
    gpu.ctx.errors.length = 0;
    await fn(gpu);
    assert.deepEqual(gpu.ctx.errors, [], 'device errors');
  });
}

/**
 * Call `fn` after every window the backend submits (each training step ends with one flush): on
 * a device the loop reads, and so reports 'step' events, only at evaluations and samples.
 */
function afterEachWindow(be: WebGpuBackend, fn: (window: number) => void): () => void {
  const flush = be.flush;
  let n = 0;
  be.flush = () => {
    flush.call(be);
    fn(++n);
  };
  return () => {
    be.flush = flush;
  };
}

/** abs + rel tolerance. */
const tol = (want: ArrayLike<number>, abs: number, rel: number) => (i: number): number => abs + rel * Math.abs(want[i]);

/** The same model on two backends: identical float32 weights. */
function twin(config: ModelConfig, be: Backend, seed = 3): [CharRNN, CharRNN] {
  const ref = new CharRNN(config, new JsBackend(), 'float32');
  ref.init(new Rng(seed));
  const dev = new CharRNN(config, be, 'float32');
  dev.params.set(ref.params);
  dev.paramsChanged();
  return [ref, dev];
}

gpuTest('dropout masks are bit for bit the reference\'s (counter-based draw)', async (be) => {
  for (const [n, keep, key] of [[1, 0.5, 1], [1000, 0.7, 0xdeadbeef], [4097, 0.9, 7]] as const) {
    const want = new Float32Array(n);
    fillDropoutMask(n, want, keep, key);
    const block = be.alloc(4 * n);
    const got = new Float32Array(block.buffer as ArrayBuffer, block.byteOffset, n);
    be.dropoutMask(n, got, keep, key);
    await be.download([got]);
    assert.deepEqual(Array.from(got), Array.from(want), `n ${n}`);
    const kept = want.filter((x) => x > 0).length / n;
    if (n > 100) assert.ok(Math.abs(kept - keep) < 0.05, `keeps about ${keep}: ${kept}`);
    be.free(block);
  }
});

for (const type of CELLS) {
  for (const [embed, embedDropout, weightDrop] of [[0, 0, 0], [5, 0, 0], [5, 0.2, 0], [5, 0, 0.3]]) {
    gpuTest(`a whole training step equals js: ${type}, ${embed ? `embedding${embedDropout ? ' with its dropout' : ''}` : 'one-hot'} input, 2 layers, dropout${weightDrop ? ' and weight drop' : ''}`, async (be) => {
      const config: ModelConfig = { type, vocabSize: 11, hidden: 33, layers: 2, embed, dropout: 0.25, ...(embedDropout ? { embedDropout } : {}), ...(weightDrop ? { weightDrop } : {}) };
      const B = 3, T = 7;
      const [ref, dev] = twin(config, be);
      const wsR = new Workspace(ref, B, T, { training: true });
      const wsD = new Workspace(dev, B, T, { training: true });
      const ids = new Rng(5);
      for (let i = 0; i < B * T; i++) {
        wsR.inputs[i] = wsD.inputs[i] = Math.floor(ids.next() * 11);
        wsR.targets[i] = wsD.targets[i] = i % 5 === 4 ? -1 : Math.floor(ids.next() * 11);
      }
      wsD.idsWritten();
      // a carried-in state, as the second window of a run has
      const state = wsR.stateViews().map((v) => Float32Array.from(v, (_, i) => Math.sin(i + v.length)));
      wsR.setState(state);
      wsD.setState(state);
      ref.zeroGrad();
      dev.zeroGrad();
      const rCount = ref.forward(wsR, { train: true, rng: new Rng(9) });
      const dCount = dev.forward(wsD, { train: true, rng: new Rng(9) });
      assert.equal(wsD.lossSum[0], 0, 'the loss stays in the device word until a download');
      assert.equal(dCount, rCount);
      const r = { loss: wsR.lossSum[0] };
      ref.backward(wsR);
      dev.backward(wsD);
      wsR.carryState();
      wsD.carryState();
      await be.download([wsD.lossSum, dev.grads, ...wsD.stateViews(), ...wsD.layers.map((L) => L.dh)]);
      close([wsD.lossSum[0]], [r.loss], () => 1e-5 * Math.abs(r.loss), 'loss');
      close(dev.grads, ref.grads, tol(ref.grads, 1e-5, 1e-3), 'gradients');
      const sR = wsR.stateViews(), sD = wsD.stateViews();
      sR.forEach((v, i) => close(sD[i], v, tol(v, 1e-5, 1e-4), `carried state ${i}`));
      wsR.layers.forEach((L, l) => close(wsD.layers[l].dh, L.dh, tol(L.dh, 1e-5, 1e-3), `dL/dh_0 of layer ${l}`));
      wsD.dispose();
      dev.dispose();
    });
  }
}

const corpus = buildCorpus([{ name: 'words', bytes: new TextEncoder().encode(words(3000, 4)) }]);

/** Run a trainer to the end; its events. */
async function drain(t: Trainer, onEvent?: (ev: TrainEvent) => void): Promise<TrainEvent[]> {
  const events: TrainEvent[] = [];
  for await (const ev of t.run()) {
    events.push(ev);
    onEvent?.(ev);
  }
  return events;
}

const small = (o: Partial<TrainConfig>): TrainConfig =>
  newRunConfig({ model: 'lstm', layers: 2, hidden: 24, embed: 8, batch: 4, seqLen: 16, maxIters: 20, evalEvery: 10, sampleEvery: 0, lr: 3e-3, lrSchedule: 'step', ...o });

for (const [optimizer, clipMode, clip, steps] of [['adam', 'norm', 0.5, 20], ['rmsprop', 'value', 0.01, 8], ['sgd', 'norm', 0, 8], ['adagrad', 'value', 0.001, 8]] as const) {
  gpuTest(`${steps} trainer steps equal js: ${optimizer}, clip ${clip ? `${clipMode} ${clip}` : 'off'}`, async (be) => {
    const config = small({ optimizer, clipMode, clip, dropout: 0.1, momentum: 0.9, lr: optimizer === 'sgd' ? 0.05 : 3e-3, maxIters: steps, evalEvery: steps / 2 });
    const ref = new Trainer({ config, corpus, backend: new JsBackend() });
    const dev = new Trainer({ config, corpus, backend: be });
    const evR = (await drain(ref)).filter((e) => e.type === 'eval');
    const evD = (await drain(dev)).filter((e) => e.type === 'eval');
    assert.equal(evD.length, 2);
    evR.forEach((e, i) => {
      const a = (e as Extract<TrainEvent, { type: 'eval' }>).metrics, b = (evD[i] as typeof e).metrics;
      close([b.train_loss, b.val_loss, b.grad_norm], [a.train_loss, a.val_loss, a.grad_norm], (j) => 2e-4 * Math.abs([a.train_loss, a.val_loss, a.grad_norm][j]), `evaluation ${i}`);
    });
    close(dev.model.params, ref.model.params, tol(ref.model.params, 1e-4, 1e-3), `weights after ${steps} steps`);
    close(dev.optimizer.v, ref.optimizer.v, tol(ref.optimizer.v, 1e-9, 1e-2), 'second moments');
    dev.dispose();
  });
}

gpuTest('one window of LSTM 2×128, T = 50: 1 submit, about 2 dispatches per layer-step, no readback, no allocation', async (be) => {
  const config = small({ hidden: 128, embed: 16, batch: 4, seqLen: 50, maxIters: 3, evalEvery: 3 });
  const t = new Trainer({ config, corpus: buildCorpus([{ name: 'w', bytes: new TextEncoder().encode(words(6000, 2)) }]), backend: be });
  const c = be.ctx.counters;
  const perStep: { dispatches: number; submits: number; readbacks: number; buffers: number; allocations: number }[] = [];
  let last = { ...c, allocations: be.allocations };
  const done = afterEachWindow(be, () => {
    perStep.push({ dispatches: c.dispatches - last.dispatches, submits: c.submits - last.submits, readbacks: c.readbacks - last.readbacks, buffers: c.buffersCreated - last.buffersCreated, allocations: be.allocations - last.allocations });
    last = { ...c, allocations: be.allocations };
  });
  await drain(t);
  done();
  // step 2 is a plain window: step 1 warms up (pipelines, the arena), step 3 evaluates after
  for (const i of [1]) {
    const w = perStep[i];
    assert.equal(w.submits, 1, `one queue submit per window: ${JSON.stringify(w)}`);
    assert.equal(w.readbacks, 0, 'no readback between evaluations');
    assert.equal(w.buffers, 0, 'no GPU buffer created');
    assert.equal(w.allocations, 0, 'no arena allocation');
    const layerSteps = 2 * 50;
    assert.ok(w.dispatches >= 2 * layerSteps && w.dispatches <= 2 * layerSteps + 60, `dispatches per window ${w.dispatches}, about 2 per layer-step (${layerSteps}) plus a constant`);
    console.log(`# LSTM 2×128 T=50 window: ${w.dispatches} dispatches, ${w.submits} submit, ${w.readbacks} readbacks`);
  }
  t.dispose();
});

gpuTest('a non-finite step is found at the next evaluation and --on-nan rollback restores the exact state there', async (be) => {
  const config = small({ maxIters: 12, evalEvery: 4, onNan: 'rollback', maxRollbacks: 2 });
  const t = new Trainer({ config, corpus, backend: be });
  const whh = t.model.specs.find((s) => s.name === 'rnn.weight_hh_l0')!;
  let atFour: Uint8Array | null = null;
  const warnings: string[] = [];
  let restored: Float32Array | null = null;
  const done = afterEachWindow(be, (window) => {
    if (window !== 6) return;
    // a weight blows up on the device mid-run, after window 6 (the host's copy is from iteration 4)
    const w = t.model.params.subarray(whh.offset, whh.offset + 1);
    w[0] = Number.NaN;
    be.upload(w);
  });
  for await (const ev of t.run()) {
    if (ev.type === 'eval' && ev.metrics.iter === 4 && !atFour) atFour = t.checkpoint();
    if (ev.type === 'warning') {
      warnings.push(ev.message);
      await be.download([t.model.params]); // what the device holds now
      restored = Float32Array.from(t.model.params);
    }
  }
  done();
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /non-finite between iterations 5 and 8 .*rolled back to iteration 4 and halved the learning rate/);
  // the device's weights after the rollback are the snapshot's, bit for bit
  const want = new CharRNN(t.model.config, new JsBackend(), 'float32');
  for (const s of want.specs) want.importParam(s, decodeCheckpoint(atFour!).params.get(s.name)!);
  assert.deepEqual(Array.from(restored!), Array.from(want.params));
  const end = decodeCheckpoint(t.checkpoint());
  assert.equal(end.train!.state.iter, 12);
  assert.ok(Number.isFinite(end.train!.state.lastValLoss!), 'trains on after the rollback');
  t.dispose();
});

for (const [first, second] of [['webgpu', 'wasm'], ['wasm', 'webgpu']] as const) {
  gpuTest(`resume: a run checkpointed on ${first} continues on ${second} as it would on ${first}`, async (be) => {
    const wasm = await createBackend({ kind: 'wasm', threads: 1 });
    const pick = (k: 'webgpu' | 'wasm'): Backend => (k === 'webgpu' ? be : wasm);
    try {
      const config = small({ maxIters: 6, evalEvery: 3, dropout: 0.2 });
      const a = new Trainer({ config, corpus, backend: pick(first) });
      await drain(a);
      const bytes = a.checkpoint();
      a.dispose();
      const resume = decodeCheckpoint(bytes);
      assert.equal(resume.train!.state.iter, 6);
      const cont = { ...config, maxIters: 9 };
      const finals: number[] = [];
      for (const k of [second, first]) {
        const b = new Trainer({ config: cont, corpus, backend: pick(k), resume });
        const ev = (await drain(b)).filter((e) => e.type === 'eval').at(-1) as Extract<TrainEvent, { type: 'eval' }>;
        assert.equal(ev.metrics.iter, 9);
        finals.push(ev.metrics.val_loss);
        b.dispose();
      }
      close([finals[0]], [finals[1]], () => 1e-4 * Math.abs(finals[1]), `validation loss at 9 on ${second} vs ${first}`);
    } finally {
      wasm.dispose?.();
    }
  });
}

test('createBackend and webgpu: training and plain sampling only; auto never takes a software GPU; a failing GPU is one line', async () => {
  const plain = readFileSync(new URL('../../build/kernels.wasm', import.meta.url));
  const { createWasmBackend } = await import('../src/backend/wasm.js');
  const platform = (gpu: () => Promise<GPU | { error: string }>, probe: { hardware: true; name: string } | { hardware: false; why: string }) => ({
    cores: 1, start: () => createWasmBackend({ wasmBytes: { plain } }), whyOneThread: () => undefined, gpu, probeGpu: async () => probe,
  });
  const oneLine = (re: RegExp) => (e: unknown): boolean => e instanceof CharRnnError && re.test(e.message) && !e.message.includes('\n');
  const none = platform(async () => ({ error: 'no navigator.gpu' }), { hardware: false, why: 'no navigator.gpu' });
  await assert.rejects(pickBackend({ kind: 'webgpu' }, none), oneLine(/^--backend webgpu trains models and draws plain samples; evaluation/));
  await assert.rejects(pickBackend({ kind: 'webgpu', sampling: true }, none), oneLine(/^the WebGPU backend did not start/));
  // auto for sampling never looks at the GPU, even when asked for a sampler
  await assert.rejects(pickBackend({ kind: 'webgpu', training: true }, none), oneLine(/^the WebGPU backend did not start \(no navigator.gpu\); use --backend wasm$/));
  // auto, training, no hardware GPU: wasm, and nothing to say about it
  const quiet = await pickBackend({ kind: 'auto', training: true }, platform(async () => assert.fail('not opened without a hardware GPU'), { hardware: false, why: 'only a software adapter' }));
  assert.deepEqual(quiet.choice, { requested: 'auto', kind: 'wasm', threads: 1, reason: undefined });
  quiet.dispose?.();
  // a hardware GPU that fails to open: wasm, and the reason says why
  const broken = await pickBackend({ kind: 'auto', training: true }, platform(async () => ({ requestAdapter: async () => { throw new Error('device lost\nmore'); } }) as unknown as GPU, { hardware: true, name: 'NVIDIA H200 (nvidia hopper)' }));
  assert.equal(broken.choice.kind, 'wasm');
  assert.match(broken.choice.reason ?? '', /^WebGPU did not start on NVIDIA H200 \(nvidia hopper\) \(WebGPU adapter request failed: device lost\)$/);
  broken.dispose?.();
  // auto for sampling never looks at the GPU
  const sampling = await pickBackend({ kind: 'auto' }, platform(async () => assert.fail('not asked'), { hardware: true, name: 'x' }));
  assert.equal(sampling.choice.kind, 'wasm');
  sampling.dispose?.();
});

gpuTest('auto on a hardware GPU times the run on both engines and trains on the faster (fake gauges both ways; the engine line says both)', async () => {
  // a platform whose probe reports a hardware GPU, served by this machine's adapter (SwiftShader here)
  const plain = readFileSync(new URL('../../build/kernels.wasm', import.meta.url));
  const { createWasmBackend } = await import('../src/backend/wasm.js');
  const { dawnGpu } = await import('../src/backend/webgpu/node.js');
  const hardware = { cores: 1, start: () => createWasmBackend({ wasmBytes: { plain } }), whyOneThread: () => undefined, gpu: () => dawnGpu(), probeGpu: async () => ({ hardware: true as const, name: 'Fake GPU' }) };
  const fake = (webgpu: number, wasm: number) => async (b: Backend): Promise<number> => (b.name === 'webgpu' ? webgpu : wasm);
  const gpuWins = await pickBackend({ kind: 'auto', training: true, gauge: fake(410_000, 48_000) }, hardware);
  try {
    assert.equal(gpuWins.choice.kind, 'webgpu');
    assert.deepEqual(gpuWins.choice.measured, { webgpu: 410_000, wasm: 48_000 });
    const line = describeChoice(gpuWins.choice);
    console.log(`# ${line}`);
    assert.match(line, /^webgpu backend on .+ \(webgpu 410 K chars\/s, wasm 48 K: webgpu; a software adapter/);
  } finally {
    gpuWins.dispose?.();
  }
  const cpuWins = await pickBackend({ kind: 'auto', training: true, gauge: fake(20_000, 48_000) }, hardware);
  try {
    assert.equal(cpuWins.choice.kind, 'wasm');
    assert.equal(cpuWins.name, 'wasm');
    const line = describeChoice(cpuWins.choice);
    console.log(`# ${line}`);
    assert.equal(line, 'wasm backend, 1 thread (webgpu 20 K chars/s, wasm 48 K: wasm)');
  } finally {
    cpuWins.dispose?.();
  }
  // the default gauge (no run to time) really trains on both: real figures, a real choice
  const real = await pickBackend({ kind: 'auto', training: true }, hardware);
  try {
    const m = real.choice.measured!;
    assert.ok(m.webgpu! > 0 && m.wasm! > 0, JSON.stringify(m));
    assert.equal(real.choice.kind, m.webgpu! > m.wasm! ? 'webgpu' : 'wasm');
    console.log(`# default gauge: ${describeChoice(real.choice)}`);
  } finally {
    real.dispose?.();
  }
  // the real probe on this machine: a software adapter is never weighed, never chosen
  const auto = await createBackend({ kind: 'auto', training: true, gauge: fake(1e9, 1) });
  try {
    if (auto.choice.kind === 'webgpu') assert.ok(!/swiftshader/i.test(auto.choice.adapter ?? ''), 'auto took a software adapter');
    else assert.equal(auto.choice.measured?.webgpu, undefined, 'a software adapter is not measured');
    console.log(`# auto here: ${describeChoice(auto.choice)}`);
  } finally {
    auto.dispose?.();
  }
});

gpuTest('createBackend: webgpu on this machine names its adapter; auto never trains on a software one', async () => {
  const g = await createBackend({ kind: 'webgpu', training: true });
  try {
    assert.equal(g.choice.kind, 'webgpu');
    assert.ok(g.choice.adapter && g.choice.adapter.length > 0);
    if (/swiftshader/i.test(g.choice.adapter!)) assert.match(g.choice.reason ?? '', /software adapter/);
  } finally {
    g.dispose?.();
  }
  if (/swiftshader/i.test(gpu!.adapter)) {
    const auto = await createBackend({ kind: 'auto', training: true, threads: 1 });
    // the CPU's engines (native, where the addon loads, or wasm) are timed against each other; the software GPU never is
    assert.ok(['native', 'wasm'].includes(auto.choice.kind), `SwiftShader is a software adapter: auto stays on the CPU (got ${auto.choice.kind})`);
    assert.equal(auto.choice.measured?.webgpu, undefined);
    auto.dispose?.();
  }
});

gpuTest('a library user samples trainer.model trained on the GPU: charrnn sample of its checkpoint on wasm prints the same; every host reader works or names toHost()', async (be) => {
  // the sequence of the engine issue: on main it printed uniform noise, read from stale host copies
  const trainer = new Trainer({ config: resolveConfig({ maxIters: 30, layers: 1, hidden: 32, batch: 4, seqLen: 16, evalEvery: 10 }), corpus, backend: be });
  const vals: number[] = [];
  for await (const ev of trainer.run()) if (ev.type === 'eval') vals.push(ev.metrics.val_loss);
  assert.ok(vals.at(-1)! < vals[0], `it learns: ${vals.join(', ')}`);
  const text = await textOf({ model: trainer.model, vocab: corpus.vocab }, { length: 80, temperature: 0.5, seed: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-webgpu-lib-'));
  try {
    const ck = join(dir, 'run.safetensors');
    writeFileSync(ck, trainer.checkpoint());
    const cli = await runCli(['sample', ck, '--length', '80', '--temperature', '0.5', '--seed', '1', '--backend', 'wasm']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout, text + '\n', 'the library on the GPU model and the CLI on its checkpoint draw the same text');
    // the numbers that read the model: the device model's equal the saved checkpoint's on the CPU
    const saved = modelFromCheckpoint(decodeCheckpoint(readFileSync(ck)), new JsBackend());
    const parts = [{ name: 't', bytes: new TextEncoder().encode(words(200, 9)) }];
    const [onGpu, onCpu] = [await evaluateText(trainer.model, corpus.vocab, parts), await evaluateText(saved, corpus.vocab, parts)];
    assert.ok(Math.abs(onGpu.nats_per_char - onCpu.nats_per_char) < 1e-5, `evaluateText ${onGpu.nats_per_char} vs ${onCpu.nats_per_char}`);
    const both = await classifyText([{ name: 'gpu', model: trainer.model, vocab: corpus.vocab }, { name: 'cpu', model: saved, vocab: corpus.vocab }], parts);
    assert.ok(Math.abs(both.scores[0].nats_per_char - both.scores[1].nats_per_char) < 1e-5, 'classifyText');
    const host = await trainer.hostModel();
    assert.equal(host.backend.hostMemory, true);
    assert.deepEqual(Array.from(host.params), Array.from(saved.params), 'hostModel() holds the weights the checkpoint holds');
    assert.equal(await trainer.hostModel(), host, 'one host copy, refreshed');
    // what reads numbers on the host without a host copy: one line naming the call
    const names = (e: unknown): boolean => e instanceof CharRnnError && /model\.toHost\(\)/.test(e.message) && !e.message.includes('\n');
    assert.throws(() => encodeCheckpoint({ config: trainer.config, model: trainer.model, vocab: corpus.vocab }), names);
    assert.throws(() => beamSearch(new Sampler(trainer.model, corpus.vocab), { width: 2, length: 5, prime: '', stops: [], lines: false }), names);
    // clipGradients reads ‖g‖ back itself: the same on the device as on the host copy
    const g = Float32Array.from({ length: trainer.model.numParams }, (_, i) => Math.sin(i));
    trainer.model.grads.set(g);
    be.upload(trainer.model.grads);
    host.grads.set(g);
    const [cg, ch] = [await clipGradients(be, g.length, trainer.model.grads, { clip: 1, clipMode: 'norm' }), await clipGradients(host.backend, g.length, host.grads, { clip: 1, clipMode: 'norm' })];
    assert.equal(cg.action, ch.action);
    assert.ok(Math.abs(cg.norm - ch.norm) < 1e-4 * ch.norm, `clipGradients ‖g‖ ${cg.norm} vs ${ch.norm}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    trainer.dispose();
  }
});

gpuTest('charrnn train --backend webgpu: trains, says the adapter, writes checkpoints wasm resumes; sample --backend webgpu draws what wasm draws; eval is a usage error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-webgpu-'));
  try {
    writeFileSync(join(dir, 'c.txt'), words(1500, 3));
    const tiny = ['--hidden', '16', '--layers', '1', '--batch', '4', '--seq-len', '16', '--eval-every', '5', '--sample-every', '5', '--sample-length', '20'];
    const run = await runCli(['train', '--data', join(dir, 'c.txt'), '--out', join(dir, 'run'), '--backend', 'webgpu', '--max-iters', '10', ...tiny]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /webgpu backend on \S.*/);
    assert.match(run.stdout, /--- sample at iteration 5 ---/);
    const ckpt = decodeCheckpoint(readFileSync(join(dir, 'run', 'latest.safetensors')));
    assert.equal(ckpt.train!.state.iter, 10);
    const more = await runCli(['train', '--resume', join(dir, 'run'), '--backend', 'wasm', '--max-iters', '12', '--quiet']);
    assert.equal(more.code, 0, more.stderr);
    assert.equal(decodeCheckpoint(readFileSync(join(dir, 'run', 'latest.safetensors'))).train!.state.iter, 12);
    // a plain sample on the GPU is the CPU's for the same seed; what needs the host is refused
    const ck = join(dir, 'run', 'latest.safetensors');
    const sampleArgs = ['sample', ck, '--length', '60', '--seed', '4', '--prime', 'the '];
    const onGpu = await runCli([...sampleArgs, '--backend', 'webgpu']);
    const onCpu = await runCli([...sampleArgs, '--backend', 'wasm']);
    assert.equal(onGpu.code, 0, onGpu.stderr);
    assert.equal(onGpu.stdout, onCpu.stdout);
    const many = await runCli([...sampleArgs, '--backend', 'webgpu', '--count', '3', '--top-k', '5']);
    assert.equal(many.code, 2);
    assert.equal(many.stderr, 'charrnn: --top-k, --count: not on --backend webgpu, which draws one plain sample; use --backend auto\n');
    const ev = await runCli(['eval', ck, '--data', join(dir, 'c.txt'), '--backend', 'webgpu']);
    assert.equal(ev.code, 2);
    assert.match(ev.stderr, /^charrnn: --backend webgpu trains models and draws plain samples; evaluation, serving and the rest run on auto, native, wasm or js/);
    assert.equal(ev.stderr.trim().split('\n').length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [type, embed, temperature] of [['lstm', 6, 0.8], ['gru', 0, 1], ['rnn', 4, 0]] as const) {
  gpuTest(`sampling on the device draws what the CPU sampler draws: ${type}, temperature ${temperature}`, async (be) => {
    const config: ModelConfig = { type, vocabSize: 13, hidden: 24, layers: 2, embed, dropout: 0 };
    const [ref, dev] = twin(config, be, 11);
    const vocab = buildCorpus([{ name: 'v', bytes: new TextEncoder().encode('abcdefghijkl\n') }]).vocab;
    const cpu = new Sampler(ref, vocab);
    const gpuS = new Sampler(dev, vocab);
    const opts = { length: 300, temperature, prime: 'ab', seed: 5 };
    const c = be.ctx.counters;
    const before = { dispatches: c.dispatches, readbacks: c.readbacks };
    const got: SampledChar[] = [];
    for await (const s of gpuS.steps(opts)) got.push(s);
    const perChar = (c.dispatches - before.dispatches) / opts.length;
    console.log(`# ${type} 2×24 sampling: ${perChar.toFixed(1)} dispatches per character, ${c.readbacks - before.readbacks} readback(s) for ${opts.length} characters`);
    assert.equal(c.readbacks - before.readbacks, 1, 'one readback for the whole sample');
    assert.equal(got.length, opts.length);
    // the CPU sampler step by step: at each yield its logits are those the character was drawn from
    const u = new Rng(opts.seed);
    let n = 0;
    for await (const want of cpu.steps(opts)) {
      const draw = temperature > 0 ? u.next() : 0;
      const g = got[n];
      if (g.id !== want.id) {
        // float32 against float64: allowed only where u lands on a boundary of the distribution
        const z = cpu.logits;
        const max = Math.max(...Array.from(z).slice(0, 13));
        const p = Array.from(z).slice(0, 13).map((x) => Math.exp((x - max) / temperature));
        const sum = p.reduce((a, b) => a + b, 0);
        let cum = 0;
        let nearest = Infinity;
        for (const x of p) nearest = Math.min(nearest, Math.abs((cum += x) - draw * sum) / sum);
        assert.ok(temperature > 0 && nearest < 1e-5, `character ${n}: ${g.id} against ${want.id}, ${nearest} from a boundary`);
        break; // the texts part here
      }
      assert.ok(Math.abs(g.logProb - want.logProb) < 1e-4, `log-probability of character ${n}: ${g.logProb} against ${want.logProb}`);
      n++;
    }
    assert.ok(n >= 100, `${n} characters agree`);
    cpu.dispose();
    gpuS.dispose();
    dev.dispose();
  });
}

for (const [type, embed] of [['lstm', 5], ['gru', 0], ['rnn', 3]] as const) {
  gpuTest(`one sampler path: a ${type} on the device samples js's text for 3 seeds; beam search and top-k name model.toHost()`, async (be) => {
    const config: ModelConfig = { type, vocabSize: 13, hidden: 16, layers: 2, embed, dropout: 0 };
    const [ref, dev] = twin(config, be, 21);
    const vocab = buildCorpus([{ name: 'v', bytes: new TextEncoder().encode('abcdefghijkl\n') }]).vocab;
    const cpu = new Sampler(ref, vocab);
    const gpuS = new Sampler(dev, vocab);
    try {
      for (const seed of [1, 2, 3]) {
        const opts = { length: 80, temperature: 0.9, prime: 'ab', seed };
        assert.equal(await textOf(gpuS, opts), await textOf(cpu, opts), `seed ${seed}`);
      }
      // several samples ended early by a stop: the generator advances per character handed out on both
      const req = { length: 40, count: 4, seed: 7, stop: ['a'] };
      const ends = (r: Awaited<ReturnType<typeof generate>>): Array<[string, string | null]> => r.samples.map((g) => [g.text, g.stopped]);
      assert.deepEqual(ends(await generate({ model: dev, vocab }, req)), ends(await generate({ model: ref, vocab }, req)));
      const sweep = { length: 40, seed: 2, prime: 'c' };
      assert.deepEqual((await temperatureSweep(dev, vocab, [0, 1], sweep)).map((r) => r.text), (await temperatureSweep(ref, vocab, [0, 1], sweep)).map((r) => r.text));
      const beam = { width: 3, length: 10, prime: '', stops: [], lines: false };
      const toHost = (e: unknown): boolean => e instanceof CharRnnError && e.message.includes('model.toHost()') && !e.message.includes('\n');
      assert.throws(() => beamSearch(gpuS, beam), toHost);
      await assert.rejects(generate({ model: dev, vocab }, { length: 10, beam: 3 }), toHost);
      await assert.rejects(textOf(gpuS, { length: 10, topK: 3 }), toHost);
      await assert.rejects(textOf(gpuS, { length: 10, topP: 0.9 }), toHost);
      assert.throws(() => readText(dev, vocab, 'abc'), toHost);
      // the host copy does what the device refuses
      const host = await dev.toHost();
      const topK = { length: 30, seed: 5, topK: 3 };
      assert.equal(await textOf(new Sampler(host, vocab), topK), await textOf(cpu, topK));
      assert.deepEqual(beamSearch(new Sampler(host, vocab), beam).map((g) => g.text), beamSearch(cpu, beam).map((g) => g.text));
    } finally {
      cpu.dispose();
      gpuS.dispose();
      dev.dispose();
    }
  });
}

gpuTest('the heap grows when full, keeping every tensor where it was; freed ranges are reused', async () => {
  const second = await requestWebGpuDevice();
  if ('error' in second) assert.fail(second.error);
  const be = new WebGpuBackend(second, { heapBytes: 1 << 20 });
  try {
    const a = be.alloc(4 * 1000);
    const x = new Float32Array(a.buffer as ArrayBuffer, 0, 1000);
    for (let i = 0; i < x.length; i++) x[i] = i + 0.5;
    be.upload(x);
    const words = be.ctx.words;
    const big = be.alloc(4 << 20); // over the 1 MiB heap: it grows
    assert.ok(be.ctx.words > words, `grown from ${words} words to ${be.ctx.words}`);
    const y = new Float32Array(big.buffer as ArrayBuffer, 0, 4);
    be.copy(4, x, y);
    x.fill(0);
    await be.download([x, y]);
    assert.deepEqual(Array.from(x.subarray(0, 3)), [0.5, 1.5, 2.5], 'kept across the growth');
    assert.deepEqual(Array.from(y), [0.5, 1.5, 2.5, 3.5]);
    be.free(big);
    const grown = be.ctx.words;
    const again = be.alloc(4 << 20);
    assert.equal(be.ctx.words, grown, 'the freed range is reused: no second growth');
    const z = new Float32Array(again.buffer as ArrayBuffer, 0, 4);
    await be.download([z]);
    assert.deepEqual(Array.from(z), [0, 0, 0, 0], 'a reused range is zeroed');
    assert.deepEqual(be.ctx.errors, []);
  } finally {
    be.dispose();
  }
});
