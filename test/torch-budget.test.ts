/**
 * The budget rule under --engine torch measures the torch engine's own speed (the `measure`
 * subcommand of python/charrnn_torch.py), and the CUDA hint's decision (cli/torch-engine.ts cudaHint).
 *
 * The budget test needs Python with torch and numpy (as test/torch-engine.test.ts): CI installs
 * them, and there a missing torch fails the test instead of skipping it.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { cudaHint, nvidiaPresent, pythonFile } from '../cli/torch-engine.js';
import { NO_TORCH, torchPython, words } from './helpers.js';
import { runCli } from './run-cli.js';

const PY = torchPython();
const tmp = (): string => mkdtempSync(join(tmpdir(), 'charrnn-torch-budget-'));

test('--engine torch --max-time with no shape: the rule measures the torch engine (its measure subcommand) and the first line says the shape', { skip: PY ? false : NO_TORCH }, async () => {
  const dir = tmp();
  const data = join(dir, 'corpus.txt');
  writeFileSync(data, words(4000, 3));
  // an interpreter that records each command line, then runs the real one: which python runs
  // were started is the evidence, with no test-only code in the CLI
  const log = join(dir, 'calls.log');
  const wrapper = join(dir, 'python');
  writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${PY}' "$@"\n`);
  chmodSync(wrapper, 0o755);
  const out = join(dir, 'run');
  const r = await runCli(['train', '--engine', 'torch', '--max-time', '60', '--prepare-only', '--python', wrapper, '--data', data, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const first = r.stdout.split('\n')[0];
  const m = /^LSTM (\d+)×(\d+)(, dropout [\d.]+)? chosen for 60 s on /.exec(first);
  assert.ok(m, `first line: ${first}`);
  const measures = readFileSync(log, 'utf8').split('\n').filter((l) => /charrnn_torch\.py --device=auto measure /.test(l));
  assert.equal(measures.length, 1, 'one gauge process, torch imported once');
  const spec = JSON.parse(readFileSync(join(out, 'torch.json'), 'utf8')) as { config: { layers: number; hidden: number } };
  assert.deepEqual([spec.config.layers, spec.config.hidden], [Number(m[1]), Number(m[2])], 'the run prepared is the shape announced');
});

test('measure: one JSON line of chars/s per prepared run directory, from Run.step', { skip: PY ? false : NO_TORCH }, async () => {
  const dir = tmp();
  const data = join(dir, 'corpus.txt');
  writeFileSync(data, words(3000, 4));
  const out = join(dir, 'run');
  const r = await runCli(['train', '--engine', 'torch', '--prepare-only', '--hidden', '16', '--layers', '1', '--batch', '4', '--seq-len', '16', '--data', data, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const m = spawnSync(PY!, [pythonFile('charrnn_torch.py'), '--device=cpu', 'measure', '0.1', out], { encoding: 'utf8' });
  assert.equal(m.status, 0, m.stderr);
  const ev = JSON.parse(m.stdout.trim()) as { type: string; charsPerSec: number; steps: number };
  assert.equal(ev.type, 'measure');
  assert.ok(ev.steps >= 2 && ev.charsPerSec > 0, m.stdout);
});

test('the CUDA hint: only when no engine was asked for, an NVIDIA device is present, and torch sees a CUDA GPU', async () => {
  let probes = 0;
  const probe = (cuda: number | null) => async () => {
    probes++;
    return cuda === null ? null : { python: 'python3', torch: '2.13.0', cuda };
  };
  assert.equal(await cudaHint({ engineGiven: true, gpuDevice: true, probe: probe(1) }), null);
  assert.equal(await cudaHint({ engineGiven: false, gpuDevice: false, probe: probe(1) }), null);
  assert.equal(probes, 0, 'no python is started when the engine was given or no NVIDIA device shows');
  assert.equal(await cudaHint({ engineGiven: false, gpuDevice: true, probe: probe(null) }), null, 'no torch');
  assert.equal(await cudaHint({ engineGiven: false, gpuDevice: true, probe: probe(0) }), null, 'torch without CUDA');
  const line = await cudaHint({ engineGiven: false, gpuDevice: true, probe: probe(2) });
  assert.match(line ?? '', /^PyTorch 2\.13\.0 \(python3\) sees 2 CUDA GPUs: --engine torch --device cuda would train there/);
  assert.equal(line!.includes('\n'), false, 'one line');
});

test('nvidiaPresent: the driver\'s device files or nvidia-smi on PATH, nothing started', () => {
  const dev = tmp();
  const bin = tmp();
  assert.equal(nvidiaPresent({ PATH: bin }, dev), false);
  writeFileSync(join(bin, 'nvidia-smi'), '');
  assert.equal(nvidiaPresent({ PATH: bin }, dev), true);
  const dev2 = tmp();
  writeFileSync(join(dev2, 'nvidiactl'), '');
  assert.equal(nvidiaPresent({ PATH: '' }, dev2), true);
});
