/**
 * The playground and WebGPU, in Debian's headless Chromium on SwiftShader (`launchChromium({ webgpu:
 * true })`, a software adapter):
 * - without an option the page trains on wasm: `auto` never takes a software GPU;
 * - with ?engine=webgpu (and ?backend=js, so that its samples are the CLI's to the bit) it says
 *   "engine: webgpu, <adapter>", trains a tiny LSTM a few iterations on the GPU, samples after
 *   the run on the CPU from the trained weights (the text `charrnn sample --backend js` gives for
 *   the saved file), and Save gives a checkpoint of those iterations.
 * SwiftShader is slow (and compiles each pipeline in about a second): the model and run are tiny.
 * Without WebGPU (Chromium with --disable-gpu), ?engine=webgpu says why in one line and falls
 * back to the CPU engine. Skipped where /usr/bin/chromium is missing, or where Chromium finds no
 * WebGPU adapter, except under CI=true, where no adapter is a failure.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { launchChromium, noChromium } from './chromium.js';
import { openPage, trainToEnd, validationCurve } from './playground-page.js';
import { runCli } from './run-cli.js';
import { startServer, webRoot } from '../cli/playground.js';
import { decodeCheckpoint } from '../src/checkpoint.js';

const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(60);
const ITERS = 6;

test('playground on WebGPU in Chromium (SwiftShader): auto stays on wasm, ?engine=webgpu trains on the GPU', { skip: noChromium, timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-pg-gpu-'));
  const server = await startServer(webRoot(), '127.0.0.1', 0);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let browser: Browser | null = null;
  try {
    browser = await launchChromium({ webgpu: true });
    const context = await browser.newContext({ acceptDownloads: true });
    const errors: string[] = [];
    const noAdapter = (why: string): void => {
      if (process.env.CI === 'true') assert.fail(`no WebGPU in Chromium: ${why}`);
      t.skip(`no WebGPU in Chromium: ${why}`); // a developer machine without the driver
    };

    // ---- no option: a software adapter is there, and auto trains on wasm all the same ----
    const auto = await openPage(context, url, errors);
    const adapter = await auto.evaluate(async () => {
      const a = await navigator.gpu?.requestAdapter();
      return a ? [a.info.vendor, a.info.architecture, a.info.description].join(' ') : null;
    });
    if (!adapter) return noAdapter('navigator.gpu.requestAdapter() gave none');
    assert.match(adapter, /swiftshader/i, 'the tests run on SwiftShader');
    assert.equal(await auto.evaluate(() => document.body.dataset.engine), 'wasm');
    assert.match((await auto.textContent('#engine')) ?? '', /^engine: wasm backend, \d+ threads?$/);
    await auto.close();

    // ---- ?engine=webgpu: trains on the adapter ----
    const page = await openPage(context, `${url}?engine=webgpu&backend=js`, errors);
    const line = (await page.textContent('#engine')) ?? '';
    t.diagnostic(line);
    if ((await page.evaluate(() => document.body.dataset.engine)) !== 'webgpu') return noAdapter(line);
    assert.match(line, /^engine: webgpu, .*swiftshader.* \(a software adapter: correct, but slower than the wasm backend\); samples on the js backend, 1 thread$/i);
    await page.check('input[name=source][value=paste]');
    await page.fill('#corpus-text', TEXT);
    await page.click('#advanced summary'); // the knobs are under Advanced, collapsed
    const knobs = [['layers', '1'], ['hidden', '16'], ['embed', '8'], ['batch', '4'], ['seq-len', '16'], ['max-time', '0'], ['epochs', '0'],
      ['max-iters', String(ITERS)], ['eval-every', '3'], ['sample-every', String(ITERS)], ['seed', '3']];
    for (const [flag, v] of knobs) await page.fill(`#cfg-${flag}`, v);
    const t0 = performance.now();
    await trainToEnd(page, 180_000);
    t.diagnostic(`trained ${ITERS} iterations on SwiftShader in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    assert.match((await page.textContent('#status')) ?? '', / — stopped \(max-iters\)$/);
    const val = await validationCurve(page);
    assert.equal(val.length, 2, `an evaluation at 3 and at ${ITERS}: ${val}`);
    assert.ok(val.every(Number.isFinite), `finite validation losses: ${val}`);
    assert.equal(await page.locator('#samples pre').count(), 1, 'the run drew its sample (on the CPU)');

    // ---- after the run: a sample on the CPU from the trained weights, and Save ----
    await page.fill('#prime', '');
    await page.fill('#temperature', '0.8');
    await page.fill('#length', '80');
    await page.fill('#seed', '7');
    await page.click('#sample');
    await page.waitForFunction(() => (document.getElementById('sample-out')?.textContent ?? '').length > 0);
    const sample = (await page.textContent('#sample-out')) ?? '';
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    const saved = join(dir, 'from-gpu.safetensors');
    await download.saveAs(saved);
    const data = decodeCheckpoint(new Uint8Array(readFileSync(saved)));
    assert.equal(data.train?.state.iter, ITERS);
    assert.equal(data.model.hidden, 16);
    const cli = await runCli(['sample', saved, '--length', '80', '--seed', '7', '--temperature', '0.8', '--backend', 'js']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(sample, cli.stdout.replace(/\n$/, ''), 'the page samples the trained weights');
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('playground: ?engine=webgpu without WebGPU says why in one line and falls back to the CPU engine', { skip: noChromium, timeout: 60_000 }, async (t) => {
  const server = await startServer(webRoot(), '127.0.0.1', 0);
  let browser: Browser | null = null;
  try {
    browser = await launchChromium(); // --disable-gpu: no adapter
    const errors: string[] = [];
    const page = await openPage(await browser.newContext(), `http://127.0.0.1:${(server.address() as AddressInfo).port}/?engine=webgpu`, errors);
    const line = (await page.textContent('#engine')) ?? '';
    t.diagnostic(line);
    assert.equal(await page.evaluate(() => document.body.dataset.engine), 'wasm');
    assert.match(line, /^engine: wasm backend, \d+ threads?; \?engine=webgpu: the WebGPU backend did not start \([^\n]+\)/);
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    server.close();
  }
});
