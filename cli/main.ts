/**
 * `charrnn` command line: train, sample, eval. main() takes the process (or a fake one in tests)
 * and returns the exit code: 0 ok, 1 failed, 2 bad usage, 130 interrupted.
 *
 * Flags are parsed by commander (a small, well-kept parser with subcommands and generated
 * help); every training flag, its help and its default come from the knob table (KNOBS in
 * src/config.ts), a key of TrainConfig in kebab-case.
 */
import { Command, CommanderError } from 'commander';
import { KNOBS, parseNumber, type KnobInfo, type TrainConfig } from '../src/config.js';
import { CharRnnError } from '../src/errors.js';
import { GENERATION_DEFAULTS } from '../src/generate-options.js';
import { CliError, type Proc } from './io.js';
import { trainCommand } from './train.js';
import { parseEngineSettings } from './torch-engine.js';
import { BUILTIN_CORPORA } from './corpus.js';
import { sampleCommand } from './sample.js';
import { exportCommand, type ExportOpts } from './export.js';
import { evalCommand } from './eval.js';
import { reportCommand } from './report.js';
import { inspectCommand } from './inspect.js';
import { playgroundCommand } from './playground.js';
import { classifyCommand, type ClassifyOpts } from './classify.js';
import { SERVE_DEFAULTS } from './serve/flags.js';

/** A repeatable flag's values, in order. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** --backend and --threads, as the commands that run a model take them (train: no default, a resumed run keeps its own). */
function engineOptions(cmd: Command, threads?: string, backends = 'auto, native, wasm or js'): Command {
  if (threads === undefined) {
    return cmd
      .option('--backend <name>', 'auto, native, wasm, js or webgpu (default auto: the fastest of those here, timed; a resumed run keeps its own)')
      .option('--threads <n>', 'worker threads; 0 = all cores (default 0; a resumed run keeps its own)');
  }
  return cmd
    .option('--backend <name>', backends, 'auto')
    .option('--threads <n>', 'worker threads; 0 = all cores', threads);
}

/** The TrainConfig values given on the command line (strings parsed by the knob table, nothing defaulted). */
function configFromOptions(opts: Record<string, unknown>): Partial<TrainConfig> {
  const out: Record<string, unknown> = {};
  for (const k of KNOBS) {
    const v = opts[k.key];
    if (v === undefined) continue;
    // a switch is given without a value (--lines); an empty number is an error, not the default
    out[k.key] = k.kind === 'switch' ? Boolean(v) : k.kind === 'number' ? parseNumber(k.flag, String(v)) : v;
  }
  return out as Partial<TrainConfig>;
}

/** `--hidden <n>  hidden units per layer (default 128)`: a knob's option, from the table. */
export function knobOption(k: KnobInfo): { flags: string; description: string } {
  if (k.kind === 'switch') return { flags: k.flag, description: k.help };
  const value = k.key === 'model' ? '<type>' : k.kind === 'choice' ? '<name>' : '<n>';
  return { flags: `${k.flag} ${value}`, description: `${k.help} (default ${k.default})` };
}

