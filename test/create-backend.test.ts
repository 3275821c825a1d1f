/**
 * createBackend's rules (src/backend/create.ts): what each kind gives, what `choice` reports and
 * why, and the one-line errors for bad options. Node's createBackend is the real one; the
 * fallbacks are driven through pickBackend with real failures (a module that does not compile,
 * a backend without workers), as a platform without WebAssembly or threads would produce them.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { checkBackendOptions, describeChoice, pickBackend } from '../src/backend/create.js';
import { createBackend } from '../src/backend/platform-node.js';
import { createWasmBackend } from '../src/backend/wasm.js';
import { CharRnnError } from '../src/errors.js';

const KERNELS = new URL('../../build/kernels.wasm', import.meta.url); // dist/test/ -> build/
/** A platform without WebGPU (the GPU rules are tested in webgpu-backend.test.ts). */
const noGpu = async () => ({ error: 'no WebGPU here' });
const probeGpu = async () => ({ hardware: false as const, why: 'no WebGPU here' });

test('createBackend: js is the reference on one thread; wasm runs the threads asked; auto is native here (wasm without the addon)', async () => {
  const js = await createBackend({ kind: 'js' });
  assert.equal(js.name, 'js');
  assert.deepEqual(js.choice, { requested: 'js', kind: 'js', threads: 1, reason: undefined });
  const jsMany = await createBackend({ kind: 'js', threads: 4 });
  assert.match(jsMany.choice.reason ?? '', /one thread/);

  const wasm = await createBackend({ kind: 'wasm', threads: 2 });
  try {
    assert.equal(wasm.name, 'wasm');
    assert.deepEqual(wasm.choice, { requested: 'wasm', kind: 'wasm', threads: 2, reason: undefined });
    assert.equal(describeChoice(wasm.choice), 'wasm backend, 2 threads');
  } finally {
    wasm.dispose?.();
  }
  const auto = await createBackend({ threads: 1 });
  try {
    // the native addon is built wherever the tests run (CI installs a compiler): native-backend.test.ts
    assert.equal(auto.choice.kind, 'native');
    assert.equal(auto.choice.reason, undefined);
  } finally {
    auto.dispose?.();
  }
});

test('auto falls back to js and says why; wasm asked for fails with one line', async () => {
  const broken = { cores: 2, start: () => createWasmBackend({ wasmBytes: { plain: new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9]) } }), whyOneThread: () => undefined, gpu: noGpu, probeGpu };
  const auto = await pickBackend({ kind: 'auto' }, broken);
  assert.equal(auto.name, 'js');
  assert.equal(auto.choice.kind, 'js');
  assert.equal(auto.choice.requested, 'auto');
  assert.match(auto.choice.reason ?? '', /^the WebAssembly backend did not start \(.+\)$/);
  assert.doesNotMatch(auto.choice.reason ?? '', /\n/);
  await assert.rejects(pickBackend({ kind: 'wasm' }, broken), (e: unknown) => e instanceof CharRnnError && e.code === 'no-wasm' && /use --backend js$/.test(e.message) && !e.message.includes('\n'));
});

test('fewer threads than asked: the reason is the platform\'s, or the count', async () => {
  const plain = await readFile(KERNELS);
  // no spawnWorker: createWasmBackend's rule gives one thread
  const oneThread = (why: string | undefined) => ({ cores: 4, start: (threads: number) => createWasmBackend({ wasmBytes: { plain }, threads }), whyOneThread: () => why, gpu: noGpu, probeGpu });
  const a = await pickBackend({ kind: 'wasm', threads: 3 }, oneThread('no workers here'));
  assert.deepEqual(a.choice, { requested: 'wasm', kind: 'wasm', threads: 1, reason: 'no workers here' });
  const b = await pickBackend({ kind: 'auto' }, oneThread(undefined)); // threads 0: every core (4)
  assert.deepEqual(b.choice, { requested: 'auto', kind: 'wasm', threads: 1, reason: '1 of 4 threads started' });
  assert.equal(describeChoice(b.choice), 'wasm backend, 1 thread (1 of 4 threads started)');
});

test('bad options: one-line CharRnnError naming the flag', async () => {
  const bad = (o: { kind?: unknown; threads?: unknown }, flag: RegExp): void => {
    assert.throws(() => checkBackendOptions(o), (e: unknown) => e instanceof CharRnnError && e.code === 'bad-flag' && flag.test(e.message) && !e.message.includes('\n'));
  };
  bad({ kind: 'gpu' }, /^--backend must be one of auto, native, wasm, js, webgpu \(got "gpu"\)$/);
  bad({ kind: 3 }, /^--backend/);
  for (const threads of [-1, 1.5, 257, '2', Number.NaN]) bad({ threads }, /^--threads must be a whole number ≥ 0 and ≤ 256, 0 = every core \(got .+\)$/);
  assert.deepEqual(checkBackendOptions({}), { kind: 'auto', threads: 0 });
  await assert.rejects(createBackend({ kind: 'cuda' as 'js' }), /--backend/);
});
