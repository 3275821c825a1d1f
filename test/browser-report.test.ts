/**
 * The run report and the inspect page in a real headless Chromium (Debian's, driven by
 * playwright-core; playwright gives every launch a fresh temporary profile): a tiny run trained
 * through the CLI with --report, then `charrnn report --svg --png` and `charrnn inspect --find`;
 * each page is opened from disk (file://, no server, no network), must log no errors, and must
 * have drawn its charts. Screenshots go to test-artifacts/. Skipped where /usr/bin/chromium is
 * missing (CI installs it).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium, noChromium } from './chromium.js';
import { main } from '../cli/main.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const TEXT = 'He said "go home now" and she said "no" to him.\nThey sat by the fire. "Why?" he asked.\n'.repeat(30);
const PASSAGE = 'They said "go home" and he said "no not now" to her.\n"Why?" they asked.';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const proc = { argv: ['node', 'charrnn', ...argv], env: {}, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } };
  const code = await main(proc);
  return { code, out, err };
}

/** Open a page from disk, collecting console errors and uncaught exceptions. */
async function open(browser: Browser, path: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => !r.url().startsWith('file:') && !r.url().startsWith('data:') && errors.push(`network request: ${r.url()}`));
  await page.goto(pathToFileURL(path).href);
  return { page, errors };
}

/** Pixels of a canvas that are neither transparent nor white. */
const INKED = `(cv) => {
  const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250)) n++;
  return n;
}`;

test('report and inspect pages in Chromium: no errors, charts drawn, screenshots saved', { skip: noChromium, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-report-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  let browser: Browser | null = null;
  try {
    const data = join(dir, 'quotes.txt');
    writeFileSync(data, TEXT);
    const runDir = join(dir, 'run');
    const t = await run('train', '--data', data, '--out', runDir, '--quiet', '--report', '--backend', 'js', '--model', 'lstm', '--hidden', '24', '--embed', '8',
      '--batch', '8', '--seq-len', '24', '--lr', '0.01', '--max-iters', '90', '--eval-every', '30', '--sample-every', '45', '--sample-length', '60', '--seed', '3');
    assert.equal(t.code, 0, t.err);
    const evals = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').length;
    assert.equal(evals, 3);
    assert.equal(readFileSync(join(runDir, 'samples.jsonl'), 'utf8').trim().split('\n').length, 2);
    const r = await run('report', runDir, '--svg', '--png');
    assert.equal(r.code, 0, r.err);
    assert.match(readFileSync(join(runDir, 'loss.svg'), 'utf8'), /<polyline/);
    assert.deepEqual([...readFileSync(join(runDir, 'loss.png')).subarray(1, 4)], [...Buffer.from('PNG')]);
    const report = readFileSync(join(runDir, 'report.html'), 'utf8');
    assert.ok(!/http-equiv="refresh"/.test(report), 'the finished run\'s report does not reload itself');

    const inspectOut = join(dir, 'inspect.html');
    const i = await run('inspect', join(runDir, 'best.safetensors'), '--text', PASSAGE, '--find', '"[^"]*"', '--units', '0,0:c:1', '--out', inspectOut, '--png');
    assert.equal(i.code, 0, i.err);
    assert.match(i.out, /units that follow/);
    assert.ok(existsSync(join(dir, 'inspect-heatmap-h.png')) && existsSync(join(dir, 'inspect-heatmap-c.png')));

    browser = await launchChromium();

    // ---- the report: five uPlot charts with the expected series and points, pixels drawn ----
    {
      const { page, errors } = await open(browser, join(runDir, 'report.html'));
      await page.waitForFunction(() => (window as unknown as { charrnnCharts?: unknown[] }).charrnnCharts?.length === 5);
      const charts = await page.evaluate(`window.charrnnCharts.map((u) => ({ series: u.series.length, points: u.data[0].length, inked: (${INKED})(u.ctx.canvas) }))`) as { series: number; points: number; inked: number }[];
      assert.deepEqual(charts.map((c) => c.series), [3, 3, 2, 2, 2]); // x + train/val, x + one
      for (const c of charts) {
        assert.equal(c.points, evals);
        assert.ok(c.inked > 100, `a chart drew only ${c.inked} pixels`);
      }
      assert.equal(await page.locator('pre').count(), 2, 'both training samples are shown');
      await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
      assert.deepEqual(errors, []);
    }

    // ---- the inspect page: strip, heatmap canvas, coloured units ----
    {
      const { page, errors } = await open(browser, inspectOut);
      await page.waitForFunction(() => (window as unknown as { charrnnHeatmap?: unknown }).charrnnHeatmap !== undefined);
      const hm = await page.evaluate(`({ ...window.charrnnHeatmap, inked: (${INKED})(document.getElementById('hm')) })`) as { units: number; chars: number; inked: number };
      assert.equal(hm.units, 24);
      assert.equal(hm.chars, [...PASSAGE].length);
      assert.ok(hm.inked > 1000, `the heatmap drew only ${hm.inked} pixels`);
      assert.equal(await page.locator('.strip .col').count(), [...PASSAGE].length);
      assert.equal(await page.locator('h3').count(), 8 + 2, 'eight found units and two chosen ones');
      await page.selectOption('#hm-track', { label: 'layer 0: forget gate' });
      assert.equal(await page.evaluate('window.charrnnHeatmap.track'), 'layer 0 forget gate');
      await page.screenshot({ path: join(ARTIFACTS, 'inspect.png'), fullPage: true });
      assert.deepEqual(errors, []);
    }
  } finally {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
