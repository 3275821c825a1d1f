/**
 * What the pure renderers of src/viz need from Node: uPlot's browser build and stylesheet (read
 * from node_modules, then inlined into the pages, so they open from disk with no network), and
 * SVG → PNG rasterisation by resvg (a Rust renderer shipped prebuilt in its npm package).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ChartAssets } from '../src/viz/html.js';

export async function chartAssets(): Promise<ChartAssets> {
  const require = createRequire(import.meta.url);
  const dist = join(dirname(require.resolve('uplot/package.json')), 'dist');
  const [uplotJs, uplotCss] = await Promise.all([readFile(join(dist, 'uPlot.iife.min.js'), 'utf8'), readFile(join(dist, 'uPlot.min.css'), 'utf8')]);
  return { uplotJs, uplotCss };
}

/** Rasterise an SVG at its own size (times `zoom`), with the system's fonts. */
export async function svgToPng(svg: string, zoom = 1): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  const r = new Resvg(svg, {
    fitTo: zoom === 1 ? { mode: 'original' } : { mode: 'zoom', value: zoom },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return r.render().asPng();
}
