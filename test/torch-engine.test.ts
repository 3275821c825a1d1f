/**
 * The PyTorch engine (python/charrnn_torch.py, cli/torch-engine.ts) against ours: same weights and
 * window → same loss and gradients; the same run → the same losses, in one process and in two
 * (gloo, torchrun); a run continued across engines; a kill, a raising rank and bad input.
 *
 * Needs Python with torch and numpy (Debian's python3-torch, python3-numpy). CI installs them,
 * and there a missing torch fails these tests instead of skipping them. Models are tiny.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { resolveConfig, type TrainConfig } from '../src/config.js';
import { buildCorpus, type Corpus } from '../src/data.js';
import { decodeSafetensors } from '../src/safetensors.js';
import type { TrainEvent } from '../src/train.js';
import { Trainer } from '../src/train.js';
import { JsBackend } from '../src/backend/js.js';
import { corpusData } from '../cli/torch-data.js';
import { launchCommand, planTorch, prepareTorchDir, pythonFile, torchEvents, type TorchPlan } from '../cli/torch-engine.js';
import { runCli } from './run-cli.js';
import { NO_TORCH, torchPython } from './helpers.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'charrnn.js');

const PY = torchPython();
const skip = PY ? false : NO_TORCH;

/** Deterministic text with some structure (words, a non-ASCII letter), any length. */
function text(n: number, seed = 1): string {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'dog', 'ran', 'far', 'é', 'and', 'fox'];
  let s = '';
  let x = seed;
  while (s.length < n) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s += words[(x >>> 8) % words.length] + ((x >>> 4) % 7 === 0 ? '.\n' : ' ');
  }
  return s.slice(0, n);
}

const corpusOf = (t: string): Corpus => buildCorpus([{ name: 'test', bytes: new TextEncoder().encode(t) }]);
const tmp = (): string => mkdtempSync(join(tmpdir(), 'charrnn-torch-'));

/** A fresh directory with DIR/corpus.txt of n characters; the run goes to DIR/run. */
function runDir(n: number, seed: number): { dir: string; data: string; out: string } {
  const dir = tmp();
  const data = join(dir, 'corpus.txt');
  writeFileSync(data, text(n, seed));
  return { dir, data, out: join(dir, 'run') };
}

function plan(config: Partial<TrainConfig>, corpus: Corpus, nproc = 1): TorchPlan {
  return planTorch({ engine: 'torch', device: 'cpu', prepareOnly: true, nprocPerNode: nproc }, resolveConfig(config), corpusData(corpus));
}

/** ‖a − b‖ / ‖b‖. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / Math.max(n, 1e-30));
}

/** The events of a torch run; by default it reads every step, so its losses compare with ours step for step (it reads only at evaluations and samples otherwise). */
async function collect(cmd: string[], env?: NodeJS.ProcessEnv): Promise<TrainEvent[]> {
  const out: TrainEvent[] = [];
  for await (const ev of torchEvents(cmd, { env: { CHARRNN_TORCH_READ_EVERY: '1', ...env } })) out.push(ev);
  return out;
}

