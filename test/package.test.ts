/**
 * The package as people install it. `npm pack` of the built tree, installed into a fresh project
 * offline, then from there: the CLI (train, sample, eval, report, inspect, classify, playground),
 * the library in Node (`createBackend` from 'charrnn' gives the worker_threads WebAssembly build,
 * two threads, and the native backend from the prebuilt linux-x64 binary the tarball carries,
 * which the install did not compile), and a page bundled by Vite from `import … from 'charrnn'` that samples from a
 * checkpoint in Chromium. The README's two library examples are what runs (type-checked against
 * the packed .d.ts first), so they cannot drift from the API.
 *
 * Offline: `npm ci` of this repository caches every tarball of package-lock.json but no registry
 * metadata, so `npm install --offline <tgz>` into an empty project cannot resolve the package's
 * dependencies (ENOTCACHED). The fresh project therefore gets a lockfile of its own: the
 * tarball plus this lockfile's non-dev entries (exactly what `npm install charrnn` would pick
 * here), and `npm ci --offline` installs it from the cache alone. Vite and TypeScript are this
 * repository's dev dependencies, pointed at the fresh project.
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser } from 'playwright-core';
import { launchChromium, noChromium } from './chromium.js';
import ts from 'typescript';
import { build, type Logger } from 'vite';

const ROOT = fileURLToPath(new URL('../../', import.meta.url)); // dist/test/ -> the repository
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.css': 'text/css' };

let dir = '';
let app = '';
let tarball = '';

/** The environment for child npm/node processes: none of the npm_* variables of an enclosing `npm test`. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('npm_') || k === 'npm_config_cache') env[k] = v;
  return env;
}

interface Run { code: number; stdout: string; stderr: string }

function run(cmd: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: childEnv(), maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function ok(cmd: string, args: string[], cwd = app): Promise<string> {
  const r = await run(cmd, args, cwd);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

const charrnn = (...args: string[]): Promise<string> => ok('npx', ['--offline', 'charrnn', ...args]);

/** The ```ts block that follows `heading` in the README. */
function readmeExample(heading: string): string {
  const md = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = md.indexOf(heading);
  assert.ok(at >= 0, `README has ${heading}`);
  const m = /```ts\n([\s\S]*?)```/.exec(md.slice(at));
  assert.ok(m, `a ts block after ${heading}`);
  return m[1];
}

