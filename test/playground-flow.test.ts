/**
 * The playground as a new user meets it, in Debian's headless Chromium (playwright-core):
 * - the three choices (a text, how long, Train) train with the budget rule, which says what it
 *   chose; the sample is written again every few seconds from the same prime and seed; the loss
 *   is said in words beside what guessing scores; the chart's train curve is the smoothed step
 *   loss only (no spike at the first evaluation). `?minute=S` makes a "minute" S seconds: the
 *   run is real, only shorter;
 * - the built-in names train a lines model, whose samples are a list with novelty marks;
 * - the Advanced group round-trips every knob of the table, an empty box is the default (not
 *   sent), a bad box is refused with the CLI's message, and its defaults are the ones
 *   `charrnn train --help` prints;
 * - at 1400 px and 390 px: screenshots in test-artifacts/, no horizontal scroll, no element over
 *   another, and axe-core finds no serious or critical violation.
 * Skipped where /usr/bin/chromium is missing (CI installs it).
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, noChromium } from './chromium.js';
import { axeViolations, layoutProblems, openPage } from './playground-page.js';
import { runCli } from './run-cli.js';
import { startServer, webRoot } from '../cli/playground.js';
import { LINES_COUNT } from '../src/generate-options.js';
import { DEFAULT_CONFIG, KNOBS, knobToText, type KnobInfo, type TrainConfig } from '../src/config.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');

/** A value of each knob other than its default, valid by its rule. */
function otherValue(k: KnobInfo): string | number | boolean {
  if (k.kind === 'switch') return !k.default;
  if (k.kind === 'choice') return k.choices.find((c) => c !== k.default)!;
  const { int, max } = k.rule;
  if (int) return k.default + 1 <= (max ?? Infinity) ? k.default + 1 : k.default - 1;
  return k.default === 0 ? 0.25 : k.default / 2;
}

type PageApi = { charrnn: { series: (number | null)[][]; readKnobs(): Partial<TrainConfig>; showKnobs(v: Partial<TrainConfig>): void } };

async function checkLayout(t: TestContext, page: Page, width: number, shot: string): Promise<void> {
  await page.setViewportSize({ width, height: 900 });
  await page.waitForTimeout(300); // the chart follows the window's resize
  await page.screenshot({ path: join(ARTIFACTS, shot), fullPage: true });
  const { scroll, overlaps } = await layoutProblems(page);
  assert.equal(scroll, 0, `no horizontal scroll at ${width} px`);
  assert.deepEqual(overlaps, [], `nothing overlaps at ${width} px`);
  const axe = await axeViolations(page);
  t.diagnostic(`axe-core at ${width} px (${shot}): ${JSON.stringify(axe.counts)}${axe.rules.length ? ' — ' + axe.rules.join('; ') : ''}`);
  assert.equal(axe.counts.serious + axe.counts.critical, 0, `axe-core at ${width} px: ${axe.rules.join('; ')}`);
}

