/** Driving the playground page in the browser tests (playground*.test.ts). */
import type { BrowserContext, Page } from 'playwright-core';

/** Click Train and wait until that run has finished (a short run may be over before we look). */
export async function trainToEnd(p: Page, timeout = 90_000): Promise<void> {
  const runs = await p.evaluate(() => Number(document.body.dataset.runs ?? 0));
  await p.click('#train');
  await p.waitForFunction((n) => Number(document.body.dataset.runs ?? 0) > n && document.body.dataset.state === 'idle', runs, { timeout });
}

/** The validation points of the loss chart (bits/char). */
export function validationCurve(p: Page): Promise<number[]> {
  return p.evaluate(() => (window as unknown as { charrnn: { series: (number | null)[][] } }).charrnn.series[2].filter((v) => v !== null) as number[]);
}

/**
 * What is wrong with the page's layout as it is laid out now: horizontal scroll (the document
 * wider than the window), and pairs of visible elements (controls, headings, paragraphs, list
 * items, code blocks) whose boxes overlap though neither holds the other. Each overlap is named
 * by its two elements ("button#train / p#plan").
 */
export function layoutProblems(p: Page): Promise<{ scroll: number; overlaps: string[] }> {
  return p.evaluate(() => {
    const name = (e: Element): string => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : ''}`;
    const els = Array.from(document.querySelectorAll('button, input, select, textarea, summary, h1, h2, h3, legend, p, pre, li, canvas, iframe')).filter((e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden';
    });
    const boxes = els.map((e) => ({ e, r: e.getBoundingClientRect() }));
    const overlaps: string[] = [];
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i];
        const b = boxes[j];
        if (a.e.contains(b.e) || b.e.contains(a.e)) continue;
        const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
        const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
        if (w > 1 && h > 1) overlaps.push(`${name(a.e)} / ${name(b.e)}`); // a pixel of shared border is not an overlap
      }
    }
    return { scroll: document.documentElement.scrollWidth - document.documentElement.clientWidth, overlaps };
  });
}

/** axe-core's violations on the page (injected from node_modules), counted by impact, with their rule ids. */
export async function axeViolations(p: Page): Promise<{ counts: Record<string, number>; rules: string[] }> {
  const { createRequire } = await import('node:module');
  await p.addScriptTag({ path: createRequire(import.meta.url).resolve('axe-core/axe.min.js') });
  return p.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document): Promise<{ violations: Array<{ id: string; impact: string | null; nodes: unknown[] }> }> } }).axe;
    const { violations } = await axe.run(document);
    const counts: Record<string, number> = { minor: 0, moderate: 0, serious: 0, critical: 0 };
    for (const v of violations) counts[v.impact ?? 'minor'] += 1;
    return { counts, rules: violations.map((v) => `${v.impact}: ${v.id} (${v.nodes.length})`) };
  });
}

/** A page of the playground at `url`, once its engine is ready; its console errors and exceptions go to `errors`. */
export async function openPage(context: BrowserContext, url: string, errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.engine !== undefined, undefined, { timeout: 60_000 });
  return page;
}
