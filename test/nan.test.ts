/**
 * Numerical faults in the library: a gradient that is not finite (injected by a backend that
 * poisons chosen optimizer steps) stops the run, or with --on-nan rollback sends it back to the
 * last evaluation with half the learning rate, at most --max-rollbacks times; a NaN model is
 * never reported as best; an exploding loss is reported with its iteration.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsBackend } from '../src/backend/js.js';
import type { FloatArray } from '../src/backend/types.js';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { resolveConfig, type TrainConfig } from '../src/config.js';
import { buildCorpus } from '../src/data.js';
import { decodeSafetensors, encodeSafetensors } from '../src/safetensors.js';
import { Trainer, type TrainEvent } from '../src/train.js';
import { runCli } from './run-cli.js';

/** The reference kernels, except that the gradient of the chosen optimizer steps (1-based) holds a NaN. */
class PoisonBackend extends JsBackend {
  private calls = 0;
  constructor(private readonly poisoned: (step: number) => boolean) {
    super();
  }
  override sumSquares(n: number, x: FloatArray): number {
    // only the optimizer calls sumSquares (the gradient norm), once per step
    if (this.poisoned(++this.calls)) x[0] = NaN;
    return super.sumSquares(n, x);
  }
}

const corpus = buildCorpus([{ name: 'test', bytes: new TextEncoder().encode('the quick brown fox jumps over the lazy dog. '.repeat(30)) }]);

function trainer(backend: JsBackend, over: Partial<TrainConfig> = {}): Trainer {
  const config = resolveConfig({
    model: 'lstm', layers: 1, hidden: 8, embed: 0, batch: 4, seqLen: 10, maxIters: 30, maxTime: 0, epochs: 0,
    evalEvery: 5, sampleEvery: 0, seed: 3, ...over,
  });
  return new Trainer({ config, corpus, backend });
}

async function drain(t: Trainer): Promise<TrainEvent[]> {
  const events: TrainEvent[] = [];
  for await (const ev of t.run()) events.push(ev);
  return events;
}

const of = <K extends TrainEvent['type']>(events: TrainEvent[], type: K) => events.filter((e): e is Extract<TrainEvent, { type: K }> => e.type === type);

test('--on-nan stop (the default): a NaN gradient is never applied and stops the run at its iteration', async () => {
  const t = trainer(new PoisonBackend((k) => k === 8));
  const events = await drain(t);
  const nan = of(events, 'nan');
  assert.equal(nan.length, 1);
  assert.match(nan[0].message, /non-finite \(gradient\) at iteration 8; try a lower --lr or --clip, or --on-nan rollback/);
  const done = of(events, 'done')[0];
  assert.equal(done.reason, 'nan');
  assert.equal(t.state.iter, 7, 'seven good steps');
  for (const x of t.model.params) assert.ok(Number.isFinite(x), 'the weights stay finite');
  assert.ok(of(events, 'eval').every((e) => Number.isFinite(e.metrics.val_loss)));
});

test('--on-nan rollback: back to the last evaluation with half the learning rate, then on to the end', async () => {
  const t = trainer(new PoisonBackend((k) => k === 8), { onNan: 'rollback', lr: 0.004 });
  const events = await drain(t);
  const warnings = of(events, 'warning');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0].message, /at iteration 8; rolled back to iteration 5 and halved the learning rate to 0\.00200 \(rollback 1 of 3\)/);
  assert.equal(warnings[0].iter, 5);
  assert.equal(of(events, 'done')[0].reason, 'max-iters');
  assert.equal(t.state.iter, 30);
  assert.equal(t.state.lr, 0.002);
  // iterations 6 and 7 are trained twice (once before the fault, once after the rollback)
  const steps = of(events, 'step').map((e) => e.iter);
  assert.deepEqual(steps.slice(0, 9), [1, 2, 3, 4, 5, 6, 7, 6, 7]);
  const evalIters = of(events, 'eval').map((e) => e.metrics.iter);
  assert.deepEqual(evalIters, [5, 10, 15, 20, 25, 30]);
  // the final state is a valid, finite checkpoint
  const data = decodeCheckpoint(t.checkpoint());
  assert.equal(data.train?.state.iter, 30);
});

