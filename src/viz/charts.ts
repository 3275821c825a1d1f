/**
 * The run report's charts as plain data, drawn by uPlot in the HTML report and by hand as SVG
 * for the static images: one description, two renderers.
 */
import type { Metrics } from '../train.js';

export interface ChartSeries {
  label: string;
  color: string;
}

export interface ChartSpec {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** Columns: data[0] the x values, data[1 + s] series s (null = no value there). */
  data: (number | null)[][];
  /** Plot y on a log scale (for values spanning decades, like the gradient norm). */
  logY?: boolean;
}

const TRAIN = '#1f77b4';
const VAL = '#d62728';

/** Charts of metrics.jsonl: bits/char over iterations and over seconds, lr, gradient norm, throughput. */
export function trainingCharts(metrics: Metrics[]): ChartSpec[] {
  const col = <K extends keyof Metrics>(k: K): number[] => metrics.map((m) => m[k] as number);
  const bpc: ChartSeries[] = [{ label: 'train', color: TRAIN }, { label: 'validation', color: VAL }];
  const iters = col('iter');
  return [
    { id: 'bpc-iter', title: 'Loss (bits/char) over iterations', xLabel: 'iteration', yLabel: 'bits/char', series: bpc, data: [iters, col('train_bpc'), col('val_bpc')] },
    { id: 'bpc-time', title: 'Loss (bits/char) over time', xLabel: 'seconds', yLabel: 'bits/char', series: bpc, data: [col('seconds'), col('train_bpc'), col('val_bpc')] },
    { id: 'lr', title: 'Learning rate', xLabel: 'iteration', yLabel: 'learning rate', series: [{ label: 'lr', color: '#2ca02c' }], data: [iters, col('lr')] },
    { id: 'grad', title: 'Gradient norm', xLabel: 'iteration', yLabel: 'norm', series: [{ label: 'grad norm', color: '#9467bd' }], data: [iters, col('grad_norm')] },
    { id: 'speed', title: 'Throughput', xLabel: 'iteration', yLabel: 'chars/s', series: [{ label: 'chars/s', color: '#ff7f0e' }], data: [iters, col('chars_per_s')] },
  ];
}
