/**
 * The readable min-char-rnn (examples/min-char-rnn.ts) and the library's `rnn` model compute the
 * same thing: same weights, same characters → the same loss, the same gradient of every
 * parameter and the same last hidden state, over several chunks with the state carried.
 *
 * Mapping (min-char-rnn → PyTorch names): Wxh → weight_ih_l0 (H, V), Whh → weight_hh_l0,
 * bh → bias_ih_l0 + bias_hh_l0 (split here as bias_ih = bh, bias_hh = 0; both get the gradient
 * dbh), Why → decoder.weight (V, H), by → decoder.bias. min-char-rnn sums the loss over the
 * window; the library's gradients are of the mean, so they are scaled by T.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { JsBackend } from '../src/backend/js.js';
import { CharRNN, Workspace } from '../src/model/model.js';
import { initModel, lossFun, main, makeRandom, type Model } from '../examples/min-char-rnn.js';
import { forwardLoss } from './helpers.js';

const H = 100;
const V = 11;
const T = 25;

/** Equal up to float64 rounding (the two sum in different orders; 1e-9 relative). */
function close(a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol = 1e-9): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    const scale = Math.max(1, Math.abs(a[i]), Math.abs(b[i]));
    assert.ok(Math.abs(a[i] - b[i]) <= tol * scale, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

function libraryModel(m: Model): CharRNN {
  const lib = new CharRNN({ type: 'rnn', vocabSize: V, hidden: H, layers: 1, embed: 0, dropout: 0 }, new JsBackend(), 'float64');
  const put: Record<string, Float64Array> = {
    'rnn.weight_ih_l0': m.Wxh,
    'rnn.weight_hh_l0': m.Whh,
    'rnn.bias_ih_l0': m.bh,
    'rnn.bias_hh_l0': new Float64Array(H),
    'decoder.weight': m.Why,
    'decoder.bias': m.by,
  };
  for (const s of lib.specs) lib.importParam(s, put[s.name]);
  lib.paramsChanged();
  return lib;
}

test('min-char-rnn lossFun equals the library rnn (loss, all gradients, carried state)', () => {
  const { rand, randn } = makeRandom(3);
  // weights 10× min-char-rnn's init (std 0.1, Whh spectral radius about 1): tanh is well into its
  // nonlinear range and the state matters, yet gradients do not explode and amplify rounding
  const m = initModel(H, V, () => randn() * 10);
  for (let i = 0; i < H; i++) m.bh[i] = randn() * 0.3;
  for (let i = 0; i < V; i++) m.by[i] = randn() * 0.3;
  const lib = libraryModel(m);
  const ws = new Workspace(lib, 1, T, { training: true });
  const text = Array.from({ length: 3 * T + 1 }, () => Math.floor(rand() * V));
  let hprev: Float64Array = new Float64Array(H);
  ws.resetState();
  for (let chunk = 0; chunk < 3; chunk++) {
    const inputs = text.slice(chunk * T, chunk * T + T);
    const targets = text.slice(chunk * T + 1, chunk * T + T + 1);
    const ref = lossFun(m, inputs, targets, hprev);

    ws.inputs.set(inputs);
    ws.targets.set(targets);
    lib.zeroGrad();
    const { loss, count } = forwardLoss(lib, ws, { train: true });
    lib.backward(ws);
    assert.equal(count, T);
    // the library returns the summed loss; its gradients are of loss / T
    close([loss], [ref.loss], `chunk ${chunk} loss`);
    const grad = (name: string): Float64Array => (lib.exportParam(lib.specs.find((s) => s.name === name)!, lib.grads) as Float64Array).map((g) => g * T);
    close(grad('rnn.weight_ih_l0'), ref.grads.Wxh, 'dWxh');
    close(grad('rnn.weight_hh_l0'), ref.grads.Whh, 'dWhh');
    close(grad('rnn.bias_ih_l0'), ref.grads.bh, 'dbh (bias_ih)');
    close(grad('rnn.bias_hh_l0'), ref.grads.bh, 'dbh (bias_hh)');
    close(grad('decoder.weight'), ref.grads.Why, 'dWhy');
    close(grad('decoder.bias'), ref.grads.by, 'dby');
    close(ws.layers[0].hAt[T], ref.h, 'last hidden state');

    hprev = ref.h;
    ws.carryState();
  }
});

test('min-char-rnn main trains on a text and the loss falls', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'minchar-'));
  try {
    const file = join(dir, 'abc.txt');
    writeFileSync(file, 'abcabcabd '.repeat(40));
    const lines: string[] = [];
    const { smoothLoss } = main([file, '--iters', '300'], (s) => lines.push(s));
    assert.match(lines[0], /data has 400 characters, 5 unique/);
    assert.ok(smoothLoss < 25 * Math.log(5), `smooth loss ${smoothLoss} should fall below the uniform ${25 * Math.log(5)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
