/**
 * `charrnn export CKPT --format js|onnx [--out FILE] [--half] [--global NAME]`: the checkpoint as
 * a file that runs without charrnn (src/export/). Writes FILE (default: beside the checkpoint,
 * its name with .js or .onnx) and says what it wrote.
 */
import { readFile } from 'node:fs/promises';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { CharRnnError } from '../src/errors.js';
import { exportJs } from '../src/export/js-module.js';
import { exportOnnx } from '../src/export/onnx.js';
import { writeFileAtomic } from './atomic.js';
import { fsErrorReason } from './fs-errors.js';
import { CliError, type Proc } from './io.js';

export interface ExportOpts {
  format?: string;
  out?: string;
  half?: boolean;
  global?: string;
}

export async function exportCommand(proc: Proc, ckpt: string, opts: ExportOpts): Promise<number> {
  const format = opts.format;
  if (format !== 'js' && format !== 'onnx') throw new CliError(`--format must be js or onnx (got ${JSON.stringify(format ?? null)})`, 2);
  if (format === 'onnx' && (opts.half || opts.global !== undefined)) throw new CliError('--half and --global are for --format js; an ONNX model keeps float32 weights', 2);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(ckpt);
  } catch (e) {
    throw new CliError(`cannot read checkpoint ${ckpt}: ${fsErrorReason(e, 'read')}`);
  }
  let data;
  try {
    data = decodeCheckpoint(bytes);
  } catch (e) {
    if (e instanceof CharRnnError) throw new CliError(`${ckpt}: ${e.message}`);
    throw e;
  }
  const out = opts.out ?? ckpt.replace(/(\.safetensors)?$/, format === 'js' ? '.js' : '.onnx');
  const file = format === 'js' ? exportJs(data, { half: opts.half, global: opts.global }) : exportOnnx(data);
  try {
    await writeFileAtomic(out, file);
  } catch (e) {
    throw new CliError(`cannot write ${out}: ${fsErrorReason(e, 'write')}`);
  }
  const size = typeof file === 'string' ? new TextEncoder().encode(file).length : file.length;
  proc.stdout.write(`wrote ${out} (${(size / 1024).toFixed(1)} KiB)\n`);
  return 0;
}
