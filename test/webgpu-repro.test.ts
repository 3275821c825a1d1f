/**
 * Training on the WebGPU backend gives the same numbers every time: the run of
 * webgpu-repro-run.ts (the model, data and seed of a script whose WebGPU losses differed from
 * run to run, shortened) 20 times in this process (4 backends one after another, 5 models each:
 * a new device, then a heap reused after each trainer's dispose) and 20 times in 4 fresh
 * processes (5 models each). Every validation loss must be identical (===) in all 40 runs, and
 * within 1e-5 of the JS reference's (float32 on the device against the reference's float32 on
 * the CPU). Skipped when no WebGPU adapter can be opened; under CI=true that is a failure, as in
 * webgpu-backend.test.ts.
 *
 * The script's differences were not a race on the device: see `config` in webgpu-repro-run.ts.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createBackend } from '../src/index-node.js';
import { trainRuns } from './webgpu-repro-run.js';

const noDevice = await createBackend({ kind: 'webgpu', training: true, threads: 1 }).then(
  (be) => {
    be.dispose?.();
    return null;
  },
  (e: unknown) => (e instanceof Error ? e.message : String(e)),
);
const skip = noDevice && process.env.CI !== 'true' ? `no WebGPU: ${noDevice}` : false;

const CHILD = fileURLToPath(new URL('./webgpu-repro-run.js', import.meta.url));
const PER_BACKEND = 5;
const BACKENDS = 4;

/** The validation losses of PER_BACKEND runs in a new node process. */
function childRuns(): Promise<number[][]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD], { env: { ...process.env, CHARRNN_REPRO_RUNS: String(PER_BACKEND) }, timeout: 240_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`child failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve(JSON.parse(stdout) as number[][]);
    });
  });
}

let reference: number[] | null = null;
let first: number[] | null = null;

/** Every run's losses equal (===) to the first's (of either test), and within 1e-5 of the JS reference's. */
async function check(runs: number[][], where: string): Promise<void> {
  reference ??= (await trainRuns('js', 1))[0];
  assert.equal(reference.length, 2, 'an evaluation after the 2nd iteration and one at the end');
  first ??= runs[0];
  const distinct = new Map<string, number>();
  for (const r of runs) distinct.set(r.join(' '), (distinct.get(r.join(' ')) ?? 0) + 1);
  assert.equal(distinct.size, 1, `${where}: ${distinct.size} different results in ${runs.length} runs: ${[...distinct].map(([k, n]) => `${k} (${n}×)`).join(', ')}`);
  assert.deepEqual(runs[0], first, `${where}: not the result of the other test`);
  for (let i = 0; i < reference.length; i++) {
    assert.ok(Math.abs(first[i] - reference[i]) <= 1e-5, `${where}: evaluation ${i + 1}: ${first[i]} on webgpu, ${reference[i]} on js`);
  }
}

test('webgpu training: 20 runs in one process, identical and equal to js', { skip }, async () => {
  if (noDevice) assert.fail(`no WebGPU device: ${noDevice}`);
  const runs: number[][] = [];
  for (let b = 0; b < BACKENDS; b++) runs.push(...(await trainRuns('webgpu', PER_BACKEND)));
  await check(runs, 'one process');
});

test('webgpu training: 20 runs in 4 fresh processes, identical and equal to js', { skip }, async () => {
  if (noDevice) assert.fail(`no WebGPU device: ${noDevice}`);
  const runs: number[][] = [];
  for (let p = 0; p < BACKENDS; p++) runs.push(...(await childRuns())); // one at a time: they share the CPU with SwiftShader
  await check(runs, 'fresh processes');
});
