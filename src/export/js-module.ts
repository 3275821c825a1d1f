/**
 * `charrnn export --format js`: the model as one JavaScript file with no imports, the weights
 * inside (pack.ts), the runtime (runtime.ts) written out from its own source text. Two forms:
 *   module (default)  an ES module exporting info, generate, stream, createState (and a default
 *                     of all four): Node, a bundler, a <script type="module"> on any static host;
 *   global NAME       a classic script that sets globalThis.NAME to the same object: a page opened
 *                     from disk (file://), where browsers refuse module imports.
 * No I/O: a string out, for the CLI to write or the page to offer as a download.
 */
import { CharRnnError } from '../errors.js';
import { countParams } from '../model/model.js';
import { packWeights } from './pack.js';
import { charrnnRuntime, type RuntimeMeta } from './runtime.js';
import { describeModel, internalParams, trainingFigures, type ExportSource } from './source.js';

export interface JsExportOptions {
  /** Weights as float16 (about half the size; sampling then uses the rounded weights). */
  half?: boolean;
  /** A classic script setting globalThis[global] instead of an ES module. */
  global?: string;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The exported file's text. */
export function exportJs(src: ExportSource, opts: JsExportOptions = {}): string {
  const half = opts.half ?? false;
  if (opts.global !== undefined && !IDENTIFIER.test(opts.global)) {
    throw new CharRnnError('bad-flag', `--global must be a JavaScript name such as charrnnModel (got ${JSON.stringify(opts.global)})`);
  }
  const { meta, data } = runtimeInput(src, half);
  const make = `(${runtimeSource()})(${JSON.stringify(meta)}, "${data}")`;
  const body = opts.global === undefined
    ? `const model = ${make};\nexport const { info, generate, stream, createState } = model;\nexport default model;\n`
    : `globalThis.${opts.global} = ${make};\n`;
  return header(src, meta.count, half, opts.global) + body;
}

/** What the exported file hands charrnnRuntime: the model's description and its packed weights. */
export function runtimeInput(src: ExportSource, half: boolean): { meta: RuntimeMeta; data: string } {
  const m = src.model;
  const count = countParams(m);
  const packed = packWeights(internalParams(src), half);
  const info = { cell: m.type, layers: m.layers, hidden: m.hidden, embed: m.embed, params: count, lines: m.lines ?? false, weights: half ? 'float16' : 'float32', ...trainingFigures(src) };
  const meta: RuntimeMeta = { type: m.type, vocab: [...src.vocab.symbols], hidden: m.hidden, layers: m.layers, embed: m.embed, lines: m.lines ?? false, half, count, codes: packed.codes, info };
  return { meta, data: packed.text };
}

/**
 * The runtime's source text as the build left it, its indentation halved (tsc indents by four
 * spaces): every byte of it counts against the size rule. Only where no template literal spans
 * lines (every line holds an even number of backquotes), so that no leading space of a value is
 * touched; a minifier that turns '\n' into a template literal with a real newline (Vite's) makes
 * lines that fail this, and its output has little indentation to save anyway.
 */
function runtimeSource(): string {
  const src = charrnnRuntime.toString();
  const spans = src.split('\n').some((line) => (line.match(/`/g)?.length ?? 0) % 2 === 1);
  return spans ? src : src.replace(/^( +)/gm, (s) => s.slice(s.length >> 1));
}

/** The comment at the top: what the model is, its vocabulary and figures, and how to use the file. */
function header(src: ExportSource, count: number, half: boolean, global: string | undefined): string {
  const f = trainingFigures(src);
  const loss = (x: number | null): string => (x === null ? 'none' : `${x.toFixed(4)} nats/char (${(x / Math.LN2).toFixed(4)} bits/char)`);
  const training = f.iterations === null ? 'no training figures in this checkpoint' : `${f.iterations} iterations; validation loss: best ${loss(f.bestValLoss)}, last ${loss(f.lastValLoss)}`;
  const chars = src.vocab.symbols.map((cp) => String.fromCodePoint(cp)).join('');
  const use = global === undefined
    ? [" *   import { generate, stream, createState, info } from './model.js';", " *   console.log(generate({ prime: 'The ', length: 200, temperature: 0.8, seed: 1 }));"]
    : [` *   <script src="model.js"></script>  (then, in a later script:)`, ` *   <script>document.body.textContent = ${global}.generate({ length: 200, seed: 1 });</script>`];
  const lines = [
    '/*',
    ' * A charrnn character-level language model, exported with `charrnn export --format js`',
    ` * (${global === undefined ? 'an ES module' : `a classic script defining globalThis.${global}`}; no imports, no dependencies).`,
    ` * model: ${describeModel(src.model, count)}${src.model.lines ? '; trained on items, one per line' : ''}`,
    ` * weights: ${half ? 'float16 (rounded from the float32 checkpoint)' : 'float32'}, packed in the string below`,
    ` * vocabulary: ${src.vocab.size} characters: ${JSON.stringify(chars).replace(/\*\//g, '*\\/')}`,
    ` * training: ${training}`,
    ' *',
    ...use,
    ' * generate(opts) → the sample (the characters after the prime); stream(opts) → an async iterator of',
    ' * those characters; opts: prime, length (500), temperature (1; 0 = most likely), topK (0 = all),',
    ' * topP (1 = all), seed (default random), stop (text or list: end right after it), skipUnknown.',
    ' * With the same seed it is what `charrnn sample --backend js` prints after the prime.',
    ' * createState() → { reset(), feed(char) → next-character probabilities (index i is info.vocab[i]), logits }.',
    ' */',
  ];
  return lines.join('\n') + '\n';
}
