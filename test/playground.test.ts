/**
 * The browser playground in a real headless Chromium (Debian's, driven by playwright-core):
 * train a few seconds on pasted text (the loss falls, a sample appears), load a checkpoint the
 * CLI wrote and get the same text `charrnn sample` gives for the same seed, and save a model from
 * the page that the CLI then loads; Train continues a model by the library's resume rules (another
 * shape or text is refused) and "Start a new model" starts one. Skipped where /usr/bin/chromium is missing (CI installs it).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium, noChromium } from './chromium.js';
import { trainToEnd, validationCurve } from './playground-page.js';
import { main } from '../cli/main.js';
import { startServer, webRoot, resolveStatic } from '../cli/playground.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');

function fakeProc(argv: string[]) {
  let out = '';
  let err = '';
  return {
    proc: { argv: ['node', 'charrnn', ...argv], env: {}, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
    out: () => out,
    err: () => err,
  };
}

const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(60);

test('static serving refuses paths outside the folder', () => {
  const root = '/srv/web';
  assert.equal(resolveStatic(root, '/'), '/srv/web/index.html');
  assert.equal(resolveStatic(root, '/assets/a.js?x=1'), '/srv/web/assets/a.js');
  for (const bad of ['/../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/assets/../../x', '/%00', '/%E0%A4%A']) {
    const r = resolveStatic(root, bad);
    assert.ok(r === null || r.startsWith('/srv/web/'), `${bad} → ${r}`);
  }
});

test('the playground server: 127.0.0.1, GET/HEAD only, no request bodies, isolation headers', async () => {
  const server = await startServer(webRoot(), '127.0.0.1', 0);
  const { address, port } = server.address() as AddressInfo;
  try {
    assert.equal(address, '127.0.0.1');
    const base = `http://127.0.0.1:${port}`;
    const ok = await fetch(`${base}/`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(ok.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.equal((await fetch(`${base}/`, { method: 'POST', body: 'x'.repeat(1000) })).status, 405);
    assert.equal((await fetch(`${base}/nope.js`)).status, 404);
  } finally {
    server.close();
  }
});

test('playground in Chromium: train, sample, load a CLI checkpoint, save for the CLI', { skip: noChromium, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-pg-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = await startServer(webRoot(), '127.0.0.1', 0);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let browser: Browser | null = null;
  try {
    browser = await launchChromium();
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.engine !== undefined);
    // cross-origin isolated by the server's headers, so the engine runs WebAssembly on every core
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    assert.equal(await page.evaluate(() => document.body.dataset.engine), 'wasm');
    assert.ok(Number(await page.evaluate(() => document.body.dataset.threads)) > 1, 'more than one thread when isolated');

    // ---- train a few seconds on pasted text ----
    await page.check('input[name=source][value=paste]');
    await page.fill('#corpus-text', TEXT);
    await page.click('#advanced summary'); // the knobs are under Advanced, collapsed
    for (const [flag, v] of [['model', 'lstm'], ['layers', '1'], ['hidden', '32'], ['embed', '8'], ['batch', '8'], ['seq-len', '16'], ['eval-every', '25'], ['sample-every', '50'], ['max-time', '10'], ['lr', '0.01']]) {
      if (flag === 'model') await page.selectOption(`#cfg-${flag}`, v);
      else await page.fill(`#cfg-${flag}`, v);
    }
    await trainToEnd(page);
    const val = await validationCurve(page);
    assert.ok(val.length >= 2, `validation points: ${val.length}`);
    assert.ok(val[val.length - 1] < val[0], `validation loss should fall: ${val[0]} → ${val[val.length - 1]}`);
    assert.ok((await page.locator('#samples pre').count()) >= 1, 'a sample appears while training');
    assert.match((await page.textContent('#status')) ?? '', /loss \d/);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-trained.png'), fullPage: true });

    // ---- Train continues this model; another shape or another text is refused, never silently resumed ----
    const info = (): Promise<string> => page.evaluate(() => document.getElementById('continue-info')!.textContent ?? '');
    await page.waitForFunction(() => !document.getElementById('continue-info')!.hidden);
    assert.match(await info(), /Train continues the LSTM 1×32 model \(\d+ iterations/);
    assert.equal(await page.isVisible('#new-model'), true, 'a new model is offered');
    await page.fill('#cfg-hidden', '48');
    assert.equal(await page.getAttribute('#continue-info', 'data-refused'), 'yes');
    assert.match(await info(), /--hidden cannot change when resuming/);
    const refused = async (re: RegExp): Promise<void> => {
      await page.click('#train');
      await page.waitForFunction((src) => new RegExp(src).test(document.getElementById('status')?.textContent ?? ''), re.source);
      assert.equal(await page.evaluate(() => document.body.dataset.state), 'idle');
    };
    await refused(/^error: --hidden cannot change when resuming: the run has --hidden 32 \(got 48\)/);
    await page.fill('#cfg-hidden', '32');
    assert.equal(await page.getAttribute('#continue-info', 'data-refused'), 'no');
    await page.fill('#corpus-text', TEXT + 'XYZ');
    await refused(/^error: the text's characters differ from the run's vocabulary/);
    // "Start a new model" trains one with the settings shown
    await page.fill('#corpus-text', TEXT);
    await page.fill('#cfg-hidden', '48');
    await page.fill('#cfg-max-time', '2');
    const runsBefore = await page.evaluate(() => Number(document.body.dataset.runs ?? 0));
    await page.click('#new-model');
    await page.waitForFunction((n) => Number(document.body.dataset.runs ?? 0) > n && document.body.dataset.state === 'idle', runsBefore, { timeout: 90_000 });
    await page.waitForFunction(() => /LSTM 1×48/.test(document.getElementById('continue-info')?.textContent ?? ''));
    await page.fill('#cfg-hidden', '32');

    // ---- the inspect views on a text typed in the page ----
    await page.fill('#inspect-text', 'the cat sat on the mat. the dog sat on the log.');
    await page.fill('#inspect-find', 'dog');
    await page.click('#inspect');
    await page.waitForFunction(() => /bits\/char/.test(document.getElementById('inspect-info')?.textContent ?? ''));
    assert.match((await page.textContent('#inspect-info')) ?? '', /strongest unit for \/dog\//);
    const frame = page.frameLocator('#inspect-view');
    // the iframe parses its srcdoc after the status line updates: wait for its content
    await frame.locator('canvas, svg, table, span').first().waitFor({ timeout: 20_000 });
    assert.ok((await frame.locator('canvas, svg, table, span').count()) > 0, 'the inspect page drew something');
    await page.locator('#inspect-view').screenshot({ path: join(ARTIFACTS, 'playground-inspect.png') });

    // ---- the Sample panel's count / stop / beam / novelty, then a lines model ----
    await page.fill('#count', '3');
    await page.fill('#stop-at', '.');
    await page.check('#novelty');
    await page.evaluate(() => (document.getElementById('sample-out')!.textContent = ''));
    await page.click('#sample');
    await page.waitForFunction(() => /novelty of 3 samples/.test(document.getElementById('sample-out')?.textContent ?? ''));
    const three = (await page.textContent('#sample-out')) ?? '';
    assert.equal(three.match(/^--- sample \d: \[(train|held-out|new)\] ---$/gm)?.length, 3, three);
    assert.match(three, /novel n-grams \(never in the training split\): 5: \d+%/);
    await page.fill('#beam', '3');
    await page.evaluate(() => (document.getElementById('sample-out')!.textContent = ''));
    await page.click('#sample');
    await page.waitForFunction(() => /ln p -\d/.test(document.getElementById('sample-out')?.textContent ?? ''));
    await page.fill('#beam', '0');
    await page.fill('#stop-at', '');
    await page.fill('#corpus-text', ['anna', 'bob', 'cara', 'dave', 'eve', 'fred', 'gina', 'hal', 'ivy', 'jon', 'kim', 'lee', 'max', 'ned', 'olga', 'pam', 'quin', 'rex', 'sam', 'tom'].join('\n'));
    await page.click('#reset'); // the boxes are the defaults again
    await page.check('input[name=source][value=paste]');
    await page.selectOption('#cfg-lines', 'yes');
    for (const [flag, v] of [['layers', '1'], ['hidden', '32'], ['embed', '8'], ['batch', '4'], ['seq-len', '8'], ['max-time', '3'], ['eval-every', '20']]) await page.fill(`#cfg-${flag}`, v);
    await trainToEnd(page);
    await page.fill('#count', '5');
    await page.evaluate(() => (document.getElementById('sample-out')!.textContent = ''));
    await page.click('#sample');
    await page.waitForFunction(() => /novelty of 5 items/.test(document.getElementById('sample-out')?.textContent ?? ''));
    const items = ((await page.textContent('#sample-out')) ?? '').split('\n').filter((l) => /\t\[(train|held-out|new)\]$/.test(l));
    assert.equal(items.length, 5, 'a lines model gives one item per line, each marked');
    await page.selectOption('#cfg-lines', '');
    await page.uncheck('#novelty');
    await page.fill('#count', '');

    // ---- same seed, config and corpus: the same loss curve as the CLI ----
    // On the reference backend (one thread) the page and Node agree to the last bit or two. On WebAssembly
    // with threads, GEMM plans are chosen by timing, so sums may be ordered differently: agreement
    // to float32 rounding (documented in docs/playground.md).
    const corpusFile = join(dir, 'same.txt');
    writeFileSync(corpusFile, TEXT);
    const sameArgs = ['--data', corpusFile, '--model', 'lstm', '--layers', '1', '--hidden', '32', '--embed', '8', '--batch', '8', '--seq-len', '16', '--lr', '0.01', '--max-iters', '60', '--eval-every', '20', '--sample-every', '0', '--seed', '5', '--quiet'];
    const curveOf = async (p: Page): Promise<number[]> => {
      await p.click('#reset');
      if (!(await p.isVisible('#cfg-layers'))) await p.click('#advanced summary');
      await p.check('input[name=source][value=paste]');
      await p.fill('#corpus-text', TEXT);
      for (const [flag, v] of [['layers', '1'], ['hidden', '32'], ['embed', '8'], ['batch', '8'], ['seq-len', '16'], ['lr', '0.01'], ['max-time', '0'], ['epochs', '0'], ['max-iters', '60'], ['eval-every', '20'], ['sample-every', '0'], ['seed', '5']]) await p.fill(`#cfg-${flag}`, v);
      await trainToEnd(p);
      return validationCurve(p);
    };
    const cliCurve = async (backend: string): Promise<number[]> => {
      const out = join(dir, `same-${backend}`);
      const run = fakeProc(['train', ...sameArgs, '--out', out, '--backend', backend]);
      assert.equal(await main(run.proc), 0, run.err());
      return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { val_bpc: number }).val_bpc);
    };
    const wasmPage = await curveOf(page);
    const wasmCli = await cliCurve('wasm');
    assert.equal(wasmPage.length, wasmCli.length);
    wasmPage.forEach((v, i) => assert.ok(Math.abs(v - wasmCli[i]) < 1e-5, `wasm curve ${i}: page ${v} vs CLI ${wasmCli[i]}`));
    const jsPage = await context.newPage();
    jsPage.on('pageerror', (e) => errors.push(e.message));
    await jsPage.goto(`${url}?backend=js`);
    await jsPage.waitForFunction(() => document.body.dataset.engine === 'js');
    // the same arithmetic in the same order; only Math.exp/Math.log/Math.cos of the page's V8 and
    // Node's may round a last bit differently, so the curves agree to 1e-12, not bit for bit
    const jsPageCurve = await curveOf(jsPage);
    const jsCli = await cliCurve('js');
    assert.equal(jsPageCurve.length, jsCli.length);
    jsPageCurve.forEach((v, i) => assert.ok(Math.abs(v - jsCli[i]) <= 1e-12 * Math.abs(jsCli[i]), `js curve ${i}: page ${v} vs CLI ${jsCli[i]}`));

    // ---- save from the page; the CLI loads it ----
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    const saved = join(dir, 'from-page.safetensors');
    await download.saveAs(saved);
    const s1 = fakeProc(['sample', saved, '--length', '20', '--seed', '1', '--backend', 'js']);
    assert.equal(await main(s1.proc), 0, s1.err());
    // …and resumes training from it: the page's checkpoint carries the full training state
    const resumeDir = join(dir, 'resume-from-page');
    mkdirSync(resumeDir);
    copyFileSync(saved, join(resumeDir, 'latest.safetensors'));
    const pageCorpus = join(dir, 'page-corpus.txt');
    writeFileSync(pageCorpus, TEXT);
    const r = fakeProc(['train', '--resume', resumeDir, '--data', pageCorpus, '--max-iters', '80', '--backend', 'js', '--json', '--quiet']);
    assert.equal(await main(r.proc), 0, r.err());
    assert.equal((JSON.parse(r.out()) as { iters: number }).iters, 80, 'continued from the 60 iterations done in the page');

    // ---- a checkpoint written by the CLI samples the same text in the page ----
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, TEXT);
    const t = fakeProc(['train', '--data', corpus, '--out', join(dir, 'run'), '--hidden', '16', '--layers', '1', '--batch', '4', '--seq-len', '16', '--max-iters', '20', '--eval-every', '10', '--sample-every', '0', '--backend', 'js', '--quiet']);
    assert.equal(await main(t.proc), 0, t.err());
    const ckpt = join(dir, 'run', 'best.safetensors');
    const s2 = fakeProc(['sample', ckpt, '--length', '120', '--seed', '7', '--temperature', '0.8', '--backend', 'js']);
    assert.equal(await main(s2.proc), 0, s2.err());
    // (sampled on the reference backend, so the draws are bit-identical to the CLI's)
    await jsPage.setInputFiles('#ckpt-file', ckpt);
    await jsPage.waitForFunction(() => /loaded/.test(document.getElementById('files-info')?.textContent ?? ''));
    await jsPage.fill('#prime', '');
    await jsPage.fill('#temperature', '0.8');
    await jsPage.fill('#length', '120');
    await jsPage.fill('#seed', '7');
    await jsPage.evaluate(() => (document.getElementById('sample-out')!.textContent = ''));
    await jsPage.click('#sample');
    await jsPage.waitForFunction(() => (document.getElementById('sample-out')?.textContent ?? '').length > 0);
    assert.equal(await jsPage.textContent('#sample-out'), s2.out().replace(/\n$/, ''));
    await page.screenshot({ path: join(ARTIFACTS, 'playground-sample.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
