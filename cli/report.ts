/**
 * `charrnn report RUN_DIR`: RUN_DIR/report.html from metrics.jsonl, samples.jsonl and the
 * configuration in latest.safetensors; with --svg / --png also the loss curve as an image.
 * `charrnn train --report` calls writeReport at every evaluation.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { countParams } from '../src/model/model.js';
import type { Metrics } from '../src/train.js';
import { trainingCharts } from '../src/viz/charts.js';
import { reportHtml } from '../src/viz/html.js';
import { lineChartSvg } from '../src/viz/svg.js';
import { writeFileAtomic } from './atomic.js';
import { fsErrorReason } from './fs-errors.js';
import { CliError, type Proc } from './io.js';
import { chartAssets, svgToPng } from './viz-assets.js';

export interface ReportOptions {
  /** Reload the page this often (while training). */
  refreshSeconds?: number;
  svg?: boolean;
  png?: boolean;
}

/** JSON lines of a file; a missing file is [], a torn last line (a run still writing) is skipped. */
async function readJsonl<T>(path: string, required: boolean): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CliError(`cannot read ${path}: ${fsErrorReason(e, 'read')}${required ? ' (is this a run directory written by charrnn train?)' : ''}`);
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // an unfinished line of a file being appended to
    }
  }
  return out;
}

async function runConfig(dir: string): Promise<Record<string, unknown> | null> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(join(dir, 'latest.safetensors'));
  } catch {
    return null;
  }
  try {
    const data = decodeCheckpoint(bytes);
    return { ...data.config, vocabulary: `${data.vocab.size} symbols`, parameters: countParams(data.model).toLocaleString('en-US') };
  } catch {
    return null; // a report is still useful without the configuration
  }
}

/** Write the report (and images); returns the paths written. */
export async function writeReport(dir: string, opts: ReportOptions = {}): Promise<string[]> {
  const metrics = await readJsonl<Metrics>(join(dir, 'metrics.jsonl'), true);
  const samples = await readJsonl<{ iter: number; text: string }>(join(dir, 'samples.jsonl'), false);
  const html = reportHtml({
    title: dir, metrics, samples, config: await runConfig(dir),
    generatedAt: new Date().toISOString().replace('T', ' ').slice(0, 19) + ' UTC', refreshSeconds: opts.refreshSeconds,
  }, await chartAssets());
  const written = [join(dir, 'report.html')];
  await writeFileAtomic(written[0], html);
  if (opts.svg || opts.png) {
    const svg = lineChartSvg(trainingCharts(metrics)[0]);
    if (opts.svg) {
      written.push(join(dir, 'loss.svg'));
      await writeFileAtomic(written[written.length - 1], svg);
    }
    if (opts.png) {
      written.push(join(dir, 'loss.png'));
      await writeFileAtomic(written[written.length - 1], await svgToPng(svg, 2));
    }
  }
  return written;
}

export async function reportCommand(proc: Proc, dir: string, opts: { svg?: boolean; png?: boolean }): Promise<number> {
  for (const path of await writeReport(dir, opts)) proc.stdout.write(`wrote ${path}\n`);
  return 0;
}
