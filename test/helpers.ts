/** Small shared pieces of the tests: tiny models and random data. */
import { JsBackend } from '../src/backend/js.js';
import type { Backend, DType } from '../src/backend/types.js';
import { generate, type GenerateRequest } from '../src/generate.js';
import { CharRNN, type ModelConfig, type Workspace } from '../src/model/model.js';
import type { CellType } from '../src/model/layer.js';
import { Rng } from '../src/rng.js';
import { findTorch } from '../cli/torch-engine.js';

export const CELLS: CellType[] = ['rnn', 'lstm', 'gru'];

/** The text of generate()'s one sample for `req` (count 1). */
export async function textOf(on: Parameters<typeof generate>[0], req: GenerateRequest): Promise<string> {
  return (await generate(on, req)).samples[0].text;
}

export function tinyModel(type: CellType, opts: Partial<ModelConfig> = {}, dtype: DType = 'float64', backend: Backend = new JsBackend(), seed = 7): CharRNN {
  const config: ModelConfig = { type, vocabSize: 5, hidden: 4, layers: 1, embed: 0, dropout: 0, ...opts };
  const model = new CharRNN(config, backend, dtype);
  model.init(new Rng(seed));
  return model;
}

export function randomIds(rng: Rng, n: number, V: number): number[] {
  return Array.from({ length: n }, () => Math.floor(rng.next() * V));
}

/** n pseudo-random words of a 16-word vocabulary, 12 to a sentence: a small corpus a tiny model learns quickly. */
export function words(n: number, seed: number): string {
  const vocab = 'the quick brown fox jumps over a lazy dog and cat sat on mat while birds sing'.split(' ');
  let x = seed;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push(vocab[(x >>> 16) % vocab.length]);
    if (i % 12 === 11) out.push('.\n');
  }
  return out.join(' ');
}

/**
 * model.forward on a host-memory backend (js, wasm), where ws.lossSum can be read at once: the
 * window's summed loss (nats), from a zeroed ws.lossSum, and the number of predictions.
 */
export function forwardLoss(model: CharRNN, ws: Workspace, opts: { train: boolean; rng?: Rng } = { train: false }): { loss: number; count: number } {
  model.backend.fill(1, ws.lossSum, 0);
  const count = model.forward(ws, opts);
  return { loss: ws.lossSum[0], count };
}

/**
 * The Python with torch and numpy that the torch engine's tests run (Debian's python3-torch), or
 * null: those tests then skip. Under CI=true, which installs it, its absence is a failure.
 */
export function torchPython(): string | null {
  try {
    return findTorch().python;
  } catch (e) {
    if (process.env.CI) throw e;
    return null;
  }
}

/** The skip reason of a torch test when torchPython() found none. */
export const NO_TORCH = 'Python with torch and numpy not found (apt-get install python3-torch python3-numpy)';
