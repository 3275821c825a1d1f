/**
 * The renderers without a browser: the pages are self-contained and escape what they embed, the
 * SVG images have what they should, the TTY sparkline draws, and the inspect/report/sweep
 * commands fail with one-line messages on bad input.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vocabulary } from '../src/vocab.js';
import { readText } from '../src/viz/inspect.js';
import { inspectHtml, reportHtml } from '../src/viz/html.js';
import { trainingCharts } from '../src/viz/charts.js';
import { heatmapSvg, lineChartSvg } from '../src/viz/svg.js';
import { colorOf } from '../src/viz/colors.js';
import { ProgressRenderer, sparkline } from '../cli/render.js';
import type { Metrics } from '../src/train.js';
import { main } from '../cli/main.js';
import { tinyModel } from './helpers.js';

const metric = (iter: number, bpc: number): Metrics => ({
  iter, epoch: iter / 100, seconds: iter / 10, train_loss: bpc * Math.LN2, train_bpc: bpc, val_loss: bpc * Math.LN2 + 0.1,
  val_bpc: bpc + 0.1 / Math.LN2, val_chars: 1000, chars_per_s: 1000, lr: 0.002, grad_norm: 1.5,
});

test('report page: inlined assets, no external references, embedded text cannot close its script', () => {
  const html = reportHtml({
    title: 'run <1>', metrics: [metric(10, 4), metric(20, 3)], config: { model: 'lstm' },
    samples: [{ iter: 10, text: 'a </script><script>alert(1)</script> b' }], generatedAt: 'now', refreshSeconds: 15,
  }, { uplotJs: '/*UPLOT-JS*/', uplotCss: '/*UPLOT-CSS*/' });
  assert.ok(html.includes('/*UPLOT-JS*/') && html.includes('/*UPLOT-CSS*/'));
  assert.ok(!/<script[^>]+src=|<link[^>]+href=|https?:\/\//.test(html), 'nothing is fetched');
  assert.equal(html.match(/<\/script>/g)!.length, 3, 'only the page\'s own three scripts close');
  assert.match(html, /run &lt;1&gt;/);
  assert.match(html, /http-equiv="refresh" content="15"/);
  const specs = trainingCharts([metric(10, 4), metric(20, 3)]);
  assert.deepEqual(specs.map((s) => s.series.length), [2, 2, 1, 1, 1]);
  assert.deepEqual(specs[0].data, [[10, 20], [4, 3], [4 + 0.1 / Math.LN2, 3 + 0.1 / Math.LN2]]);
});

const vocab = new Vocabulary([...'ab "<>\n'].map((c) => c.codePointAt(0)!));

test('inspect page and heatmap SVG: one column per character, escaped, every gate selectable', () => {
  const model = tinyModel('lstm', { vocabSize: vocab.size, hidden: 4, layers: 2 }, 'float32');
  const text = 'a "<b>" ab\nba';
  const reading = readText(model, vocab, text, { topK: 3 });
  const html = inspectHtml({ title: 't', modelLabel: 'LSTM 2×4', reading, units: [{ layer: 1, kind: 'c', unit: 2 }], found: { regex: '"[^"]*"', units: [{ layer: 0, kind: 'h', unit: 1, r: 0.5 }] } });
  assert.equal(html.match(/class="col"/g)!.length, [...text].length);
  assert.ok(!html.includes('<b>'), 'text is escaped');
  assert.equal(html.match(/<option /g)!.length, 2 * 6, 'h, c, i, f, g, o per layer');
  assert.match(html, /layer 1 cell state unit 2/);
  assert.match(html, /layer 0 hidden state unit 1 \(r = 0\.500\)/);
  const svg = heatmapSvg(reading, reading.tracks[0]);
  assert.equal(svg.match(/<rect /g)!.length, 1 + 4 * [...text].length);
  assert.ok(svg.includes('&lt;'));
  const line = lineChartSvg(trainingCharts([metric(10, 4), metric(20, 3), metric(30, 2.5)])[0]);
  assert.equal(line.match(/<polyline /g)!.length, 2);
  assert.equal(colorOf('signed', 0), '#ffffff');
  assert.equal(colorOf('gate', 2), colorOf('gate', 1), 'clamped');
});

test('sparkline: bars from low to high; the progress line shows it on a TTY only', () => {
  assert.equal(sparkline([1, 2, 3, 4, 5, 6, 7, 8]), '▁▂▃▄▅▆▇█');
  assert.equal(sparkline([5]), '');
  assert.equal(sparkline([3, 3, 3]), '▁▁▁');
  assert.equal([...sparkline(Array.from({ length: 100 }, (_, i) => -i), 10)].length, 10);
  let clock = 0;
  const step = (iter: number) => ({ type: 'step' as const, iter, epoch: 0, loss: 4 - iter / 10, smoothLoss: 4 - iter / 10, gradNorm: 1, lr: 1e-3, seconds: 1, charsPerSec: 100, etaSeconds: null });
  for (const isTTY of [true, false]) {
    let out = '';
    const r = new ProgressRenderer({ write: (s: string) => (out += s), isTTY, columns: 200 }, () => (clock += 11));
    for (let i = 0; i < 10; i++) r.event(step(i));
    assert.equal(/[▁█]/.test(out), isTTY);
  }
});

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main({ argv: ['node', 'charrnn', ...argv], env: {}, stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

test('inspect, report and the temperature sweep refuse bad input in one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-viz-'));
  try {
    const data = join(dir, 'd.txt');
    writeFileSync(data, 'ab "ab" ba "b" a\n'.repeat(40));
    const t = await run('train', '--data', data, '--out', join(dir, 'run'), '--quiet', '--backend', 'js', '--hidden', '8', '--layers', '1', '--batch', '4', '--seq-len', '8', '--max-iters', '4', '--eval-every', '2');
    assert.equal(t.code, 0, t.err);
    const ckpt = join(dir, 'run', 'best.safetensors');
    const cases: [string[], RegExp][] = [
      [['inspect', ckpt], /either --text/],
      [['inspect', ckpt, '--text', 'xyz'], /"x", "y", "z" are not in the model's vocabulary/],
      [['inspect', ckpt, '--text', 'ab', '--find', '('], /--find: not a regular expression/],
      [['inspect', ckpt, '--text', 'ab ba', '--find', '"'], /matches nothing/],
      [['inspect', ckpt, '--text', 'ab', '--units', '0:q:1'], /--units: "0:q:1" is not a unit/],
      [['inspect', ckpt, '--text', 'ab', '--units', '99'], /no layer 0 hidden state unit 99/],
      [['report', join(dir, 'nope')], /cannot read .*metrics\.jsonl: no such file/],
      [['sample', ckpt, '--temperatures', '1,x'], /--temperatures must be a number/],
    ];
    for (const [argv, re] of cases) {
      const r = await run(...argv);
      assert.notEqual(r.code, 0, argv.join(' '));
      assert.match(r.err, re);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
    }
    const s = await run('sample', ckpt, '--temperatures', '0,1', '--length', '40', '--seed', '1', '--backend', 'js');
    assert.equal(s.code, 0, s.err);
    assert.equal(s.out.match(/^--- temperature .*avg log-prob -\d+\.\d+ nats\/char .*(% of \d+ words in d|no words) ---$/gm)?.length ?? s.out, 2);
    assert.match(s.out, /% of \d+ words in d ---/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