/** Type errors of `file` (in the fresh project) against the installed package's declarations. */
function typeErrors(file: string, resolution: 'node' | 'bundler'): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: resolution === 'node' ? ts.ModuleKind.NodeNext : ts.ModuleKind.ESNext,
    moduleResolution: resolution === 'node' ? ts.ModuleResolutionKind.NodeNext : ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: resolution === 'node' ? ['node'] : [],
    typeRoots: [join(ROOT, 'node_modules', '@types')],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  };
  const program = ts.createProgram([file], options);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-pkg-'));
  app = join(dir, 'app');
  mkdirSync(app);
  // the built tree as it is (npm test has just built it): no prepare, no rebuild
  const packed = JSON.parse(await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT)) as Array<{ filename: string; size: number; unpackedSize: number; files: Array<{ path: string }> }>;
  const { filename, size, unpackedSize, files } = packed[0];
  tarball = join(dir, filename);
  console.log(`${filename}: ${(size / 1e3).toFixed(0)} kB packed, ${(unpackedSize / 1e3).toFixed(0)} kB unpacked, ${files.length} files`);
  const lean = files.filter((f) => /\.map$|^test\/|^dist\/test\/|^dist\/bench\/|^bench\/|^src\/|^asm\/|^native\/build\//.test(f.path));
  assert.deepEqual(lean.map((f) => f.path), [], 'no tests, sources, benchmarks, source maps or build trees in the tarball');
  // the native addon: prebuilt for this platform (npm run build put it in dist/native/), and its C sources for the others
  const paths = files.map((f) => f.path);
  for (const f of [PREBUILT, 'native/binding.gyp', 'native/gemm.h', 'native/kernels.inc', 'scripts/build-native.mjs']) assert.ok(paths.includes(f), `${f} in the tarball`);

  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; license: string; bin: unknown; engines: unknown; dependencies: Record<string, string> };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const dep = `file:../${filename}`;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { [pkg.name]: dep } },
    [`node_modules/${pkg.name}`]: { version: pkg.version, resolved: dep, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [key, entry] of Object.entries(lock.packages)) if (key.startsWith('node_modules/') && !entry.dev) packages[key] = entry;
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { [pkg.name]: dep } }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }, null, 2));
  await ok('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app);
  copyFileSync(join(ROOT, 'examples', 'data', 'loomings.txt'), join(app, 'poem.txt'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The prebuilt addon the tarball carries for this platform (the tests run on linux-x64, as CI does). */
const PREBUILT = `dist/native/${process.platform}-${process.arch}/charrnn_native.node`;

const SMALL = ['--hidden', '32', '--batch', '8', '--seq-len', '32', '--eval-every', '10', '--sample-every', '0'];

test('the CLI from the tarball: train (the engine on its first line), sample, eval, report, inspect, classify, train --engine torch', { timeout: 120_000 }, async () => {
  const out = await charrnn('train', '--data', 'poem.txt', '--max-iters', '20', '--out', 'run', ...SMALL);
  const first = out.split('\n')[0];
  // auto times native against wasm for training: either may win
  assert.match(first, /parameters, .* (native backend \(\w+\)|wasm backend), \d+ threads? \(native [\d.]+ (?:[KM] )?chars\/s, wasm/, `first line: ${first}`);
  assert.match(out, /done \(max-iters\) after 20 iterations/);
  assert.ok(statSync(join(app, 'run', 'best.safetensors')).size > 0);

  const text = await charrnn('sample', 'run/best.safetensors', '--length', '80', '--seed', '1');
  assert.ok([...text].length >= 80, `a sample of 80 characters: ${JSON.stringify(text)}`);
  const ev = JSON.parse(await charrnn('eval', 'run/best.safetensors', '--data', 'poem.txt', '--json')) as { bits_per_char: number };
  assert.ok(ev.bits_per_char > 0 && Number.isFinite(ev.bits_per_char));
  await charrnn('report', 'run', '--png'); // the native PNG renderer (@resvg) came from the cache too
  assert.ok(statSync(join(app, 'run', 'report.html')).size > 0 && statSync(join(app, 'run', 'loss.png')).size > 0);
  await charrnn('inspect', 'run/best.safetensors', '--text', 'Call me Ishmael.', '--out', 'inspect.html');
  assert.match(readFileSync(join(app, 'inspect.html'), 'utf8'), /<html/i);
  const cls = JSON.parse(await charrnn('classify', '--model', 'run/best.safetensors', '--model', 'run/latest.safetensors', '--data', 'poem.txt', '--json')) as { best: string };
  assert.match(cls.best, /run\/(best|latest)\.safetensors/);
  // the PyTorch engine's trainer ships too (python/), and its run samples with our CLI
  const torch = await charrnn('train', '--engine', 'torch', '--device', 'cpu', '--data', 'poem.txt', '--max-iters', '5', '--out', 'torch-run', ...SMALL);
  assert.match(torch, /done \(max-iters\) after 5 iterations/);
  assert.ok([...(await charrnn('sample', 'torch-run/latest.safetensors', '--length', '20', '--seed', '1'))].length >= 20);
});

test('the playground from the tarball: GET / is the page, cross-origin isolated', { timeout: 60_000 }, async () => {
  // the installed bin itself (what npx runs), so that the server is our child and we stop it by its id
  const server = spawn(join(app, 'node_modules', '.bin', 'charrnn'), ['playground', '--port', '0'], { cwd: app, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      server.stdout.on('data', (b: Buffer) => {
        seen += b.toString();
        const m = /http:\/\/[^\s]+\//.exec(seen);
        if (m) resolve(m[0]);
      });
      server.stderr.on('data', (b: Buffer) => { seen += b.toString(); });
      server.once('exit', (code) => reject(new Error(`playground exited ${code}: ${seen}`)));
    });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
    const html = await res.text();
    assert.match(html, /<title>[^<]*charrnn/i);
    // the page's scripts are there too (the built playground is in the package)
    const script = /src="\.?\/?(assets\/[^"]+\.js)"/.exec(html);
    assert.ok(script, 'the page loads a script');
    assert.equal((await fetch(new URL(script[1], url))).status, 200);
  } finally {
    server.kill();
  }
});

test("the library in Node from the tarball: createBackend gives 2 wasm threads and the prebuilt native backend; the README's example runs", { timeout: 120_000 }, async () => {
  /** What createBackend({ kind, threads: 2 }) gives in the fresh project. */
  const engine = async (kind: string): Promise<{ name: string; choice: { requested: string; kind: string; threads: number; isa?: string } }> => {
    writeFileSync(join(app, `${kind}.mjs`), [
      "import { createBackend } from 'charrnn';",
      `const backend = await createBackend({ kind: '${kind}', threads: 2 });`,
      'console.log(JSON.stringify({ name: backend.name, choice: backend.choice }));',
      'backend.dispose?.();',
    ].join('\n'));
    return JSON.parse(await ok('node', [`${kind}.mjs`]));
  };
  assert.deepEqual(await engine('wasm'), { name: 'wasm', choice: { requested: 'wasm', kind: 'wasm', threads: 2 } });

  // the native backend from the prebuilt binary: the install script found it loads and compiled nothing
  const native = (await engine('native')).choice;
  assert.equal(native.kind, 'native');
  assert.equal(native.threads, 2);
  assert.match(native.isa ?? '', /^(avx512|avx2|plain)$/);
  const installed = join(app, 'node_modules', 'charrnn');
  assert.ok(existsSync(join(installed, PREBUILT)), 'the prebuilt binary was installed');
  assert.equal(existsSync(join(installed, 'native', 'build')), false, 'the install compiled nothing: the prebuilt binary serves');

  // the README's Node example, with a model and a run small enough for a test
  const example = readmeExample('## As a library');
  const small = example.replace('resolveConfig({ maxIters: 500 })', 'resolveConfig({ maxIters: 10, hidden: 32, batch: 8, seqLen: 32, evalEvery: 5 })');
  assert.notEqual(small, example, 'the README example still calls resolveConfig({ maxIters: 500 })');
  writeFileSync(join(app, 'readme-node.ts'), example);
  assert.deepEqual(typeErrors(join(app, 'readme-node.ts'), 'node'), []);
  writeFileSync(join(app, 'readme-node.mjs'), ts.transpileModule(small, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);
  const lines = (await ok('node', ['readme-node.mjs'])).trim().split('\n');
  assert.ok(lines.length >= 3, `validation losses and a sample: ${lines.join('\n')}`);
  for (const l of lines.slice(0, 2)) assert.ok(Number(l) > 0, `a validation loss: ${l}`);
});

/** Serve the built page on 127.0.0.1, cross-origin isolated; /models/poem.safetensors is the CLI's checkpoint. */
function servePage(root: string, model: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/+/, '');
    const file = path === 'models/poem.safetensors' ? model : join(root, path === '' ? 'index.html' : path);
    if (path.includes('..')) return void res.writeHead(404).end();
    readFile(file).then(
      (body) => res.writeHead(200, { ...ISOLATION, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test("a page bundled by Vite from 'charrnn' (the README's page example) samples in Chromium, on 2 threads", { skip: noChromium, timeout: 120_000 }, async () => {
  const model = join(app, 'run', 'best.safetensors');
  if (!existsSync(model)) await charrnn('train', '--data', 'poem.txt', '--max-iters', '20', '--out', 'run', ...SMALL); // run alone
  const page = join(app, 'page');
  mkdirSync(page, { recursive: true });
  const example = readmeExample('### From a page');
  writeFileSync(join(page, 'main.ts'), example);
  assert.deepEqual(typeErrors(join(page, 'main.ts'), 'bundler'), []);
  // beside the example: what createBackend chose in this page, for the test to read
  writeFileSync(join(page, 'engine.ts'), [
    "import { createBackend } from 'charrnn';",
    "const backend = await createBackend({ kind: 'wasm', threads: 2 });",
    'document.body.dataset.choice = JSON.stringify(backend.choice);',
  ].join('\n'));
  writeFileSync(join(page, 'index.html'), '<!doctype html><meta charset="utf-8"><title>charrnn from a page</title><link rel="icon" href="data:,"><pre id="out"></pre>\n<script type="module" src="./main.ts"></script>\n<script type="module" src="./engine.ts"></script>\n');

  const warnings: string[] = [];
  const logger: Logger = {
    info: () => {}, warn: (m) => warnings.push(m), warnOnce: (m) => warnings.push(m), error: (m) => warnings.push(m),
    clearScreen: () => {}, hasErrorLogged: () => false, hasWarned: false,
  };
  await build({ root: page, configFile: false, customLogger: logger, logLevel: 'warn', build: { outDir: join(page, 'dist'), emptyOutDir: true, target: 'es2022' } });
  assert.deepEqual(warnings, [], 'Vite bundles the package for the browser without warnings (no Node modules in it)');

  const server = await servePage(join(page, 'dist'), model);
  let browser: Browser | null = null;
  try {
    browser = await launchChromium();
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    tab.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await tab.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => (document.querySelector('#out')?.textContent ?? '').length >= 500 && document.body.dataset.choice !== undefined, undefined, { timeout: 60_000 });
    const text = await tab.evaluate(() => document.querySelector('#out')!.textContent!);
    assert.equal([...text].length, 500, 'the example streams 500 characters');
    assert.deepEqual(JSON.parse(await tab.evaluate(() => document.body.dataset.choice!)), { requested: 'wasm', kind: 'wasm', threads: 2 });
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    server.close();
  }
});
