/**
 * `charrnn export --format js`: the file, copied alone into an empty folder, samples in Node; in
 * Chromium from a module on a plain static server and, in its classic form (--global), from a
 * file:// page; bundled by Vite; and it writes what `charrnn sample --backend js` writes for three seeds (with
 * temperature, top-k, top-p and a stop sequence among them) and all three cells, trained tiny
 * models with two layers and dropout. The runtime alone gives the reference logits bit for bit;
 * --half keeps its size and samples as the float32 model rounded to float16 does; the size rule.
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { JsBackend } from '../src/backend/js.js';
import { generate } from '../src/generate.js';
import { CharRNN, countParams } from '../src/model/model.js';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { Rng } from '../src/rng.js';
import { Sampler } from '../src/sample.js';
import { Vocabulary } from '../src/vocab.js';
import { exportJs, runtimeInput } from '../src/export/js-module.js';
import { toHalf } from '../src/export/pack.js';
import { charrnnRuntime } from '../src/export/runtime.js';
import { exportSourceOf } from '../src/export/source.js';
import type { CellType } from '../src/model/layer.js';
import { launchChromium, noChromium } from './chromium.js';
import { CELLS } from './helpers.js';
import { runCli, tinyCheckpoint } from './run-cli.js';

const PRIME = 'the ';
const LENGTH = 300;
/** Three seeds, each with other knobs: the CLI's flags and the module's options for the same request. */
const RUNS: { seed: number; flags: string[]; opts: Record<string, unknown> }[] = [
  { seed: 1, flags: [], opts: {} },
  { seed: 7, flags: ['--temperature', '0.7', '--top-k', '5'], opts: { temperature: 0.7, topK: 5 } },
  { seed: 2024, flags: ['--top-p', '0.9', '--stop', 'cat'], opts: { topP: 0.9, stop: 'cat' } },
];

interface Case {
  cell: CellType;
  dir: string;
  /** What `charrnn sample --backend js` printed, per run. */
  expected: string[];
}
const cases: Case[] = [];
const dirs: string[] = [];

