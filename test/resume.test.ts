/**
 * The resume rules, decided once in the library (resumeConfig, checkResume) and used by the CLI
 * and the playground: every setting that may not change on resume is refused with its flag's
 * name, a changed vocabulary or batch is a one-line error, the limits rule, and the engine kept
 * in run.json (not in the checkpoint's config).
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, flagName, newRunConfig, RESUMABLE_KEYS, resolveConfig, resumeConfig, type TrainConfig } from '../src/config.js';
import { CharRnnError } from '../src/errors.js';
import { buildCorpus } from '../src/data.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint.js';
import { JsBackend } from '../src/backend/js.js';
import { Trainer } from '../src/train.js';
import { runCli } from './run-cli.js';

/**
 * A valid value, other than the default, for every setting that may not change on resume. The
 * first test checks that this covers them all: a new knob must say here whether it may change.
 */
const CHANGED: Partial<Record<keyof TrainConfig, string | number | boolean>> = {
  model: 'gru', layers: 3, hidden: 24, embed: 0, dropout: 0.25, embedDropout: 0.2, weightDrop: 0.3, init: 'orthogonal', valFrac: 0.1, testFrac: 0.1, batch: 3, seqLen: 12,
  optimizer: 'rmsprop', lr: 0.05, lrSchedule: 'linear', lrDecay: 0.5, lrDecayAfter: 2, warmup: 7, lrFinal: 0.5, weightDecay: 0.001, weightDecayMode: 'decoupled', clip: 1, clipMode: 'value',
  beta1: 0.8, beta2: 0.99, eps: 1e-6, alpha: 0.9, momentum: 0.5, ema: 0.9, seed: 99, lines: true,
};
const FIXED = (Object.keys(DEFAULT_CONFIG) as (keyof TrainConfig)[]).filter((k) => !RESUMABLE_KEYS.has(k));

const isOneLine = (re: RegExp) => (e: unknown): boolean => e instanceof CharRnnError && re.test(e.message) && !e.message.includes('\n');

test('library: every setting that may not change on resume is refused with its flag; the others change', () => {
  assert.deepEqual(Object.keys(CHANGED).sort(), [...FIXED].sort(), 'the table covers exactly the settings that may not change');
  const saved = resolveConfig({});
  for (const key of FIXED) {
    const given = { [key]: CHANGED[key] } as Partial<TrainConfig>;
    assert.doesNotThrow(() => resolveConfig(given), `${key}: the test's value is valid`);
    assert.throws(() => resumeConfig(saved, given), isOneLine(new RegExp(`^${flagName(key)} cannot change when resuming: the run has ${flagName(key)} ${String(saved[key])} \\(got ${String(CHANGED[key])}\\)`)), key);
  }
  // the same values as the run's are accepted: the page sends every knob it shows
  assert.deepEqual(resumeConfig(saved, { ...saved }), saved);
  const changed = resumeConfig(saved, { evalEvery: 7, evalChars: 500, sampleEvery: 0, sampleLength: 9, sampleTemperature: 0.5, onNan: 'rollback', maxRollbacks: 1 });
  assert.equal(changed.evalEvery, 7);
  assert.equal(changed.evalChars, 500);
  assert.equal(changed.onNan, 'rollback');
  assert.throws(() => resumeConfig(saved, { evalEvery: 0 }), isOneLine(/^--eval-every must be ≥ 1/));
  assert.throws(() => resumeConfig(saved, { nope: 1 } as unknown as Partial<TrainConfig>), isOneLine(/unknown setting --nope/));
});

test('library: the limits rule — given none, keep them; given any, the others are off', () => {
  assert.deepEqual([newRunConfig().maxTime, newRunConfig().epochs, newRunConfig().maxIters], [DEFAULT_CONFIG.maxTime, DEFAULT_CONFIG.epochs, 0]);
  const c = newRunConfig({ maxIters: 30 });
  assert.deepEqual([c.maxIters, c.epochs, c.maxTime], [30, 0, 0]);
  const saved = newRunConfig({ maxTime: 60 });
  assert.deepEqual([resumeConfig(saved).maxTime, resumeConfig(saved).maxIters], [60, 0]);
  const r = resumeConfig(saved, { epochs: 2 });
  assert.deepEqual([r.maxIters, r.epochs, r.maxTime], [0, 2, 0]);
});