export async function main(proc: Proc): Promise<number> {
  let code = 0;
  const program = new Command('charrnn')
    .description('Character-level RNN / LSTM / GRU language models: train on any text, sample, evaluate.')
    .version(await version(), '-V, --version')
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (s) => proc.stdout.write(s),
      writeErr: (s) => proc.stderr.write(s),
      outputError: () => {}, // we print errors ourselves, as one line
    });

  const train = program.command('train').description('train a model (on the built-in Moby Dick unless --data is given)');
  train.option('--data <path...>', 'text file(s) or directories (recursively) to train on, or a built-in corpus by name (see --list-data)');
  train.option('--list-data', 'list the built-in corpora and exit');
  train.option('--out <dir>', 'directory for checkpoints and metrics (default runs/<corpus name>)');
  train.option('--resume <dir>', 'continue the run saved in <dir> (writes to <dir>)');
  train.option('--force', 'overwrite a run already in --out');
  train.option('--quiet', 'print nothing but errors (and the --json line)');
  train.option('--json', 'print one final JSON summary line on stdout');
  train.option('--binary', 'train on bytes: each byte 0–255 is one symbol (for files that are not UTF-8 text)');
  train.option('--report', 'rewrite OUT/report.html at every evaluation (leave it open in a browser)');
  train.option('--engine <name>', 'ours, or torch: the same run on PyTorch (docs/pytorch.md)', 'ours');
  train.option('--device <name>', 'with --engine torch: cpu, cuda or auto');
  train.option('--nproc-per-node <n>', 'with --engine torch: processes (ranks) on this machine (default: the visible GPUs, or 1)');
  train.option('--python <path>', 'with --engine torch: the Python interpreter (default python3, then /usr/bin/python3)');
  train.option('--prepare-only', 'with --engine torch: write the data and config into --out and print the launch command');
  for (const k of KNOBS) {
    const { flags, description } = knobOption(k);
    train.option(flags, description);
  }
  engineOptions(train);
  train.action(async (opts: Record<string, unknown>) => {
    if (opts.listData) {
      for (const [name, c] of Object.entries(BUILTIN_CORPORA)) proc.stdout.write(`${name.padEnd(10)} ${c.title}\n`);
      return;
    }
    code = await trainCommand(proc, {
      data: opts.data as string[] | undefined,
      out: opts.out as string | undefined,
      resume: opts.resume as string | undefined,
      force: Boolean(opts.force),
      quiet: Boolean(opts.quiet),
      json: Boolean(opts.json),
      report: Boolean(opts.report),
      binary: Boolean(opts.binary),
      config: configFromOptions(opts),
      backend: { backend: opts.backend, threads: opts.threads },
      engine: parseEngineSettings(opts),
      engineGiven: train.getOptionValueSource('engine') === 'cli',
    });
  });

  const sample = program.command('sample')
    .description('generate text from a checkpoint')
    .argument('<checkpoint>', 'a .safetensors file written by charrnn train')
    .option('--length <n>', 'characters to generate', String(GENERATION_DEFAULTS.cli.length))
    .option('--temperature <t>', '0 = always the most likely character; 1 = the model as is; higher = wilder', String(GENERATION_DEFAULTS.cli.temperature))
    .option('--top-k <k>', 'draw only among the k most likely characters; 0 = all', '0')
    .option('--top-p <p>', 'draw only among the most likely characters whose probabilities sum to p (0 < p ≤ 1)', '1')
    .option('--prime <text>', 'text to start from')
    .option('--skip-unknown', 'drop prime characters the model does not know instead of failing')
    .option('--seed <n>', 'random seed; the same seed gives the same text (default: random)')
    .option('--temperatures <list>', 'a sample per temperature (e.g. 0.2,0.5,1,1.5) with its average log-probability and the share of its words found in the training corpus')
    .option('--count <n>', 'samples to print (a lines model: items, one per line; default 10 for those)')
    .option('--stop <text>', 'end a sample right after this text (repeat for several; \\n is a newline)', collect, [])
    .option('--unique', 'drop repeated samples')
    .option('--beam <k>', 'beam search of width k (length-normalised) instead of sampling; prints each result\'s log-probability; with --count, the k best distinct ones')
    .option('--novelty', 'mark each sample (item) as in the training split, in validation/test, or new; for free text also the share of novel 5/10/20/50-grams')
    .option('--json', 'print {prime, lines, skipped, samples: [{text, log_prob, stopped, novelty}], novelty} as one JSON line')
    .option('--data <path...>', 'the training corpus, for --temperatures and --novelty (default: the run\'s, from run.json beside the checkpoint)');
  engineOptions(sample, '1', 'auto, native, wasm, js, or webgpu for a plain sample drawn on the GPU') // one stream: a second thread rarely pays
    .action(async (ckpt: string, opts: Record<string, string | boolean | undefined>) => {
      code = await sampleCommand(proc, ckpt, opts);
    });

  const evaluate = program.command('eval')
    .description('loss of a checkpoint on a text, in nats/char, bits/char and perplexity')
    .argument('<checkpoint>', 'a .safetensors file written by charrnn train')
    .requiredOption('--data <path...>', 'text file(s) to evaluate on')
    .option('--json', 'print the result as JSON');
  engineOptions(evaluate, '0')
    .action(async (ckpt: string, opts: Record<string, string | boolean | string[] | undefined>) => {
      code = await evalCommand(proc, ckpt, opts);
    });

  program.command('report')
    .description('write RUN_DIR/report.html: loss curves, learning rate, gradient norm, throughput, config, samples')
    .argument('<run-dir>', 'a directory written by charrnn train')
    .option('--svg', 'also write the loss curve as RUN_DIR/loss.svg')
    .option('--png', 'also write the loss curve as RUN_DIR/loss.png')
    .action(async (dir: string, opts: { svg?: boolean; png?: boolean }) => {
      code = await reportCommand(proc, dir, opts);
    });

  program.command('inspect')
    .description('an HTML page of what the model does over a text: predictions, loss, unit heatmaps, neuron search')
    .argument('<checkpoint>', 'a .safetensors file written by charrnn train')
    .option('--text <text>', 'the text to read')
    .option('--file <path>', 'read the text from a file')
    .option('--out <file>', 'the page to write (default: inspect.html beside the checkpoint)')
    .option('--units <list>', 'units to colour the text by: 12 (top layer\'s hidden state) or layer:kind:unit such as 0:c:87')
    .option('--find <regex>', 'rank units by correlation with "inside a match of REGEX" (^ and $ match at each line), e.g. \'"[^"]*"\'')
    .option('--top-k <k>', 'guesses shown under each character', '5')
    .option('--svg', 'also write heatmaps of the top layer as SVG')
    .option('--png', 'also write heatmaps of the top layer as PNG')
    .action(async (ckpt: string, opts: Record<string, string | boolean | undefined>) => {
      code = await inspectCommand(proc, ckpt, opts);
    });

  const classify = program.command('classify')
    .description('which model (author) explains a text best: bits/char and probability per model')
    .requiredOption('--model <checkpoint...>', 'two or more .safetensors files, one per author (repeat --model or list them)')
    .requiredOption('--data <path...>', 'the text to attribute')
    .option('--json', 'print {"best", "scores": [{"model", "bits_per_char", "probability"}]}');
  engineOptions(classify, '0')
    .action(async (opts: ClassifyOpts) => {
      code = await classifyCommand(proc, opts);
    });

  program.command('playground')
    .description('serve the browser playground on this machine (train, watch and sample in a tab)')
    .option('--port <n>', 'port; 0 = any free port', '8080')
    .option('--host <address>', 'address to listen on (default: this machine only)', '127.0.0.1')
    .action(async (opts: { port: string; host: string }) => {
      code = await playgroundCommand(proc, opts);
    });

  const d = SERVE_DEFAULTS;
  program.command('serve')
    .description('a sampling server: a JSON API, Server-Sent Events, and torch-rnn-server\'s /generate for rnn-writer (docs/serve.md)')
    .argument('<checkpoint...>', '.safetensors files; NAME=PATH names a model (default: the file name without .safetensors)')
    .option('--port <n>', 'port; 0 = any free port', d.port)
    .option('--host <address>', 'address to listen on; 0.0.0.0 = every interface (there is no authentication)', d.host)
    .option('--cors <origin>', 'let pages from this origin (or *) call the server from a browser (default: no CORS headers)')
    .option('--workers <n>', 'sampling workers, each one core; 0 = all cores', d.workers)
    .option('--queue <n>', 'requests that may wait for a worker; past that, 503 with Retry-After', d.queue)
    .option('--max-prime <n>', 'longest prime a request may send, in characters', d.maxPrime)
    .option('--max-length <n>', 'most characters a request may ask for, per sample', d.maxLength)
    .option('--max-count <n>', 'most samples (or beams) per request', d.maxCount)
    .option('--deadline <s>', 'seconds a request may take, waiting included; then it is cancelled (503)', d.deadline)
    .option('--max-body <bytes>', 'largest request body', d.maxBody)
    .option('--request-timeout <s>', 'seconds a client has to send its request', d.requestTimeout)
    .option('--drain <s>', 'on SIGTERM or Ctrl-C, seconds in-flight requests get to finish before they are cancelled', d.drain)
    .option('--backend <name>', 'auto, native, wasm or js (each worker runs one thread)', d.backend)
    .action(async (ckpts: string[], opts: Record<string, string | boolean | undefined>) => {
      const { serveCommand } = await import('./serve.js'); // loaded when used: http, worker threads
      code = await serveCommand(proc, ckpts, opts);
    });

  program.command('write')
    .description('a writing assistant in the terminal: the model suggests the next characters and words as you type; Tab accepts')
    .argument('<checkpoint>', 'a .safetensors file written by charrnn train')
    .option('--top <n>', 'most likely next characters shown', String(GENERATION_DEFAULTS.write.top))
    .option('--suggestions <n>', 'sampled completions to the end of the next word (plus one to the end of the line)', String(GENERATION_DEFAULTS.write.suggestions))
    .option('--temperature <t>', 'temperature of the completions', String(GENERATION_DEFAULTS.write.temperature))
    .option('--seed <n>', 'random seed of the completions (default: random)')
    .option('--backend <name>', 'auto, native, wasm or js', 'auto')
    .action(async (ckpt: string, opts: Record<string, string | boolean | undefined>) => {
      const { writeCommand } = await import('./write.js');
      code = await writeCommand(proc, ckpt, opts);
    });

  program.command('export')
    .description('the model as a file that runs without charrnn: a JavaScript module with the weights inside, or ONNX (docs/export.md)')
    .argument('<checkpoint>', 'a .safetensors file written by charrnn train')
    .requiredOption('--format <name>', 'js: one dependency-free ES module (Node, bundlers, browsers); onnx: for ONNX Runtime in any language')
    .option('--out <file>', 'the file to write (default: the checkpoint\'s name with .js or .onnx)')
    .option('--half', 'js: float16 weights, about half the size (samples then differ slightly from the float32 model\'s)')
    .option('--global <name>', 'js: a classic script that sets window.NAME instead of a module, for pages opened from disk (file://)')
    .action(async (ckpt: string, opts: ExportOpts) => {
      code = await exportCommand(proc, ckpt, opts);
    });

  try {
    if (proc.argv.length <= 2) {
      // no command: commander would print the help on stderr and throw "(outputHelp)"
      proc.stdout.write(program.helpInformation());
      return 0;
    }
    await program.parseAsync(proc.argv.slice(2), { from: 'user' });
    return code;
  } catch (e) {
    return reportError(proc, e);
  }
}

/** One line on stderr, no stack trace, and the exit code. Unexpected errors say so. */
export function reportError(proc: Proc, e: unknown): number {
  if (e instanceof CommanderError) {
    if (e.exitCode === 0) return 0; // --help, --version
    proc.stderr.write(`charrnn: ${e.message.replace(/^error: /, '')} (see --help)\n`);
    return 2;
  }
  if (e instanceof CliError) {
    proc.stderr.write(`charrnn: ${e.message}\n`);
    return e.exitCode;
  }
  if (e instanceof CharRnnError) {
    proc.stderr.write(`charrnn: ${e.message}\n`);
    return e.code === 'bad-flag' ? 2 : 1;
  }
  const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
  proc.stderr.write(`charrnn: internal error: ${msg} (this is a bug; set CHARRNN_DEBUG=1 for details)\n`);
  if (proc.env.CHARRNN_DEBUG) proc.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
  return 1;
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
