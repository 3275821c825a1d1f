/** Driving the playground page in the browser tests (playground*.test.ts). */
import type { Page } from 'playwright-core';

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