before(async () => {
  for (const cell of CELLS) {
    // one-hot input for the GRU, an embedding for the others; dropout between the two layers
    const { dir, ckpt } = await tinyCheckpoint(`charrnn-export-${cell}-`, undefined, ['--model', cell, '--layers', '2', '--dropout', '0.2', '--embed', cell === 'gru' ? '0' : '8']);
    dirs.push(dir);
    let r = await runCli(['export', ckpt, '--format', 'js', '--out', join(dir, 'model.js')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wrote .*model\.js \(\d+\.\d KiB\)\n$/);
    r = await runCli(['export', ckpt, '--format', 'js', '--global', 'charrnnModel', '--out', join(dir, 'model-global.js')]);
    assert.equal(r.code, 0, r.stderr);
    const expected: string[] = [];
    for (const run of RUNS) {
      const s = await runCli(['sample', ckpt, '--backend', 'js', '--seed', String(run.seed), '--length', String(LENGTH), '--prime', PRIME, ...run.flags]);
      assert.equal(s.code, 0, s.stderr);
      expected.push(s.stdout);
    }
    cases.push({ cell, dir, expected });
  }
});

after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** What a page or a script does with the model `m`: the three runs as the CLI prints them, a streamed copy of the first, and the argmax after the prime by hand. */
const SCRIPT = (m: string): string => `
  const runs = ${JSON.stringify(RUNS.map((r) => ({ seed: r.seed, ...r.opts })))};
  const texts = runs.map((o) => ${JSON.stringify(PRIME)} + ${m}.generate({ prime: ${JSON.stringify(PRIME)}, length: ${LENGTH}, ...o }) + '\\n');
  let streamed = '';
  for await (const ch of ${m}.stream({ prime: ${JSON.stringify(PRIME)}, length: ${LENGTH}, seed: 1 })) streamed += ch;
  const state = ${m}.createState();
  let probs;
  for (const ch of ${JSON.stringify(PRIME)}) probs = state.feed(ch);
  const best = probs.indexOf(Math.max(...probs));
  const result = { texts, streamed, byHand: ${m}.info.vocab[best], greedy: ${m}.generate({ prime: ${JSON.stringify(PRIME)}, length: 1, temperature: 0 }), sum: probs.reduce((a, b) => a + b, 0) };
`;

function checkResult(c: Case, result: { texts: string[]; streamed: string; byHand: string; greedy: string; sum: number }, where: string): void {
  assert.deepEqual(result.texts, c.expected, `${c.cell} ${where}: not what charrnn sample --backend js prints`);
  assert.equal(PRIME + result.streamed + '\n', c.expected[0], `${c.cell} ${where}: stream() differs from generate()`);
  assert.equal(result.byHand, result.greedy, `${c.cell} ${where}: createState().feed's most likely character is not temperature 0's`);
  assert.ok(Math.abs(result.sum - 1) < 1e-12, `${c.cell} ${where}: probabilities sum to ${result.sum}`);
}

test('export js: the module copied alone into an empty folder samples in Node as charrnn sample --backend js does', async () => {
  for (const c of cases) {
    const alone = mkdtempSync(join(tmpdir(), 'charrnn-export-alone-'));
    try {
      copyFileSync(join(c.dir, 'model.js'), join(alone, 'model.js'));
      const code = `import * as m from './model.js';\n${SCRIPT('m')}\nprocess.stdout.write(JSON.stringify(result));`;
      writeFileSync(join(alone, 'run.mjs'), code);
      const { stdout } = await promisify(execFile)(process.execPath, ['run.mjs'], { cwd: alone, env: { PATH: process.env.PATH ?? '' } });
      checkResult(c, JSON.parse(stdout), 'in Node');
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  }
});

test('export js: the header says the model, the weights, the vocabulary and the training figures', () => {
  const text = readFileSync(join(cases.find((c) => c.cell === 'lstm')!.dir, 'model.js'), 'utf8');
  const head = text.slice(0, text.indexOf('*/'));
  assert.match(head, /model: LSTM, 2 layers × 16 units, embedding 8, [\d,]+ parameters/);
  assert.match(head, /weights: float32/);
  assert.match(head, /vocabulary: \d+ characters: "/);
  assert.match(head, /training: 30 iterations; validation loss: best \d\.\d{4} nats\/char \(\d\.\d{4} bits\/char\)/);
  assert.doesNotMatch(text, /^\s*import\b/m, 'the module imports nothing');
});

/** A static server with no special headers: the files of `dir`. */
function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://x').pathname.slice(1) || 'index.html';
    readFile(join(dir, name)).then(
      (body) => res.writeHead(200, { 'Content-Type': name.endsWith('.html') ? 'text/html' : 'text/javascript' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('export js: in Chromium, a module on a plain static server and the classic form from a file:// page', { skip: noChromium }, async () => {
  const browser = await launchChromium();
  try {
    for (const c of cases) {
      writeFileSync(join(c.dir, 'index.html'), `<!doctype html><title>m</title><script type="module">import * as m from './model.js';${SCRIPT('m')}window.result = result;</script>`);
      writeFileSync(join(c.dir, 'file.html'), `<!doctype html><title>g</title><script src="model-global.js"></script><script>(async () => {${SCRIPT('charrnnModel')}window.result = result;})();</script>`);
      const server = await serve(c.dir);
      try {
        for (const [where, url] of [['served', `http://127.0.0.1:${(server.address() as AddressInfo).port}/`], ['file://', pathToFileURL(join(c.dir, 'file.html')).href]]) {
          const page = await browser.newPage();
          const errors: string[] = [];
          page.on('pageerror', (e) => errors.push(e.message));
          await page.goto(url);
          await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, { timeout: 60_000 }).catch(() => {
            throw new Error(`${c.cell} ${where}: no result; page errors: ${errors.join('; ')}`);
          });
          checkResult(c, await page.evaluate(() => (window as unknown as { result: Parameters<typeof checkResult>[1] }).result), `in Chromium, ${where}`);
          await page.close();
        }
      } finally {
        server.close();
      }
    }
  } finally {
    await browser.close();
  }
});

/** A random-init model of the given shape on a 65-character vocabulary. */
function randomModel(type: CellType, layers: number, hidden: number, embed: number, seed = 5): { model: CharRNN; vocab: Vocabulary } {
  const vocab = new Vocabulary(Array.from({ length: 65 }, (_, i) => (i === 0 ? 10 : 31 + i)));
  const model = new CharRNN({ type, vocabSize: vocab.size, hidden, layers, embed, dropout: 0 }, new JsBackend());
  model.init(new Rng(seed));
  return { model, vocab };
}

test('export js: the runtime gives the reference logits bit for bit (every cell, one-hot and embedding, 2 layers)', () => {
  for (const type of CELLS) {
    for (const embed of [0, 12]) {
      const { model, vocab } = randomModel(type, 2, 20, embed);
      const { meta, data } = runtimeInput(exportSourceOf(model, vocab), false);
      const state = charrnnRuntime(meta, data).createState();
      const sampler = new Sampler(model, vocab);
      sampler.reset();
      const rng = new Rng(3);
      for (let t = 0; t < 100; t++) {
        const id = Math.floor(rng.next() * vocab.size);
        state.feed(id);
        sampler.feed(id);
        assert.deepEqual(Array.from(state.logits), Array.from(sampler.logits), `${type} embed ${embed}, step ${t}`);
      }
      sampler.dispose();
    }
  }
});

/** float16 bits → the number. */
function fromHalf(h: number): number {
  const e = (h >>> 10) & 31;
  const v = e === 0 ? (h & 1023) * 2 ** -24 : (1024 + (h & 1023)) * 2 ** (e - 25);
  return h & 0x8000 ? -v : v;
}

test('export js: float16 rounding (to nearest, ties to even; subnormals; beyond ±65504 refused in one line)', () => {
  const cases: [number, number][] = [[1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [2 ** -24, 1], [2 ** -25, 0], [3 * 2 ** -26, 1], [0.1, 0x2e66], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0, 0], [6.1e-5, 0x03ff]];
  for (const [x, h] of cases) assert.equal(toHalf(x), h, `toHalf(${x})`);
  const rng = new Rng(1);
  for (let i = 0; i < 10000; i++) {
    const x = Math.fround(rng.normal() * 2 ** Math.floor(rng.uniform(-20, 10)));
    const r = fromHalf(toHalf(x));
    const ulp = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(r) || 2 ** -24)), -14) - 10);
    assert.ok(Math.abs(r - x) <= ulp / 2 + 1e-30, `${x} → ${r}`);
  }
  assert.throws(() => toHalf(65520), /--half: a weight of 65520 is beyond float16's range .*export without --half/);
});

test('export js: --half samples as the model with its weights rounded to float16 does', async () => {
  for (const type of CELLS) {
    const { model, vocab } = randomModel(type, 2, 24, type === 'rnn' ? 0 : 8);
    const mod = exportJs(exportSourceOf(model, vocab), { half: true, global: 'm' });
    const m = new Function(`const globalThis = {};\n${mod}\nreturn globalThis.m;`)() as ReturnType<typeof charrnnRuntime>;
    for (let i = 0; i < model.params.length; i++) model.params[i] = fromHalf(toHalf(model.params[i]));
    model.paramsChanged();
    for (const seed of [1, 2]) {
      const ours = (await generate({ model, vocab }, { length: 200, seed, prime: 'AB' })).samples[0].text;
      assert.equal(m.generate({ length: 200, seed, prime: 'AB' }), ours, `${type} seed ${seed}`);
    }
  }
});

test('export js: the size is within 2% + 16 KB of the float32 weights, about half with --half', () => {
  const sizes: string[] = [];
  for (const [type, layers, hidden, embed] of [['lstm', 2, 128, 0], ['gru', 2, 96, 32], ['rnn', 1, 64, 0]] as const) {
    const { model, vocab } = randomModel(type, layers, hidden, embed);
    const bytes = 4 * model.numParams;
    const full = new TextEncoder().encode(exportJs(exportSourceOf(model, vocab))).length;
    const half = new TextEncoder().encode(exportJs(exportSourceOf(model, vocab), { half: true })).length;
    sizes.push(`${type} ${layers}×${hidden}: weights ${bytes} B, js ${full} B, --half ${half} B`);
    assert.ok(full <= 1.02 * bytes + 16384, `${type}: ${full} B for ${bytes} B of weights`);
    assert.ok(half <= 0.52 * bytes + 16384, `${type} --half: ${half} B for ${bytes} B of weights`);
  }
  for (const c of cases) {
    const ck = decodeCheckpoint(readFileSync(join(c.dir, 'run', 'latest.safetensors')));
    const bytes = 4 * countParams(ck.model);
    const full = readFileSync(join(c.dir, 'model.js')).length;
    sizes.push(`${c.cell} tiny, trained: weights ${bytes} B, js ${full} B`);
    assert.ok(full <= 1.02 * bytes + 16384, `${c.cell}: ${full} B for ${bytes} B of weights`);
  }
  console.log(sizes.join('\n'));
});

test('export js: bad requests are one-line errors', async () => {
  const ckpt = join(cases[0].dir, 'run', 'latest.safetensors');
  const bad: [string[], number, RegExp][] = [
    [['export', ckpt, '--format', 'tfjs'], 2, /--format must be js or onnx \(got "tfjs"\)/],
    [['export', ckpt], 2, /required option '--format <name>' not specified/],
    [['export', ckpt, '--format', 'onnx', '--half'], 2, /--half and --global are for --format js/],
    [['export', ckpt, '--format', 'js', '--global', 'my-model'], 2, /--global must be a JavaScript name/],
    [['export', join(dirname(ckpt), 'nope.safetensors'), '--format', 'js'], 1, /cannot read checkpoint .*nope\.safetensors/],
    [['export', ckpt, '--format', 'js', '--out', join(cases[0].dir, 'no', 'such', 'dir', 'm.js')], 1, /cannot write .*m\.js/],
  ];
  for (const [args, code, message] of bad) {
    const r = await runCli(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const { model, vocab } = randomModel('rnn', 1, 8, 0);
  const m = new Function(`const globalThis = {};\n${exportJs(exportSourceOf(model, vocab), { global: 'm' })}\nreturn globalThis.m;`)() as ReturnType<typeof charrnnRuntime>;
  assert.throws(() => m.generate({ prime: 'é' }), /^Error: charrnn: "é" is not in the model's vocabulary; remove it from the prime or pass skipUnknown: true$/);
  assert.throws(() => m.generate({ topP: 0 }), /charrnn: topP must be in \(0, 1\]/);
  assert.throws(() => m.createState().feed('é'), /charrnn: "é" is not in the model's vocabulary/);
});

test('export js: a lines model samples an item as charrnn sample --count 1 does', async () => {
  const names = Array.from({ length: 300 }, (_, i) => ['anna', 'bob', 'carla', 'dirk', 'emma', 'fritz'][i % 6] + 'abcdef'[(i * 7) % 6]).join('\n') + '\n';
  const { dir, ckpt } = await tinyCheckpoint('charrnn-export-lines-', names, ['--lines']);
  try {
    const r = await runCli(['export', ckpt, '--format', 'js', '--global', 'm', '--out', join(dir, 'm.js')]);
    assert.equal(r.code, 0, r.stderr);
    const m = new Function(`const globalThis = {};\n${readFileSync(join(dir, 'm.js'), 'utf8')}\nreturn globalThis.m;`)() as ReturnType<typeof charrnnRuntime>;
    for (const seed of [1, 2, 3]) {
      const s = await runCli(['sample', ckpt, '--backend', 'js', '--seed', String(seed), '--count', '1', '--prime', 'e', '--length', '40']);
      assert.equal(s.code, 0, s.stderr);
      assert.equal('e' + m.generate({ prime: 'e', seed, length: 40 }) + '\n', s.stdout, `seed ${seed}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export js: --help lists export and its flags', async () => {
  const h = await runCli(['--help']);
  assert.match(h.stdout, /^\s+export \[options\] <checkpoint>\s+the model as a file that runs without\s+charrnn/m);
  const e = await runCli(['export', '--help']);
  assert.equal(e.code, 0);
  for (const flag of ['--format <name>', '--out <file>', '--half', '--global <name>']) assert.ok(e.stdout.includes(flag), flag);
});

test('export js: through a bundler (Vite, minified) it samples the same', async () => {
  const { build } = await import('vite');
  const c = cases.find((x) => x.cell === 'lstm')!;
  const out = mkdtempSync(join(tmpdir(), 'charrnn-export-vite-'));
  try {
    writeFileSync(join(c.dir, 'app.js'), `import * as m from './model.js';\nexport async function run() {${SCRIPT('m')}return result;}\n`);
    await build({ logLevel: 'silent', configFile: false, root: c.dir, build: { outDir: out, emptyOutDir: true, minify: true, lib: { entry: join(c.dir, 'app.js'), formats: ['es'], fileName: 'app' } } });
    const bundle = readdirSync(out).find((f) => /^app\.m?js$/.test(f))!;
    const { run } = (await import(pathToFileURL(join(out, bundle)).href)) as { run: () => Promise<Parameters<typeof checkResult>[1]> };
    checkResult(c, await run(), 'bundled by Vite');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
