/**
 * `charrnn sample CKPT --temperatures 0.2,0.5,1`: one sample per temperature, each with its
 * average log-probability under the model and the share of its words found in the training
 * corpus (low = the model makes up words; 100% = it only reuses them).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { temperatureSweep, wordsOf } from '../src/viz/inspect.js';
import type { Backend } from '../src/backend/types.js';
import { loadCheckpointFile } from './checkpoint.js';
import type { TextPart } from '../src/data.js';
import { readCorpus } from './corpus.js';
import { CliError, parseNumber, type Proc } from './io.js';
import { readRunInfo } from './train.js';

type Opts = Record<string, string | boolean | string[] | undefined>;

/** The training corpus: --data, else the run's data as recorded in run.json beside the checkpoint. */
export async function trainingText(ckpt: string, data: string[] | undefined): Promise<{ parts: TextPart[]; from: string } | null> {
  let paths = data;
  if (!paths) {
    const dir = dirname(ckpt);
    if (!existsSync(join(dir, 'run.json'))) return null;
    paths = (await readRunInfo(dir)).data ?? undefined; // null: the built-in corpus
  }
  const { parts, label } = await readCorpus(paths);
  return { parts, from: label };
}

async function corpusWords(ckpt: string, data: string[] | undefined): Promise<{ words: Set<string>; from: string } | null> {
  const text = await trainingText(ckpt, data);
  if (!text) return null;
  const { parts, from: label } = text;
  const words = new Set<string>();
  for (const p of parts) for (const w of wordsOf(new TextDecoder().decode(p.bytes))) words.add(w);
  return { words, from: label };
}

/** The sweep on `common.backend`, which the caller made (and disposes). */
export async function temperatureSweepCommand(proc: Proc, ckpt: string, opts: Opts & { temperatures: string }, common: { length: number; seed: number | undefined; backend: Backend }): Promise<number> {
  const temperatures = opts.temperatures.split(',').map((s) => parseNumber('--temperatures', s));
  if (temperatures.length === 0 || temperatures.some((t) => t < 0)) throw new CliError(`--temperatures must be a list of numbers ≥ 0, such as 0.2,0.5,1 (got ${opts.temperatures})`, 2);
  const data = Array.isArray(opts.data) ? opts.data : typeof opts.data === 'string' ? [opts.data] : undefined;
  const corpus = await corpusWords(ckpt, data);
  if (!corpus) proc.stderr.write(`charrnn: note: novelty unavailable: no run.json beside ${ckpt}; give the training text with --data\n`);
  const { data: ck, model } = await loadCheckpointFile(ckpt, common.backend);
  const prime = typeof opts.prime === 'string' ? opts.prime : '';
  const rows = await temperatureSweep(model, ck.vocab, temperatures, { length: common.length, seed: common.seed, prime, corpusWords: corpus?.words });
  for (const r of rows) {
    const novelty = r.inCorpus === null ? (corpus ? 'no words' : 'novelty unavailable') : `${(r.inCorpus * 100).toFixed(0)}% of ${r.words} words in ${corpus!.from}`;
    proc.stdout.write(`--- temperature ${r.temperature}: avg log-prob ${r.avgLogProb.toFixed(3)} nats/char (${(-r.avgLogProb / Math.LN2).toFixed(2)} bits), ${novelty} ---\n${prime}${r.text}\n`);
  }
  return 0;
}
