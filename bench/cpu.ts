/**
 * The CPU a figure was taken on, in words: lscpu's "Model name" with its family and model (two
 * machines of this workplace both call themselves "AMD EPYC" or "Intel Xeon"; the family/model
 * tells them apart), the cores this process may use, and AVX-512 when the CPU has it. Read from
 * /proc/cpuinfo (what lscpu reads); elsewhere, Node's model string.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';

export interface CpuInfo {
  name: string;
  family: number | null;
  model: number | null;
  cores: number;
  avx512: boolean;
  /** "AMD EPYC (family 26 model 2), 2 cores, AVX-512" */
  describe: string;
}

export function cpuInfo(): CpuInfo {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: Node's model string only
  }
  const field = (key: string): string | undefined => new RegExp(`^${key}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
  const name = field('model name') ?? cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const num = (s: string | undefined): number | null => (s !== undefined && /^\d+$/.test(s) ? Number(s) : null);
  const family = num(field('cpu family'));
  const model = num(field('model'));
  const cores = availableParallelism();
  const avx512 = /\bavx512f\b/.test(field('flags') ?? '');
  const fm = family !== null && model !== null ? ` (family ${family} model ${model})` : '';
  return { name, family, model, cores, avx512, describe: `${name}${fm}, ${cores} core${cores === 1 ? '' : 's'}${avx512 ? ', AVX-512' : ''}` };
}
