/**
 * The browser playground in a real headless Chromium (Debian's, driven by playwright-core):
 * train a few seconds on pasted text (the loss falls, a sample appears), load a checkpoint the
 * CLI wrote and get the same text `charrnn sample` gives for the same seed, and save a model from
 * the page that the CLI then loads. Skipped where /usr/bin/chromium is missing (CI installs it).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { main } from '../cli/main.js';
import { startServer, webRoot, resolveStatic } from '../cli/playground.js';

const CHROMIUM = '/usr/bin/chromium';
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

test('playground in Chromium: train, sample, load a CLI checkpoint, save for the CLI', { skip: !existsSync(CHROMIUM) && 'no /usr/bin/chromium (apt-get install chromium)', timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-pg-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = await startServer(webRoot(), '127.0.0.1', 0);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let browser: Browser | null = null;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
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
    for (const [flag, v] of [['model', 'lstm'], ['layers', '1'], ['hidden', '32'], ['embed', '8'], ['batch', '8'], ['seq-len', '16'], ['eval-every', '25'], ['sample-every', '50'], ['max-time', '10'], ['lr', '0.01']]) {
      if (flag === 'model') await page.selectOption(`#cfg-${flag}`, v);
      else await page.fill(`#cfg-${flag}`, v);
    }
    await page.click('#train');
    await page.waitForFunction(() => document.body.dataset.state === 'training');
    await page.waitForFunction(() => document.body.dataset.state === 'idle', undefined, { timeout: 60_000 });
    const val = await page.evaluate(() => (window as unknown as { charrnn: { series: (number | null)[][] } }).charrnn.series[2].filter((v) => v !== null) as number[]);
    assert.ok(val.length >= 2, `validation points: ${val.length}`);
    assert.ok(val[val.length - 1] < val[0], `validation loss should fall: ${val[0]} → ${val[val.length - 1]}`);
    assert.ok((await page.locator('#samples pre').count()) >= 1, 'a sample appears while training');
    assert.match((await page.textContent('#status')) ?? '', /loss \d/);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-trained.png'), fullPage: true });

    // ---- same seed, config and corpus: the same loss curve as the CLI (both on the wasm backend) ----
    await page.click('#reset');
    for (const [flag, v] of [['max-time', '0'], ['epochs', '0'], ['max-iters', '60'], ['eval-every', '20'], ['sample-every', '0'], ['seed', '5']]) await page.fill(`#cfg-${flag}`, v);
    await page.click('#train');
    await page.waitForFunction(() => document.body.dataset.state === 'training');
    await page.waitForFunction(() => document.body.dataset.state === 'idle', undefined, { timeout: 60_000 });
    const pageCurve = await page.evaluate(() => (window as unknown as { charrnn: { series: (number | null)[][] } }).charrnn.series[2].filter((v) => v !== null) as number[]);
    const corpusFile = join(dir, 'same.txt');
    writeFileSync(corpusFile, TEXT);
    const same = fakeProc(['train', '--data', corpusFile, '--out', join(dir, 'same'), '--model', 'lstm', '--layers', '1', '--hidden', '32', '--embed', '8', '--batch', '8', '--seq-len', '16', '--lr', '0.01', '--max-iters', '60', '--eval-every', '20', '--sample-every', '0', '--seed', '5', '--backend', 'wasm', '--quiet']);
    assert.equal(await main(same.proc), 0, same.err());
    const cliCurve = readFileSync(join(dir, 'same', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { val_bpc: number }).val_bpc);
    assert.deepEqual(pageCurve, cliCurve);

    // ---- save from the page; the CLI loads it ----
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    const saved = join(dir, 'from-page.safetensors');
    await download.saveAs(saved);
    const s1 = fakeProc(['sample', saved, '--length', '20', '--seed', '1', '--backend', 'js']);
    assert.equal(await main(s1.proc), 0, s1.err());

    // ---- a checkpoint written by the CLI samples the same text in the page ----
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, TEXT);
    const t = fakeProc(['train', '--data', corpus, '--out', join(dir, 'run'), '--hidden', '16', '--layers', '1', '--batch', '4', '--seq-len', '16', '--max-iters', '20', '--eval-every', '10', '--sample-every', '0', '--backend', 'js', '--quiet']);
    assert.equal(await main(t.proc), 0, t.err());
    const ckpt = join(dir, 'run', 'best.safetensors');
    const s2 = fakeProc(['sample', ckpt, '--length', '120', '--seed', '7', '--temperature', '0.8', '--backend', 'wasm']);
    assert.equal(await main(s2.proc), 0, s2.err());
    await page.setInputFiles('#ckpt-file', ckpt);
    await page.waitForFunction(() => /loaded/.test(document.getElementById('files-info')?.textContent ?? ''));
    await page.fill('#prime', '');
    await page.fill('#temperature', '0.8');
    await page.fill('#length', '120');
    await page.fill('#seed', '7');
    await page.evaluate(() => (document.getElementById('sample-out')!.textContent = ''));
    await page.click('#sample');
    await page.waitForFunction(() => (document.getElementById('sample-out')?.textContent ?? '').length > 0);
    assert.equal(await page.textContent('#sample-out'), s2.out().replace(/\n$/, ''));
    await page.screenshot({ path: join(ARTIFACTS, 'playground-sample.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