test('--on-nan rollback gives up after --max-rollbacks and stops', async () => {
  const t = trainer(new PoisonBackend((k) => k >= 8), { onNan: 'rollback', maxRollbacks: 2 });
  const events = await drain(t);
  assert.equal(of(events, 'warning').length, 2);
  const nan = of(events, 'nan');
  assert.equal(nan.length, 1);
  assert.match(nan[0].message, /stopped after 2 rollbacks \(--max-rollbacks 2\)/);
  assert.equal(of(events, 'done')[0].reason, 'nan');
  assert.equal(t.state.lr, resolveConfig({}).lr / 4, 'halved twice');
});

test('a rollback before the first evaluation goes back to the start of the session', async () => {
  const t = trainer(new PoisonBackend((k) => k === 3), { onNan: 'rollback' });
  const events = await drain(t);
  assert.match(of(events, 'warning')[0].message, /rolled back to iteration 0/);
  assert.equal(of(events, 'done')[0].reason, 'max-iters');
});

test('a NaN model is never an evaluation, never best; an exploding loss is reported with its iteration', async () => {
  // An absurd learning rate with no clipping: the loss explodes (and may go non-finite).
  const t = trainer(new JsBackend(), { lr: 50, lrSchedule: 'step', clip: 0, optimizer: 'sgd', momentum: 0, maxIters: 60, onNan: 'rollback', maxRollbacks: 1 });
  const events = await drain(t);
  const evals = of(events, 'eval');
  for (const e of evals) assert.ok(Number.isFinite(e.metrics.val_loss), `eval at ${e.metrics.iter} is finite`);
  assert.ok(evals.filter((e) => e.isBest).every((e) => Number.isFinite(e.metrics.val_loss)));
  const warnings = of(events, 'warning');
  assert.ok(warnings.length >= 1, 'the explosion is reported');
  assert.ok(warnings.some((w) => /^loss exploding: [\d.]+ at iteration \d+, over 3× its running average [\d.]+/.test(w.message)), warnings.map((w) => w.message).join('\n'));
});

test('the CLI: --on-nan and --max-rollbacks are stored in the run and may change on resume; warnings are printed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-nan-'));
  try {
    const data = join(dir, 'c.txt');
    writeFileSync(data, 'the quick brown fox jumps over the lazy dog. '.repeat(30));
    const out = join(dir, 'run');
    // --init uniform: the rollbacks below (and so the iteration the last run stops at) were worked out for that init
    const tiny = ['--hidden', '8', '--layers', '1', '--embed', '0', '--init', 'uniform', '--batch', '4', '--seq-len', '10', '--eval-every', '5', '--sample-every', '0', '--backend', 'js'];
    const r = await runCli(['train', '--data', data, '--out', out, ...tiny, '--max-iters', '10', '--on-nan', 'rollback', '--max-rollbacks', '2', '--lr', '50', '--lr-schedule', 'step', '--clip', '0', '--optimizer', 'sgd', '--momentum', '0']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^warning: loss exploding: [\d.]+ at iteration \d+/m);
    const config = decodeCheckpoint(readFileSync(join(out, 'latest.safetensors'))).config;
    assert.equal(config.onNan, 'rollback');
    assert.equal(config.maxRollbacks, 2);
    const res = await runCli(['train', '--resume', out, '--max-iters', '12', '--on-nan', 'stop', '--quiet']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(decodeCheckpoint(readFileSync(join(out, 'latest.safetensors'))).config.onNan, 'stop');

    // weights finite but huge (a checkpoint from a run gone wrong): the loss overflows; the run
    // stops with one line on stderr, even with --quiet, and writes nothing
    const latest = join(out, 'latest.safetensors');
    const { tensors, metadata } = decodeSafetensors(readFileSync(latest));
    for (const name of ['decoder.weight', 'decoder.bias']) (tensors.get(name)!.data as Float32Array).fill(3e38);
    writeFileSync(latest, encodeSafetensors([...tensors], metadata));
    const before = readFileSync(latest);
    const bad = await runCli(['train', '--resume', out, '--max-iters', '20', '--quiet']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^charrnn: stopped: training loss or gradient became NaN at iteration 13; try a lower --lr or --clip, or --on-nan rollback\n$/);
    assert.deepEqual(readFileSync(latest), before, 'the checkpoint is left as it was');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