test('playground in Chromium: three choices train with the budget rule; Advanced round-trips every knob; 1400 and 390 px', { skip: noChromium, timeout: 300_000 }, async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = await startServer(webRoot(), '127.0.0.1', 0);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let browser: Browser | null = null;
  try {
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    const errors: string[] = [];
    const page = await openPage(context, `${url}?minute=8`, errors);
    // the first screen, before anything is chosen
    await page.screenshot({ path: join(ARTIFACTS, 'playground-start-1400.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, 'playground-start-390.png') });
    await page.setViewportSize({ width: 1400, height: 900 });

    // ---- the Advanced group: every knob through the table, both ways ----
    assert.equal(await page.evaluate(() => (document.getElementById('advanced') as HTMLDetailsElement).open), false, 'Advanced starts collapsed');
    await page.click('#advanced summary');
    assert.deepEqual(await page.evaluate(() => (window as unknown as PageApi).charrnn.readKnobs()), {}, 'empty boxes: nothing sent, every default');
    const help = await runCli(['train', '--help']);
    const cliHelp = help.stdout.replace(/\n\s+/g, ' ');
    const expected: Record<string, unknown> = {};
    for (const k of KNOBS) {
      const id = `#cfg-${k.flag.slice(2)}`;
      // the label in words, the flag as a hint; the default the CLI's --help states
      assert.equal(await page.locator(`label:has(${id}) code`).textContent(), k.flag);
      const shown = await page.evaluate((sel) => {
        const el = document.querySelector(sel) as HTMLInputElement | HTMLSelectElement;
        return el instanceof HTMLSelectElement ? el.options[0].text : el.placeholder;
      }, id);
      assert.equal(shown, `default ${knobToText(k.key, k.default)}`);
      if (k.kind !== 'switch') {
        const cli = new RegExp(`${k.flag} <\\w+> .*?\\(default ([^)]+)\\)`).exec(cliHelp);
        assert.equal(cli?.[1], String(DEFAULT_CONFIG[k.key]), `${k.flag}: --help and the page show the same default`);
      }
      const v = otherValue(k);
      expected[k.key] = v;
      if (k.kind === 'number') await page.fill(id, String(v));
      else await page.selectOption(id, knobToText(k.key, v));
    }
    assert.deepEqual(await page.evaluate(() => (window as unknown as PageApi).charrnn.readKnobs()), expected, 'every knob read back as given');
    for (const k of KNOBS) await page.evaluate((id) => ((document.getElementById(id) as HTMLInputElement).value = ''), `cfg-${k.flag.slice(2)}`);
    await page.evaluate((v) => (window as unknown as PageApi).charrnn.showKnobs(v), expected as Partial<TrainConfig>);
    assert.deepEqual(await page.evaluate(() => (window as unknown as PageApi).charrnn.readKnobs()), expected, 'every knob shown and read back');
    // a bad box is refused with the CLI's one-line message; an empty one is the default, never 0
    for (const k of KNOBS) await page.evaluate((id) => ((document.getElementById(id) as HTMLInputElement).value = ''), `cfg-${k.flag.slice(2)}`);
    await page.fill('#cfg-lr', 'abc');
    await page.click('#train');
    await page.waitForFunction(() => /error: --lr must be a number \(got "abc"\)/.test(document.getElementById('status')!.textContent ?? ''));
    await page.fill('#cfg-lr', '');
    await page.click('#advanced summary');

    // ---- a file dropped anywhere on the page is the text ----
    await page.evaluate(() => {
      const data = new DataTransfer();
      data.items.add(new File(['the cat sat on the mat.\n'], 'dropped.txt', { type: 'text/plain' }));
      document.querySelector('footer, main')!.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    });
    assert.equal(await page.isChecked('input[name=source][value=file]'), true);
    assert.equal(await page.textContent('#corpus-info'), 'the file dropped: dropped.txt (1 KB)');
    await page.check('input[name=source][value=builtin]');

    // ---- the three choices: Moby Dick, "1 minute" (8 s here), Train ----
    const runs = await page.evaluate(() => Number(document.body.dataset.runs ?? 0));
    await page.click('#train');
    await page.waitForFunction(() => /chosen for 8 s on \d/.test(document.getElementById('plan')!.textContent ?? ''), undefined, { timeout: 60_000 });
    assert.match((await page.textContent('#plan')) ?? '', /^LSTM \d×\d+(, dropout [\d.]+)? chosen for 8 s on 1\.\d M chars/);
    // the sample is written again from the same prime and seed while it trains
    const drawings: string[] = [];
    while (drawings.length < 2) {
      const n = drawings.length;
      await page.waitForFunction((k) => Number(document.body.dataset.live ?? 0) > k, n, { timeout: 60_000 });
      drawings.push((await page.textContent('#live')) ?? '');
    }
    assert.equal(await page.textContent('#live b'), 'CHAPTER ', 'the prime: the text\'s first word');
    for (const d of drawings) assert.ok(d.startsWith('CHAPTER ') && d.length > 100, d);
    assert.match((await page.textContent('#loss-words')) ?? '', /^Loss \d\.\d\d bits per character: .* Random guessing among this text's \d+ characters scores \d\.\d\d \(log2 \d+\); guessing by how often each character occurs scores \d\.\d\d \(the text's unigram entropy\)\.$/);
    await page.waitForFunction((n) => Number(document.body.dataset.runs ?? 0) > n && document.body.dataset.state === 'idle', runs, { timeout: 120_000 });
    const [iters, train, val] = await page.evaluate(() => (window as unknown as PageApi).charrnn.series);
    assert.ok(val.some((v) => v !== null), 'a validation point');
    val.forEach((v, i) => assert.ok(v === null || train[i] === null, `iteration ${iters[i]}: the train curve has no point at an evaluation`));
    assert.ok(train.filter((v) => v !== null).length >= 3, 'a train curve');
    // ---- the writing box: the model's completion greyed after the caret; Tab takes it ----
    await page.click('#write-box');
    let suggestion = '';
    for (const ch of 'Call me Ishmael. The whale') {
      await page.keyboard.type(ch);
      suggestion = await page.waitForFunction(() => document.getElementById('write-box')!.dataset.suggestion || null, undefined, { timeout: 5_000 })
        .then((h) => h.jsonValue() as Promise<string>, () => ''); // a model this young may have no completion yet: type on
      if (suggestion) break;
    }
    assert.ok(suggestion, 'a suggestion appeared');
    assert.equal(await page.textContent('#write-ghost'), suggestion, 'shown greyed after the text');
    const before = await page.inputValue('#write-box');
    await page.locator('.writer').screenshot({ path: join(ARTIFACTS, 'playground-write.png') });
    await page.keyboard.press('Tab');
    assert.equal(await page.inputValue('#write-box'), before + suggestion, 'Tab inserted the suggestion');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'write-box', 'and the caret stayed in the box');

    // ---- Use it: the JS module samples in Node; ONNX is a file of the weights ----
    const dir = mkdtempSync(join(tmpdir(), 'charrnn-flow-'));
    try {
      const [js] = await Promise.all([page.waitForEvent('download'), page.click('#export-js')]);
      assert.equal(js.suggestedFilename(), 'charrnn-model.js');
      await js.saveAs(join(dir, 'charrnn-model.js'));
      const snippet = (await page.textContent('#snippet')) ?? '';
      assert.equal(snippet.split('\n').length, 10, 'ten lines');
      assert.match(snippet, /import \{ generate, stream, info \} from '\.\/charrnn-model\.js';/);
      const mod = (await import(pathToFileURL(join(dir, 'charrnn-model.js')).href)) as { generate(o: object): string };
      const text = mod.generate({ prime: 'CHAPTER ', length: 40, temperature: 0.8, seed: 1 });
      assert.ok(typeof text === 'string' && text.length > 0 && text.length <= 40, text);
      const [onnx] = await Promise.all([page.waitForEvent('download'), page.click('#export-onnx')]);
      assert.equal(onnx.suggestedFilename(), 'charrnn-model.onnx');
      await onnx.saveAs(join(dir, 'model.onnx'));
      assert.ok(statSync(join(dir, 'model.onnx')).size > 4 * 100_000, 'the weights are in it');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    await page.click('#advanced summary'); // open: its boxes are laid out and checked too
    await checkLayout(t, page, 1400, 'playground-1400.png');
    await checkLayout(t, page, 390, 'playground-390.png');

    // ---- the built-in names: a lines model, its samples a list marked by novelty ----
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.click('#reset');
    await page.check('input[name=source][value=names]');
    await page.check('input[name=duration][value="1"]');
    const runs2 = await page.evaluate(() => Number(document.body.dataset.runs ?? 0));
    const live2 = await page.evaluate(() => Number(document.body.dataset.live ?? 0));
    await page.click('#train');
    await page.waitForFunction((n) => Number(document.body.dataset.live ?? 0) > n, live2, { timeout: 60_000 });
    await page.waitForFunction((n) => Number(document.body.dataset.runs ?? 0) > n && document.body.dataset.state === 'idle', runs2, { timeout: 120_000 });
    assert.match((await page.textContent('#plan')) ?? '', /chosen for 8 s on \d+ K chars/);
    const items = await page.locator('#live-items li').allTextContents();
    assert.equal(items.length, LINES_COUNT, 'a lines model\'s count of items');
    for (const it of items) assert.match(it, / (new|in the text|held out)$/);
    await checkLayout(t, page, 390, 'playground-names-390.png');
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    server.close();
  }
});
