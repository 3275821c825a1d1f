/**
 * A whole training step on the WebAssembly backend equals the same step on the JS reference:
 * loss, every gradient, the parameters after an optimizer step, and the next step's loss (which
 * checks that packed weights cached by the wasm GEMM were refreshed after the update). SGD, not
 * Adam: its update is linear in the gradient, so float32-level differences stay that small
 * (Adam's first step is lr * sign(g), which flips for gradients that are zero up to rounding).
 * RNN, LSTM and GRU; one-hot and embedded input; dropout and weight drop; 1 and 2 threads.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../src/backend/js.js';
import { createNodeWasmBackend } from '../src/backend/platform-node.js';
import type { ModelConfig } from '../src/model/model.js';
import { CELLS } from './helpers.js';
import { MODELS, stepsEqualJs, train } from './train-check.js';

for (const threads of [1, 2]) {
  test(`a training step on wasm (${threads} thread${threads > 1 ? 's' : ''}) equals the JS reference`, async (t) => {
    const be = await createNodeWasmBackend({ threads });
    try {
      await stepsEqualJs(t, be);
    } finally {
      be.dispose();
    }
  });
}

test('wasm results do not depend on the thread count (bit for bit)', async () => {
  const one = await createNodeWasmBackend({ threads: 1 });
  const two = await createNodeWasmBackend({ threads: 2 });
  try {
    const m = MODELS[1];
    for (const type of CELLS) {
      const config: ModelConfig = { type, ...m.c };
      // several runs, so the 2-thread backend has used both its serial and its parallel GEMMs
      const a = await train(one, config, m.B, m.T);
      for (let r = 0; r < 3; r++) {
        const b = await train(two, config, m.B, m.T);
        assert.deepEqual(b.losses, a.losses, `${type} losses`);
        assert.deepEqual(b.grads, a.grads, `${type} gradients`);
        assert.deepEqual(b.params, a.params, `${type} parameters`);
      }
    }
    assert.ok(two.poolStats.jobs > 0, 'some GEMMs ran on two threads');
  } finally {
    one.dispose();
    two.dispose();
  }
});