test('library: the Trainer refuses a resume on another vocabulary, batch or model setting', async () => {
  const text = 'abcab cabba '.repeat(40);
  const corpus = buildCorpus([{ name: 't', bytes: new TextEncoder().encode(text) }]);
  const config = newRunConfig({ hidden: 8, layers: 1, embed: 4, batch: 4, seqLen: 8, maxIters: 3, evalEvery: 3, sampleEvery: 0 });
  const trainer = new Trainer({ config, corpus, backend: new JsBackend() });
  for await (const _ of trainer.run()) { /* train */ }
  const resume = decodeCheckpoint(trainer.checkpoint());
  const other = buildCorpus([{ name: 'u', bytes: new TextEncoder().encode(text + 'xyz') }]);
  assert.throws(() => new Trainer({ config: resumeConfig(resume.config), corpus: other, backend: new JsBackend(), resume }),
    isOneLine(/^the text's characters differ from the run's vocabulary \(7 vs 4 symbols; characters "x", "y", "z" are new\); resume with the run's own text/));
  const fewer = buildCorpus([{ name: 'v', bytes: new TextEncoder().encode('abab '.repeat(80)) }]);
  assert.throws(() => new Trainer({ config: resumeConfig(resume.config), corpus: fewer, backend: new JsBackend(), resume }), isOneLine(/3 vs 4 symbols; character "c" is missing/));
  // a config built without resumeConfig is checked all the same
  assert.throws(() => new Trainer({ config: { ...resume.config, batch: 5 }, corpus, backend: new JsBackend(), resume }), isOneLine(/^--batch cannot change when resuming: the run has --batch 4 \(got 5\)/));
  assert.throws(() => new Trainer({ config: { ...resume.config, hidden: 9 }, corpus, backend: new JsBackend(), resume }), isOneLine(/^--hidden cannot change/));
  // a resumable change is fine, and continues from the checkpoint
  const more = new Trainer({ config: resumeConfig(resume.config, { maxIters: 5 }), corpus, backend: new JsBackend(), resume });
  assert.equal(more.state.iter, 3);
});

test('library: checkpoints written with the engine in their config (before it became a run setting) still load', async () => {
  const corpus = buildCorpus([{ name: 't', bytes: new TextEncoder().encode('hello world. '.repeat(30)) }]);
  const trainer = new Trainer({ config: newRunConfig({ hidden: 4, layers: 1, batch: 2, seqLen: 8, maxIters: 1, sampleEvery: 0 }), corpus, backend: new JsBackend() });
  const old = encodeCheckpoint({
    config: { ...trainer.config, backend: 'wasm', threads: 2 } as unknown as TrainConfig,
    model: trainer.model, vocab: corpus.vocab,
  });
  const data = decodeCheckpoint(old);
  assert.equal('backend' in data.config || 'threads' in data.config, false);
  assert.deepEqual(data.config, trainer.config);
});

// ---- the CLI: the same rules, one line each, exit 2; and the engine in run.json ----

let dir: string;
let corpusFile: string;
let run: string;
const TINY = ['--hidden', '16', '--layers', '1', '--batch', '4', '--seq-len', '16', '--max-iters', '10', '--eval-every', '10', '--sample-every', '0'];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-resume-'));
  corpusFile = join(dir, 'corpus.txt');
  writeFileSync(corpusFile, 'the quick brown fox jumps over the lazy dog. '.repeat(60));
  run = join(dir, 'run');
  const r = await runCli(['train', '--data', corpusFile, '--out', run, '--quiet', '--backend', 'js', ...TINY]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('CLI: train --resume refuses every setting that may not change, naming its flag, before touching the run', async () => {
  const before = readFileSync(join(run, 'latest.safetensors'));
  for (const key of FIXED) {
    const value = CHANGED[key];
    const r = await runCli(['train', '--resume', run, '--quiet', flagName(key), ...(typeof value === 'boolean' ? [] : [String(value)])]);
    assert.equal(r.code, 2, `${key}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^charrnn: ${flagName(key)} cannot change when resuming: the run has ${flagName(key)} \\S+ \\(got [^)]+\\); start a new run to change it\\n$`), key);
  }
  assert.deepEqual(readFileSync(join(run, 'latest.safetensors')), before, 'the run is untouched');
  const other = join(dir, 'other.txt');
  writeFileSync(other, 'ZZZ the quick brown fox! '.repeat(60));
  const r = await runCli(['train', '--resume', run, '--data', other, '--quiet']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^charrnn: the text's characters differ from the run's vocabulary \([^\n]*"Z"[^\n]*\); resume with the run's own text, or start a new run\n$/);
});

test('CLI: the engine is a run setting kept in run.json: a resumed run keeps it unless told otherwise', async () => {
  const info = (): unknown => JSON.parse(readFileSync(join(run, 'run.json'), 'utf8'));
  assert.deepEqual((info() as { engine: unknown }).engine, { backend: 'js', threads: 0 });
  const ckpt = decodeCheckpoint(readFileSync(join(run, 'latest.safetensors')));
  assert.equal('backend' in ckpt.config, false, 'not in the model config');
  const a = await runCli(['train', '--resume', run, '--max-iters', '12', '--eval-every', '2']);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /js backend/);
  const b = await runCli(['train', '--resume', run, '--max-iters', '14', '--eval-every', '2', '--backend', 'wasm', '--threads', '1']);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /wasm backend/);
  assert.deepEqual((info() as { engine: unknown }).engine, { backend: 'wasm', threads: 1 }, 'the new engine is recorded');
});

test('library: a run resumed at an iteration that both evaluates and samples draws the same later samples as the unbroken run', async () => {
  const corpus = buildCorpus([{ name: 't', bytes: new TextEncoder().encode('the cat sat on the mat, the dog on the log. '.repeat(30)) }]);
  const base = { hidden: 8, layers: 1, embed: 4, batch: 4, seqLen: 8, evalEvery: 5, sampleEvery: 5, sampleLength: 30 };
  const samplesOf = async (t: Trainer, onEval?: () => void): Promise<string[]> => {
    const out: string[] = [];
    for await (const ev of t.run()) {
      if (ev.type === 'sample') out.push(`${ev.iter}:${ev.text}`);
      if (ev.type === 'eval') onEval?.();
    }
    return out;
  };
  const whole = await samplesOf(new Trainer({ config: newRunConfig({ ...base, maxIters: 15 }), corpus, backend: new JsBackend() }));
  const first = new Trainer({ config: newRunConfig({ ...base, maxIters: 10 }), corpus, backend: new JsBackend() });
  let saved: Uint8Array | null = null;
  const a = await samplesOf(first, () => (saved = first.checkpoint())); // as the CLI saves latest at every evaluation
  const resume = decodeCheckpoint(saved!);
  const b = await samplesOf(new Trainer({ config: resumeConfig(resume.config, { maxIters: 15 }), corpus, backend: new JsBackend(), resume }));
  assert.deepEqual([...a, ...b], whole);
  assert.equal(whole.length, 3);
});