const stepLosses = (evs: TrainEvent[]): number[] => evs.flatMap((e) => (e.type === 'step' ? [e.loss] : []));
const maxAbsDiff = (a: number[], b: number[]): number => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
const metricsOf = (dir: string): Array<{ iter: number; val_loss: number; train_loss: number; lr: number }> =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('first window: loss and every gradient equal ours within 1e-5 (lstm, gru, rnn; one-hot and embedding; zero and carried state)', { skip }, async () => {
  const corpus = corpusOf(text(700));
  const ours: Array<{ dir: string; what: string; loss: number; grads: Map<string, Float32Array> }> = [];
  for (const model of ['lstm', 'gru', 'rnn'] as const) {
    for (const embed of [0, 6]) {
      const config: Partial<TrainConfig> = { model, embed, layers: 2, hidden: 8, batch: 4, seqLen: 7, seed: 3 };
      const p = plan(config, corpus);
      const tr = new Trainer({ config: resolveConfig(config), corpus, backend: new JsBackend() });
      // at iteration 0 (zero state, window 0), then after one of our steps (carried state, window 1)
      for (let k = 0; k < 2; k++) {
        const dir = tmp();
        await prepareTorchDir(p, dir);
        writeFileSync(join(dir, 'latest.safetensors'), tr.checkpoint()); // the trainer's state now
        const s = tr.state;
        if (s.window === 0) tr.ws.resetState();
        tr.source.fill(s.window, tr.ws);
        tr.model.zeroGrad();
        tr.model.backend.fill(1, tr.ws.lossSum, 0);
        const count = tr.model.forward(tr.ws, { train: true }); // the loss sum goes into ws.lossSum
        const r = { loss: tr.ws.lossSum[0], count };
        tr.model.backward(tr.ws);
        const grads = new Map(tr.model.specs.map((sp) => [sp.name, tr.model.exportParam(sp, tr.model.grads) as Float32Array]));
        ours.push({ dir, what: `${model} embed ${embed} window ${k}`, loss: r.loss / r.count, grads });
        tr.optimizer.step(s.lr);
        tr.ws.carryState();
        s.iter++;
        s.window++;
      }
    }
  }
  const r = spawnSync(PY!, [pythonFile('charrnn_torch.py'), 'grads', ...ours.flatMap((o) => [o.dir, join(o.dir, 'grads.safetensors')])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  for (const o of ours) {
    const { tensors } = decodeSafetensors(readFileSync(join(o.dir, 'grads.safetensors')));
    const loss = (tensors.get('loss')!.data as Float32Array)[0];
    assert.ok(Math.abs(loss - o.loss) / o.loss < 1e-5, `${o.what}: loss ${loss} vs ours ${o.loss}`);
    for (const [name, g] of o.grads) {
      const t = tensors.get(name)!.data as Float32Array;
      assert.equal(t.length, g.length, name);
      const e = relErr(t, g);
      assert.ok(e < 1e-5, `${o.what}: ${name} differs by ${e.toExponential(2)} (relative)`);
    }
  }
});

test('20 Adam steps with clipping: the losses of 1 and of 2 torch processes agree with ours within 2e-5 nats', { skip }, async (t) => {
  // B = 7 streams: two ranks get 3 and 4 (the loss is summed, then divided by the global B·T)
  const config: Partial<TrainConfig> = { model: 'lstm', layers: 2, hidden: 16, embed: 8, batch: 7, seqLen: 12, clip: 0.2, maxIters: 20, evalEvery: 10, sampleEvery: 0, seed: 5 };
  const corpus = corpusOf(text(3000));
  const trainer = new Trainer({ config: resolveConfig(config), corpus, backend: new JsBackend() });
  const ourEvents: TrainEvent[] = [];
  for await (const ev of trainer.run()) ourEvents.push(ev);
  const ours = stepLosses(ourEvents);
  assert.equal(ours.length, 20);
  const clipped = ourEvents.filter((e) => e.type === 'step' && e.gradNorm > 0.2).length;
  assert.ok(clipped > 10, `clipping was active in only ${clipped} steps`);
  for (const nproc of [1, 2]) {
    const dir = tmp();
    const p = plan(config, corpus, nproc);
    await prepareTorchDir(p, dir);
    const evs = await collect(launchCommand(PY!, nproc, 'cpu', dir));
    const theirs = stepLosses(evs);
    assert.equal(theirs.length, 20, `${nproc} process(es)`);
    const gap = maxAbsDiff(theirs, ours);
    t.diagnostic(`${nproc} process(es): largest step-loss gap to ours ${gap.toExponential(2)} nats`);
    assert.ok(gap < 2e-5, `${nproc} process(es): step losses differ by up to ${gap}`);
    const val = (evs: TrainEvent[]): number[] => evs.flatMap((e) => (e.type === 'eval' ? [e.metrics.val_loss] : []));
    assert.ok(maxAbsDiff(val(evs), val(ourEvents)) < 2e-5, `${nproc}: validation losses ${val(evs)} vs ${val(ourEvents)}`);
    const done = evs[evs.length - 1];
    assert.equal(done.type === 'done' && done.reason, 'max-iters');
  }
});

test('--ema 0.99: validation losses of the average, its ema.* tensors and best.safetensors agree with ours (1 and 2 torch processes)', { skip }, async (t) => {
  const config: Partial<TrainConfig> = { model: 'lstm', layers: 2, hidden: 16, embed: 8, batch: 7, seqLen: 12, clip: 0.2, maxIters: 20, evalEvery: 5, sampleEvery: 0, seed: 5, ema: 0.99 };
  const corpus = corpusOf(text(3000));
  const trainer = new Trainer({ config: resolveConfig(config), corpus, backend: new JsBackend() });
  const ourEvents: TrainEvent[] = [];
  let ourBest: Uint8Array | null = null;
  for await (const ev of trainer.run()) {
    ourEvents.push(ev);
    if (ev.type === 'eval' && ev.isBest) ourBest = trainer.bestCheckpoint();
  }
  const ours = decodeCheckpoint(trainer.checkpoint());
  const val = (evs: TrainEvent[]): number[] => evs.flatMap((e) => (e.type === 'eval' ? [e.metrics.val_loss] : []));
  for (const nproc of [1, 2]) {
    const dir = tmp();
    await prepareTorchDir(plan(config, corpus, nproc), dir);
    const evs = await collect(launchCommand(PY!, nproc, 'cpu', dir));
    assert.ok(maxAbsDiff(stepLosses(evs), stepLosses(ourEvents)) < 2e-5, `${nproc}: step losses`);
    const gap = maxAbsDiff(val(evs), val(ourEvents));
    t.diagnostic(`${nproc} process(es): largest validation-loss gap to ours ${gap.toExponential(2)} nats`);
    assert.equal(val(evs).length, 4);
    assert.ok(gap < 2e-5, `${nproc}: validation losses ${val(evs)} vs ${val(ourEvents)}`);
    const theirs = decodeCheckpoint(readFileSync(join(dir, 'latest.safetensors')));
    const theirBest = decodeCheckpoint(readFileSync(join(dir, 'best.safetensors')));
    const best = decodeCheckpoint(ourBest!);
    for (const [name, w] of ours.train!.ema!) {
      assert.ok(relErr(theirs.train!.ema!.get(name)!, w) < 1e-4, `${nproc}: ema.${name}`);
      assert.ok(relErr(theirs.params.get(name)!, ours.params.get(name)!) < 1e-4, `${nproc}: ${name}`);
      assert.ok(relErr(theirBest.params.get(name)!, best.params.get(name)!) < 1e-4, `${nproc}: best.safetensors ${name} (the average)`);
    }
    assert.equal(theirBest.train!.state.iter, best.train!.state.iter);
  }
});

test('rmsprop, adagrad, sgd with momentum; weight decay (L2 and decoupled); value clipping; cosine and linear schedules; rnn and gru one-hot: 8 steps agree with ours within 2e-5 nats', { skip }, async (t) => {
  const corpus = corpusOf(text(900, 6));
  const base: Partial<TrainConfig> = { layers: 2, hidden: 8, batch: 4, seqLen: 8, maxIters: 8, evalEvery: 8, sampleEvery: 0, seed: 8 };
  const configs: Array<Partial<TrainConfig>> = [
    { ...base, model: 'gru', embed: 0, optimizer: 'rmsprop', lr: 0.01, weightDecay: 0.01 },
    { ...base, model: 'rnn', embed: 0, optimizer: 'adagrad', lr: 0.1, clipMode: 'value', clip: 0.05 },
    { ...base, model: 'lstm', embed: 6, optimizer: 'sgd', lr: 0.5, momentum: 0.9, weightDecay: 0.001, clip: 0.5 },
    { ...base, model: 'lstm', embed: 6, lr: 0.01, lrSchedule: 'cosine', warmup: 3, lrFinal: 0.2 },
    { ...base, model: 'gru', embed: 0, lr: 0.01, lrSchedule: 'linear', warmup: 0, lrFinal: 0 },
    { ...base, model: 'lstm', embed: 6, lr: 0.01, weightDecay: 0.5, weightDecayMode: 'decoupled' },
  ];
  for (const config of configs) {
    const trainer = new Trainer({ config: resolveConfig(config), corpus, backend: new JsBackend() });
    const ourEvents: TrainEvent[] = [];
    for await (const ev of trainer.run()) ourEvents.push(ev);
    const dir = tmp();
    await prepareTorchDir(plan(config, corpus), dir);
    const theirs = stepLosses(await collect(launchCommand(PY!, 1, 'cpu', dir)));
    const gap = maxAbsDiff(theirs, stepLosses(ourEvents));
    t.diagnostic(`${config.optimizer} ${config.lrSchedule ?? 'step'}: largest step-loss gap ${gap.toExponential(2)} nats`);
    assert.equal(theirs.length, 8);
    assert.ok(gap < 2e-5, `${config.optimizer}: step losses differ by up to ${gap}`);
    const lrs = (evs: TrainEvent[]): number[] => evs.flatMap((e) => (e.type === 'step' ? [e.lr] : []));
    assert.ok(maxAbsDiff(lrs(await collect(launchCommand(PY!, 1, 'cpu', dir))), lrs(ourEvents)) < 1e-12, `${config.lrSchedule}: the learning rates differ`);
    // the weights after 8 steps, too
    const a = decodeCheckpoint(readFileSync(join(dir, 'latest.safetensors')));
    const b = decodeCheckpoint(trainer.checkpoint());
    for (const [name, w] of b.params) assert.ok(relErr(a.params.get(name)!, w) < 1e-4, `${config.optimizer}: weights ${name}`);
  }
});

test('--init orthogonal and --eval-chars: 1 and 2 torch processes train from our orthogonal weights and evaluate the same characters as ours (the last evaluation the whole split)', { skip }, async (t) => {
  const config: Partial<TrainConfig> = { model: 'lstm', layers: 2, hidden: 12, embed: 6, batch: 6, seqLen: 10, maxIters: 10, evalEvery: 5, sampleEvery: 0, seed: 3, init: 'orthogonal', evalChars: 90 };
  const corpus = corpusOf(text(4000, 4));
  const trainer = new Trainer({ config: resolveConfig(config), corpus, backend: new JsBackend() });
  const ourEvents: TrainEvent[] = [];
  for await (const ev of trainer.run()) ourEvents.push(ev);
  const evals = (evs: TrainEvent[]) => evs.flatMap((e) => (e.type === 'eval' ? [e.metrics] : []));
  const ours = evals(ourEvents);
  assert.deepEqual(ours.map((m) => m.iter), [5, 10, 10], 'iteration 10: one over --eval-chars, then the last over the whole split');
  assert.ok(ours[0].val_chars < 90 && ours[2].val_chars > 90);
  for (const nproc of [1, 2]) {
    const dir = tmp();
    await prepareTorchDir(plan(config, corpus, nproc), dir);
    const evs = await collect(launchCommand(PY!, nproc, 'cpu', dir));
    const gap = maxAbsDiff(stepLosses(evs), stepLosses(ourEvents));
    t.diagnostic(`${nproc} process(es): largest step-loss gap ${gap.toExponential(2)} nats`);
    assert.ok(gap < 2e-5, `${nproc}: step losses differ by up to ${gap}`);
    const theirs = evals(evs);
    assert.deepEqual(theirs.map((m) => [m.iter, m.val_chars]), ours.map((m) => [m.iter, m.val_chars]), `${nproc}: evaluations`);
    assert.ok(maxAbsDiff(theirs.map((m) => m.val_loss), ours.map((m) => m.val_loss)) < 2e-5, `${nproc}: validation losses ${theirs.map((m) => m.val_loss)} vs ${ours.map((m) => m.val_loss)}`);
    assert.deepEqual(metricsOf(dir).map((m) => m.iter), [5, 10, 10], `${nproc}: metrics.jsonl`);
  }
});

test('resume across engines: ours 30 → torch 30 → ours 30 equals 90 steps of ours (cursor, schedule, moments carry over)', { skip }, async (t) => {
  const dir = tmp();
  const data = join(dir, 'corpus.txt');
  // 1425 training chars / (6 × 10) = 23 windows: epochs (and lr decay) turn over in every engine;
  // samples (25, 50, 75) fall inside each engine's part: an evaluation's checkpoint is taken before that iteration's sample
  writeFileSync(data, text(1500, 9));
  const knobs = ['--model', 'gru', '--layers', '2', '--hidden', '12', '--embed', '5', '--batch', '6', '--seq-len', '10', '--eval-every', '10',
    '--sample-every', '25', '--sample-length', '20', '--lr-schedule', 'step', '--lr-decay-after', '1', '--lr-decay', '0.9', '--seed', '11', '--quiet'];
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const run = async (args: string[]): Promise<void> => {
    const r = await runCli(['train', ...args]);
    assert.equal(r.code, 0, r.stderr);
  };
  await run(['--data', data, '--out', a, ...knobs, '--max-iters', '30']);
  await run(['--resume', a, '--engine', 'torch', '--device', 'cpu', '--max-iters', '60']);
  await run(['--resume', a, '--max-iters', '90']);
  await run(['--data', data, '--out', b, ...knobs, '--max-iters', '90']);
  const ma = metricsOf(a);
  const mb = metricsOf(b);
  assert.deepEqual(ma.map((m) => m.iter), [10, 20, 30, 40, 50, 60, 70, 80, 90]);
  assert.deepEqual(ma.map((m) => m.lr), mb.map((m) => m.lr));
  const gap = maxAbsDiff(ma.map((m) => m.val_loss), mb.map((m) => m.val_loss));
  t.diagnostic(`largest validation-loss gap to 90 steps of ours: ${gap.toExponential(2)} nats`);
  assert.ok(gap < 1e-4, `validation losses differ by up to ${gap}`);
  const ca = decodeCheckpoint(readFileSync(join(a, 'latest.safetensors')));
  const cb = decodeCheckpoint(readFileSync(join(b, 'latest.safetensors')));
  const { seconds: _s1, trainSeconds: _t1, trainChars: _c1, bestValLoss: _b1, lastTrainLoss: _l1, lastValLoss: _v1, lr: lrA, ...sa } = ca.train!.state;
  const { seconds: _s2, trainSeconds: _t2, trainChars: _c2, bestValLoss: _b2, lastTrainLoss: _l2, lastValLoss: _v2, lr: lrB, ...sb } = cb.train!.state;
  assert.deepEqual(sa, sb); // iter, epoch, window, optimizer steps, both generators
  assert.ok(Math.abs(lrA - lrB) < 1e-12 * lrB);
  for (const [name, w] of cb.params) assert.ok(relErr(ca.params.get(name)!, w) < 1e-3, `weights ${name}`);
  assert.equal(readFileSync(join(a, 'samples.jsonl'), 'utf8').trim().split('\n').length, 3);
});

test('--max-time with a cosine schedule: 2 torch processes fix the same estimated span, refit it, keep it in the checkpoint and decay to it', { skip }, async () => {
  const { data, out } = runDir(3000, 5);
  const r = await runCli(['train', '--engine', 'torch', '--device', 'cpu', '--nproc-per-node', '2', '--data', data, '--out', out, '--hidden', '8', '--embed', '4',
    '--batch', '4', '--seq-len', '8', '--eval-every', '10', '--sample-every', '0', '--max-time', '3', '--lr-schedule', 'cosine', '--warmup', '5', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { scheduleIters: n, iter } = decodeCheckpoint(readFileSync(join(out, 'latest.safetensors'))).train!.state;
  assert.match(r.stderr, /learning rate: cosine over [\d,]+ iterations \(estimated at iteration/);
  // refitted at every evaluation from rank 0's clock: the span ends about where the time did
  assert.ok(n !== null && Math.abs(n - iter) <= 0.3 * iter, `scheduleIters ${n}, iterations ${iter}`);
  const m = metricsOf(out);
  const lrs = m.map((x) => x.lr);
  assert.ok(lrs.length >= 2 && lrs[lrs.length - 1] < lrs[0], `the lr decays: ${lrs}`);
});

test('a torch run killed with SIGKILL leaves a checkpoint that sample loads; --prepare-only then the printed command trains', { skip }, async () => {
  const { dir, data, out } = runDir(4000, 4);
  const child = spawn(process.execPath, [BIN, 'train', '--engine', 'torch', '--device', 'cpu', '--data', data, '--out', out, '--hidden', '16', '--embed', '8',
    '--batch', '8', '--seq-len', '16', '--eval-every', '3', '--sample-every', '0', '--max-time', '600', '--quiet'], { detached: true, stdio: 'ignore' });
  // wait until an evaluation has been saved, then kill every process of the run at once
  for (let i = 0; i < 1200 && !(existsSync(join(out, 'metrics.jsonl')) && readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').length > 2); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(-child.pid!, 'SIGKILL');
  await new Promise((r) => child.on('close', r));
  const ck = decodeCheckpoint(readFileSync(join(out, 'latest.safetensors')));
  assert.ok(ck.train!.state.iter >= 3);
  const s = await runCli(['sample', join(out, 'latest.safetensors'), '--length', '30', '--seed', '2']);
  assert.equal(s.code, 0, s.stderr);
  assert.ok(s.stdout.length >= 30);

  // --prepare-only writes the directory and prints the command; running it trains and resumes there
  const prep = join(dir, 'prep');
  const r = await runCli(['train', '--engine', 'torch', '--prepare-only', '--json', '--data', data, '--out', prep, '--hidden', '8', '--embed', '4', '--batch', '4', '--seq-len', '8', '--max-iters', '5', '--eval-every', '5', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const { command } = JSON.parse(r.stdout) as { command: string[] };
  assert.ok(!existsSync(join(prep, 'metrics.jsonl')));
  const t = spawnSync(PY!, command.slice(1), { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  assert.ok(t.stdout.includes('"type":"done"'));
  assert.equal(decodeCheckpoint(readFileSync(join(prep, 'latest.safetensors'))).train!.state.iter, 5);
});

test('Ctrl-C (SIGINT to the process group, as a terminal sends it) saves and stops both ranks of a 2-process run; it resumes', { skip }, async () => {
  const { data, out } = runDir(4000, 5);
  const child = spawn(process.execPath, [BIN, 'train', '--engine', 'torch', '--device', 'cpu', '--nproc-per-node', '2', '--data', data, '--out', out, '--hidden', '16', '--embed', '8',
    '--batch', '8', '--seq-len', '16', '--eval-every', '3', '--sample-every', '0', '--max-time', '600', '--quiet'], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (x: string) => (stderr += x));
  const closed = new Promise<number | null>((r) => child.on('close', r));
  for (let i = 0; i < 1200 && !(existsSync(join(out, 'metrics.jsonl')) && readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').length > 2); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(-child.pid!, 'SIGINT');
  assert.equal(await closed, 130, stderr);
  assert.throws(() => process.kill(-child.pid!, 0), /ESRCH/, 'no process of the run is left');
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { iter: number }).iter);
  const saved = decodeCheckpoint(readFileSync(join(out, 'latest.safetensors'))).train!.state.iter;
  assert.ok(saved >= metrics[metrics.length - 1], `saved at the interrupt (iteration ${saved}), not only at the last evaluation`);
  const r = await runCli(['train', '--resume', out, '--engine', 'torch', '--device', 'cpu', '--max-iters', String(saved + 2), '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(decodeCheckpoint(readFileSync(join(out, 'latest.safetensors'))).train!.state.iter, saved + 2);
});

test('a rank that raises stops the 2-process run with a one-line error; the last checkpoint stays good', { skip }, async () => {
  const { dir, data, out } = runDir(3000, 2);
  process.env.CHARRNN_TORCH_FAIL_AT = '1:5'; // rank 1 raises at iteration 5
  try {
    const r = await runCli(['train', '--engine', 'torch', '--device', 'cpu', '--nproc-per-node', '2', '--data', data, '--out', out, '--hidden', '8', '--embed', '4', '--batch', '4', '--seq-len', '8', '--eval-every', '2', '--max-iters', '50', '--quiet']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^charrnn: torch engine \(rank 1\): RuntimeError: injected failure on rank 1 at iteration 5 .*\n$/);
  } finally {
    delete process.env.CHARRNN_TORCH_FAIL_AT;
  }
  assert.equal(decodeCheckpoint(readFileSync(join(out, 'latest.safetensors'))).train!.state.iter, 4);
});

test('bad input: missing torch, an unsupported knob, too few streams for the ranks, too short a corpus: one line, nothing written over a good run', { skip }, async () => {
  const { dir, data, out } = runDir(2000, 3);
  const base = ['--data', data, '--out', out, '--hidden', '8', '--embed', '4', '--batch', '4', '--seq-len', '8', '--quiet'];
  const good = await runCli(['train', ...base, '--max-iters', '4', '--eval-every', '2']);
  assert.equal(good.code, 0, good.stderr);
  const before = ['latest.safetensors', 'best.safetensors', 'metrics.jsonl', 'run.json'].map((f) => readFileSync(join(out, f)));
  const cases: Array<[string[], number, RegExp]> = [
    [['--python', join(dir, 'no-such-python')], 1, /needs Python with torch and numpy .*apt-get install python3-torch/],
    [['--on-nan', 'rollback'], 2, /--on-nan rollback is not supported by the torch engine/],
    [['--lines'], 2, /--lines is not supported by the torch engine/],
    [['--nproc-per-node', '5'], 2, /--batch 4 is fewer streams than the 5 processes/],
    [['--batch', '300'], 1, /the training split has \d+ characters but --batch 300 × --seq-len 8 needs/],
  ];
  for (const [extra, code, msg] of cases) {
    const r = await runCli(['train', '--engine', 'torch', '--device', 'cpu', '--force', ...base, ...extra]);
    assert.equal(r.code, code, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.startsWith('charrnn: '), r.stderr);
  }
  const after = ['latest.safetensors', 'best.safetensors', 'metrics.jsonl', 'run.json'].map((f) => readFileSync(join(out, f)));
  after.forEach((a, i) => assert.ok(a.equals(before[i]), `file ${i} changed`));
  assert.ok(!existsSync(join(out, 'torch.json')));
});

test('the torch engine reads its numbers only at evaluations and samples: no host read between them; each step event is the mean of the steps since the last read, as ours', { skip }, async (t) => {
  const config: Partial<TrainConfig> = { model: 'lstm', layers: 2, hidden: 16, embed: 8, batch: 5, seqLen: 10, maxIters: 23, evalEvery: 10, sampleEvery: 7, sampleLength: 5, seed: 4 };
  const corpus = corpusOf(text(2500, 7));
  const trainer = new Trainer({ config: resolveConfig(config), corpus, backend: new JsBackend() });
  const ours: TrainEvent[] = [];
  for await (const ev of trainer.run()) ours.push(ev);
  const perStep = stepLosses(ours);
  const dir = tmp();
  await prepareTorchDir(plan(config, corpus), dir);
  const readsFile = join(dir, 'reads.json');
  const evs = await collect(launchCommand(PY!, 1, 'cpu', dir), { CHARRNN_TORCH_READ_EVERY: '', CHARRNN_TORCH_HOST_READS: readsFile });
  const readPoints = [7, 10, 14, 20, 21, 23]; // samples every 7, evaluations every 10, the end
  const steps = evs.flatMap((e) => (e.type === 'step' ? [e] : []));
  assert.deepEqual(steps.map((e) => e.iter), readPoints);
  let from = 0;
  for (const e of steps) {
    const mean = perStep.slice(from, e.iter).reduce((a, b) => a + b, 0) / (e.iter - from);
    assert.ok(Math.abs(e.loss - mean) < 2e-5, `iteration ${e.iter}: ${e.loss} vs the mean of ours ${mean}`);
    from = e.iter;
  }
  const { reads } = JSON.parse(readFileSync(readsFile, 'utf8')) as { reads: Array<[number, string, number]> };
  t.diagnostic(`host reads: ${JSON.stringify(reads)}`);
  const at = new Set(reads.map(([iter]) => iter));
  assert.deepEqual([...at].sort((a, b) => a - b), readPoints, 'host reads happen only at read points');
  const stepReads = reads.filter(([, what]) => what === 'step');
  assert.deepEqual(stepReads.map(([iter, , n]) => [iter, n]), readPoints.map((i) => [i, 1]), "one read of the steps' numbers per read point");
  const start = evs.find((e) => e.type === 'start');
  assert.match(start?.type === 'start' ? start.backend : '', /^torch \S+ cpu, \d+ intra-op threads?(, |$)/);
});

test('a NaN gradient between reads stops the torch run at the next read ("between iterations a and b"), at its iteration when every step is read; the checkpoint stays good', { skip }, async () => {
  const config: Partial<TrainConfig> = { model: 'gru', layers: 1, hidden: 8, embed: 4, batch: 4, seqLen: 8, maxIters: 30, evalEvery: 5, sampleEvery: 0, seed: 2 };
  const corpus = corpusOf(text(1500, 3));
  for (const [every, message] of [['', /training loss or gradient became non-finite between iterations 6 and 10 \(found at the read after them; .*\); try a lower --lr or --clip$/],
    ['1', /training loss or gradient became non-finite \(gradient\) at iteration 7; try a lower --lr or --clip$/]] as const) {
    const dir = tmp();
    await prepareTorchDir(plan(config, corpus), dir);
    const evs = await collect(launchCommand(PY!, 1, 'cpu', dir), { CHARRNN_TORCH_READ_EVERY: every, CHARRNN_TORCH_NAN_AT: '7' });
    const nan = evs.find((e) => e.type === 'nan');
    assert.match(nan?.type === 'nan' ? nan.message : '', message);
    const done = evs[evs.length - 1];
    assert.equal(done.type === 'done' && done.reason, 'nan');
    const ck = decodeCheckpoint(readFileSync(join(dir, 'latest.safetensors')));
    assert.equal(ck.train!.state.iter, 5);
    for (const [name, w] of ck.params) assert.ok(w.every(Number.isFinite), name);
  }
});

test('a torch.json without lossWatch (an older charrnn) is a one-line error', { skip }, async () => {
  const dir = tmp();
  await prepareTorchDir(plan({ hidden: 8, embed: 4, batch: 4, seqLen: 8, maxIters: 2 }, corpusOf(text(1500, 4))), dir);
  const spec = JSON.parse(readFileSync(join(dir, 'torch.json'), 'utf8')) as Record<string, unknown>;
  delete spec.lossWatch;
  writeFileSync(join(dir, 'torch.json'), JSON.stringify(spec));
  const r = spawnSync(PY!, launchCommand(PY!, 1, 'cpu', dir).slice(1), { encoding: 'utf8' });
  assert.equal(r.status, 1);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  assert.match(JSON.parse(lines[0]).message, /torch\.json was prepared by an older charrnn \(it has no lossWatch\)/);
});

test("freed memory is kept between steps (glibc's mallopt), unless the user set malloc's own knobs", { skip }, () => {
  // keep_freed_memory's effect is speed (docs/pytorch.md: 0.67 → 0.99 of the bare loop); here only
  // that it takes effect on this glibc and steps aside for a user's setting.
  const probe = (env: NodeJS.ProcessEnv): string => {
    const code = `import sys; sys.path.insert(0, ${JSON.stringify(dirname(pythonFile('charrnn_torch.py')))}); import charrnn_torch as ct; print(ct.keep_freed_memory())`;
    const r = spawnSync(PY!, ['-c', code], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  assert.equal(probe({}), 'True');
  assert.equal(probe({ MALLOC_ARENA_MAX: '2' }), 'False');
  assert.equal(probe({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1000' }), 'False');
});

test('--embed-dropout, --dropout and --weight-drop in the torch engine: masks of the right shape, rate and scale, the embedding\'s applied to the embedded input, W_hh\'s to the cells\' recurrent weights and their gradients', { skip }, () => {
  // the masks differ from our engine's (module header), so this checks them where they are made and used
  const code = `
import sys, types, json, torch
sys.path.insert(0, ${JSON.stringify(dirname(pythonFile('charrnn_torch.py')))})
import charrnn_torch as ct
m = {'type': 'lstm', 'vocabSize': 7, 'embed': 6, 'hidden': 5, 'layers': 3, 'dropout': 0.3, 'embedDropout': 0.4, 'weightDrop': 0.5}
run = types.SimpleNamespace(m=m, rng=ct.Rng([1, 2, 3, 4]), d=types.SimpleNamespace(device='cpu'), T=40, B=30, lo=0, hi=30)
embed, layers, weights = ct.Run.dropout_masks(run)
masks = [[list(x.shape), sorted(set(round(v, 5) for v in x.flatten().tolist())), float((x == 0).float().mean()), p]
         for x, p in [(embed, 0.4)] + [(x, 0.3) for x in layers] + [(torch.cat([w.flatten() for w in weights]).reshape(3, 20, 5), 0.5)]]
torch.manual_seed(0)
model = ct.CharRNN(dict(m, layers=2))
ids = torch.randint(0, 7, (4, 3))
state = [torch.zeros(3, 5) for _ in range(4)]
with torch.no_grad():
    w = model.embedding.weight.clone()
    zero, _ = model(ids, state, (torch.zeros(4, 3, 6), None, None))
    twice, _ = model(ids, state, (torch.full((4, 3, 6), 2.0), None, None))
    base, _ = model(ids, state)
    model.embedding.weight.zero_()
    plain_zero, _ = model(ids, state)
    model.embedding.weight.copy_(2 * w)
    plain_twice, _ = model(ids, state)
# weight drop: the model on W_hh * mask equals a model whose W_hh is that product, and its W_hh gets that model's gradient times the mask
wd = []
for cell in ('lstm', 'gru', 'rnn'):
    G = ct.GATES[cell] * 5
    st = [torch.zeros(3, 5) for _ in range(4 if cell == 'lstm' else 2)]
    torch.manual_seed(1)
    a = ct.CharRNN(dict(m, type=cell, layers=2))
    b = ct.CharRNN(dict(m, type=cell, layers=2))
    b.load_state_dict(a.state_dict())
    wm = [(torch.rand(G, 5) < 0.5).float() / 0.5 for _ in range(2)]
    with torch.no_grad():
        for l in range(2):
            b.layers[l].weight_hh_l0.mul_(wm[l])
    out_a, _ = a(ids, st, (None, None, wm))
    out_b, _ = b(ids, st)
    (out_a ** 2).sum().backward()
    (out_b ** 2).sum().backward()
    wd.append([float((out_a - out_b).abs().max()),
               max(float((a.layers[l].weight_hh_l0.grad - b.layers[l].weight_hh_l0.grad * wm[l]).abs().max()) for l in range(2)),
               float(a.layers[0].weight_hh_l0.grad.abs().max()),
               float((out_a - a(ids, st)[0]).abs().max())])
print(json.dumps([masks, [float((zero - plain_zero).abs().max()), float((twice - plain_twice).abs().max()), float((twice - base).abs().max())], wd]))
`;
  const r = spawnSync(PY!, ['-c', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [masks, [zeroDiff, twiceDiff, moved], wd] = JSON.parse(r.stdout) as [Array<[number[], number[], number, number]>, number[], number[][]];
  assert.deepEqual(masks.map((x) => x[0]), [[40, 30, 6], [40, 30, 5], [40, 30, 5], [3, 20, 5]], 'the embedding\'s mask, one per layer but the last, and W_hh\'s (G, H) of every layer');
  for (const [, values, dropped, p] of masks) {
    assert.deepEqual(values, [0, Number((1 / (1 - p)).toFixed(5))], 'each mask holds 0 and 1/keep only');
    assert.ok(Math.abs(dropped - p) < 0.1, `dropped share ${dropped}, p ${p}`); // 300 numbers in the smallest
  }
  for (const [i, [outDiff, gradDiff, grad, moved]] of wd.entries()) {
    assert.ok(outDiff < 1e-6 && gradDiff < 1e-6, `${['lstm', 'gru', 'rnn'][i]}: W_hh * mask as the cell's weights (${outDiff}, ${gradDiff})`);
    assert.ok(grad > 1e-4 && moved > 1e-4, 'a gradient reaches W_hh, and the mask changes the output');
  }
  assert.ok(zeroDiff < 1e-6 && twiceDiff < 1e-6, `the embedding mask multiplies the embedded input (${zeroDiff}, ${twiceDiff})`);
  assert.ok(moved > 1e-3, 'and changes the output');
});
