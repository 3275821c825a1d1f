/**
 * TEMPORARY stand-in for src/generate.ts (being written on the `lines` branch): the same
 * signatures, on the existing Sampler, sampling only (no beam, no stop, no unique). Deleted
 * once src/generate.ts lands.
 */
import { checkSampleOptions, Sampler } from '../../src/sample.js';
import type { CharRNN } from '../../src/model/model.js';
import type { Vocabulary } from '../../src/vocab.js';
import { Rng } from '../../src/rng.js';

export interface GenerateRequest { prime?: string; length: number; temperature?: number; topK?: number; topP?: number;
  beam?: number; stop?: string[]; count?: number; unique?: boolean; seed?: number; skipUnknown?: boolean; lines?: boolean }
export interface Generated { text: string; logProb: number; stopped: string | null }

export function checkGenerateRequest(req: GenerateRequest): void {
  checkSampleOptions(req);
}

export function generate(model: CharRNN, vocab: Vocabulary, req: GenerateRequest, signal?: { aborted: boolean }): { samples: Generated[]; skipped: string[] } {
  const sampler = new Sampler(model, vocab);
  const { skipped } = sampler.primeIds(req.prime ?? '', req.skipUnknown ?? false);
  const rng = new Rng(req.seed ?? 0);
  const samples: Generated[] = [];
  for (let k = 0; k < (req.count ?? 1); k++) {
    let text = '';
    let logProb = 0;
    for (const s of sampler.steps({ ...req, rng })) {
      if (signal?.aborted) break;
      text += s.char;
      logProb += s.logProb;
    }
    samples.push({ text, logProb, stopped: null });
  }
  return { samples, skipped };
}

export function* generateStream(model: CharRNN, vocab: Vocabulary, req: GenerateRequest): Generator<string, Generated, undefined> {
  const sampler = new Sampler(model, vocab);
  const rng = new Rng(req.seed ?? 0);
  let text = '';
  let logProb = 0;
  for (const s of sampler.steps({ ...req, rng })) {
    text += s.char;
    logProb += s.logProb;
    yield s.char;
  }
  return { text, logProb, stopped: null };
}
