/** Loading a checkpoint file for sample/eval, with file errors turned into one-line messages. */
import { readFile } from 'node:fs/promises';
import { decodeCheckpoint, modelFromCheckpoint, type CheckpointData } from '../src/checkpoint.js';
import type { Backend } from '../src/backend/types.js';
import type { CharRNN } from '../src/model/model.js';
import { CharRnnError } from '../src/errors.js';
import { fsErrorReason } from './fs-errors.js';
import { CliError } from './io.js';

export async function loadCheckpointFile(path: string, backend: Backend): Promise<{ data: CheckpointData; model: CharRNN }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new CliError(`cannot read checkpoint ${path}: ${fsErrorReason(e, 'read')}`);
  }
  try {
    const data = decodeCheckpoint(bytes);
    return { data, model: modelFromCheckpoint(data, backend) };
  } catch (e) {
    if (e instanceof CharRnnError) throw new CliError(`${path}: ${e.message}`);
    throw e;
  }
}
