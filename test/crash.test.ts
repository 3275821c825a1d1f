/**
 * Crash safety of `charrnn train`, with the real binary:
 *
 *   - SIGKILL at random moments, CHARRNN_CRASH_KILLS times (default 20; `npm run crashtest`
 *     does 100), each round resuming the run the previous one left. A tiny model that
 *     evaluates and saves at every iteration spends most of its time writing checkpoints, so
 *     many kills land mid-save (we count the temp files they leave). After every kill,
 *     latest.safetensors (once it exists) decodes and never goes back in time; the next round
 *     resumes from it; at the end the run directory is tidy and metrics.jsonl consistent.
 *   - A save failing mid-run (the output directory replaced by a file) stops the run with one
 *     line and exit 1, and the checkpoint written before is intact.
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { Rng } from '../src/rng.js';
import { runCli } from './run-cli.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'charrnn.js');
const KILLS = Number(process.env.CHARRNN_CRASH_KILLS ?? 20);
const SEED = Number(process.env.CHARRNN_CRASH_SEED ?? 4);

const TINY = ['--hidden', '16', '--layers', '1', '--embed', '0', '--batch', '4', '--seq-len', '16', '--sample-every', '0', '--backend', 'js'];

let dir: string;
let corpus: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-crash-'));
  const words = 'the quick brown fox jumps over a lazy dog and cat sat on mat while birds sing'.split(' ');
  const rng = new Rng(1);
  corpus = join(dir, 'corpus.txt');
  writeFileSync(corpus, Array.from({ length: 1500 }, () => words[Math.floor(rng.next() * words.length)]).join(' '));
});

after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Start the binary and SIGKILL it after `ms`, or (with `whenExists`) as soon as that file
 * appears; resolves with how it ended and when it was killed.
 */
function runAndKill(args: string[], ms: number, whenExists?: string): Promise<{ killed: boolean; code: number | null; stderr: string; afterMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killed = false;
    let afterMs = 0;
    const kill = (): void => {
      afterMs = performance.now() - t0;
      killed = child.kill('SIGKILL');
    };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    const timer = setTimeout(kill, ms);
    const poll = whenExists ? setInterval(() => existsSync(whenExists) && kill(), 10) : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve({ killed, code, stderr, afterMs });
    });
  });
}

const iterOf = (path: string): number => {
  const data = decodeCheckpoint(readFileSync(path));
  assert.ok(data.train, 'the checkpoint has its training state');
  return data.train.state.iter;
};

const temps = (out: string): string[] => (existsSync(out) ? readdirSync(out).filter((f) => f.endsWith('.tmp')) : []);

test(`SIGKILL at ${KILLS} random moments: the last checkpoint always decodes and the run resumes`, async (t) => {
  const out = join(dir, 'killed');
  const latest = join(out, 'latest.safetensors');
  const rng = new Rng(SEED);
  let lastIter = -1;
  let withCheckpoint = 0;
  let midSave = 0;
  const fresh = ['train', '--data', corpus, '--out', out, '--force', ...TINY, '--eval-every', '1', '--max-iters', '1000000'];
  // How long a start takes to its first save on this machine now (a loaded machine is slower):
  // the kills are spread from well before it to about twice it, whatever the load.
  const first = await runAndKill(fresh, 120_000, latest);
  assert.ok(first.killed && existsSync(latest), `the first run saved a checkpoint: ${first.stderr}`);
  rmSync(out, { recursive: true, force: true });
  const span = Math.max(1100, 2 * first.afterMs);
  for (let k = 0; k < KILLS; k++) {
    const args = existsSync(latest) ? ['train', '--resume', out, '--max-iters', '1000000'] : fresh;
    const ms = 100 + Math.floor(rng.next() * span); // from before the first save to hundreds of saves in
    const r = await runAndKill(args, ms);
    assert.ok(r.killed, `round ${k}: the run ended by itself (exit ${r.code}) before the kill at ${ms} ms: ${r.stderr}`);
    if (temps(out).length > 0) midSave++;
    if (!existsSync(latest)) continue;
    withCheckpoint++;
    const iter = iterOf(latest); // throws if the file is torn
    assert.ok(iter >= lastIter, `round ${k}: the checkpoint went back from iteration ${lastIter} to ${iter}`);
    lastIter = iter;
  }
  assert.ok(withCheckpoint > 0, 'some round got as far as a checkpoint');

  // a last, clean resume: it finishes, tidies up, and the metrics are one line per evaluation
  const r = await runCli(['train', '--resume', out, '--max-iters', String(lastIter + 3), '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(iterOf(latest), lastIter + 3);
  assert.deepEqual(temps(out), [], 'temp files of killed runs are removed');
  const iters = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { iter: number }).iter);
  for (let i = 1; i < iters.length; i++) assert.ok(iters[i] > iters[i - 1], `metrics.jsonl goes back at line ${i + 1}: ${iters[i - 1]} then ${iters[i]}`);
  assert.equal(iters[iters.length - 1], lastIter + 3);
  t.diagnostic(`${KILLS} kills within ${Math.round(100 + span)} ms of a start (first save after ${Math.round(first.afterMs)} ms) survived: ${withCheckpoint} after the first checkpoint, ${midSave} left a temp file (killed mid-write); reached iteration ${lastIter}`);
});

test('a save that fails mid-run stops the run with one line; the previous checkpoint is intact', async () => {
  const out = join(dir, 'fails');
  const moved = join(dir, 'fails-moved');
  let broke = false;
  const args = ['train', '--data', corpus, '--out', out, ...TINY, '--eval-every', '5', '--max-iters', '50'];
  const { code, stderr } = await runCli(args, (s) => {
    // the second evaluation is printed before it is saved: pull the directory away now
    if (!broke && /^iter 10 \(/m.test(s)) {
      broke = true;
      renameSync(out, moved);
      writeFileSync(out, 'a file where the run directory was');
    }
  });
  assert.ok(broke, 'reached the second evaluation');
  assert.equal(code, 1);
  assert.match(stderr, /^charrnn: training stopped at iteration 10: cannot write "[^"]*metrics\.jsonl": a part of the path is not a directory\n$/);
  assert.equal(iterOf(join(moved, 'latest.safetensors')), 5, 'the checkpoint of iteration 5 is intact');
  assert.equal(iterOf(join(moved, 'best.safetensors')), 5);
});
