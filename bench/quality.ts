/**
 * `npm run bench:quality`: the quality goals (issue 24), run as a user runs them. Every figure is
 * printed with the CPU (model name, family/model, cores), the shape, chars/s, iterations and epochs.
 *
 *   node dist/bench/quality.js [--seconds 300[,1800…]] [--long] [--threads N] [--data FILE...]
 *                              [--no-pytorch] [--torch-same] [--pytorch-keep-coretype] [--json] [-- extra train flags]
 *   node dist/bench/quality.js --grid [--seconds 150,300,600] [--threads N] [--data FILE...] [--json] [-- extra train flags]
 *
 * Default mode, for each budget in --seconds (default 300; --long adds 1,800):
 *   ours          `charrnn train --data FILE --max-time S` with no other flag (src/budget.ts chooses
 *                 the model, the schedule its shape).
 *   torch-recipe  pip's PyTorch running char-rnn's recipe through our torch engine for the same
 *                 seconds: LSTM 2×128, 64-wide embedding (nn.Embedding, the stronger of char-rnn's
 *                 one-hot and the usual PyTorch script's; our default), dropout 0, batch 50, seq 50,
 *                 Adam 2e-3 constant (--lr-schedule step --lr-decay 1), clip 5 (global norm), no epoch
 *                 limit. At its best thread setting: run with OMP_NUM_THREADS=1 and =all cores, the
 *                 lower val loss kept (the line names which won). Interpreter: $CHARRNN_TORCH_VENV's
 *                 python, else python3, else /usr/bin/python3 (the first with torch and numpy;
 *                 bench/torch-engine.ts torchPythons), its torch version printed. Environment:
 *                 bench/pytorch.ts pytorchEnv. Then "ours lower by X nats (goal ≥ 0.07)".
 *   torch-same    with --torch-same only: the torch engine on ours's chosen recipe and schedule for
 *                 the same seconds (is the gap the engine's speed or the recipe?). The recipe run
 *                 above is the goal's peer, so this one is off by default.
 * --no-pytorch skips both PyTorch runs.
 *
 * --grid (the issue's rule grid; PyTorch is not run): for each budget in --seconds (default
 * 150,300,600), our default run (the rule picks), then the shapes beside its pick in
 * src/budget.ts SHAPES (the one below and the one above), each given as --layers L --hidden H
 * and nothing else, so the rule still chooses their dropout. A table per budget, and whether the
 * pick ends within 0.01 nats of the best of them.
 *
 * --threads N goes to every `charrnn train` of ours (--threads 1: half of a 2-core machine, a
 * stand-in for a slower one); not to PyTorch. --data: another corpus (default: ../shared/data's
 * tiny Shakespeare, else the built-in Moby Dick). Flags after `--` go to each run of ours (an
 * ablation: `-- --batch 50`). --json prints one JSON object at the end instead of the lines. The
 * runs are sequential, each with the machine to itself: this is a measurement, never a test.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SHAPES } from '../src/budget.js';
import { cpuInfo } from './cpu.js';
import { pytorchEnv } from './pytorch.js';
import { flag, RECIPE, train, type Result } from './quality-run.js';
import { torchPythons } from './torch-engine.js';

const argv = process.argv.slice(2);
const dashes = argv.indexOf('--');
const args = dashes >= 0 ? argv.slice(0, dashes) : argv;
const extra = dashes >= 0 ? argv.slice(dashes + 1) : [];
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

/** A one-line error for bad flags (house rule: no stack trace). */
function fail(msg: string): never {
  console.error(`bench:quality: ${msg}`);
  process.exit(2);
}

const JSON_OUT = args.includes('--json');
const GRID = args.includes('--grid');
const seconds = (() => {
  const given = arg('--seconds');
  const list = given === undefined ? (GRID ? [150, 300, 600] : [300]) : given.split(',').map(Number);
  if (!list.length || list.some((s) => !Number.isFinite(s) || s <= 0)) fail(`--seconds ${given}: give positive seconds, comma-separated (--seconds 150,300,600)`);
  return [...list, ...(args.includes('--long') && !GRID ? [1800] : [])];
})();
const threads = (() => {
  const t = arg('--threads');
  if (t === undefined) return null;
  if (!/^\d+$/.test(t) || Number(t) < 1) fail(`--threads ${t}: give a whole number of threads ≥ 1`);
  return Number(t);
})();
const shakespeare = fileURLToPath(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url));
const data = (() => {
  const i = args.indexOf('--data');
  if (i < 0) return existsSync(shakespeare) ? [shakespeare] : [];
  const out: string[] = [];
  for (let j = i + 1; j < args.length && !args[j].startsWith('--'); j++) out.push(args[j]);
  if (!out.length) fail('--data: name at least one file');
  return out;
})();
const cpu = cpuInfo();
const threadsWords = threads === null ? 'all cores' : `${threads} (--threads)`;
const say = (line: string): void => {
  if (!JSON_OUT) console.log(line);
};

/** Our run: no flag but the budget, the threads and the extra ones (shape flags for the grid). */
const ours = (s: number, shapeFlags: string[] = []): Promise<Result> =>
  train({ engine: 'ours', seconds: s, threads, data, flags: [...shapeFlags, ...(threads === null ? [] : ['--threads', String(threads)]), ...extra] });

/** char-rnn's recipe as our flags (see the header); --epochs 0: only the time bounds it, as for PyTorch's loop. */
const CHAR_RNN = ['--model', 'lstm', '--layers', '2', '--hidden', '128', '--embed', '64', '--dropout', '0', '--batch', '50', '--seq-len', '50',
  '--optimizer', 'adam', '--lr', '2e-3', '--lr-schedule', 'step', '--lr-decay', '1', '--clip', '5', '--clip-mode', 'norm', '--beta1', '0.9', '--beta2', '0.999',
  '--weight-decay', '0', '--epochs', '0'];

function line(r: Result): string {
  const t = r.threads === null ? 'all cores' : `${r.threads} thread${r.threads === 1 ? '' : 's'}`;
  return `${String(r.seconds).padStart(5)} s  ${r.engine.padEnd(12)}  val ${r.val_loss.toFixed(4)} nats/char (${r.val_bpc.toFixed(3)} bits)  ${Math.round(r.chars_per_s).toLocaleString('en-US').padStart(7)} chars/s  ` +
    `${r.iters} iterations, ${r.epochs.toFixed(2)} epochs, ${t}  ${r.chosen}: ${RECIPE.map((k) => `${flag(k)} ${r.config[k]}`).join(' ')}`;
}

const report: Record<string, unknown> = { cpu, threads, seconds, data: data.length ? data : 'moby-dick (built in)', extra };
say(`CPU: ${cpu.describe}; ours at ${threadsWords}; data: ${data.length ? data.join(', ') : 'moby-dick (built in)'}${extra.length ? `; extra flags: ${extra.join(' ')}` : ''}`);

try {
  if (GRID) report.grid = await grid();
  else Object.assign(report, await goal());
} catch (e) {
  console.error(`bench:quality: ${(e as Error).message}`);
  process.exit(1);
}
if (JSON_OUT) console.log(JSON.stringify(report));

/** Default mode: ours against PyTorch on char-rnn's recipe (and, asked, on ours's). */
async function goal(): Promise<Record<string, unknown>> {
  const py = args.includes('--no-pytorch') ? null : (torchPythons()[0] ?? null);
  if (py) say(`PyTorch: ${py.torch} (${py.python})${/^[01]\./.test(py.torch) ? '; the goal\'s peer is pip\'s 2.x: set CHARRNN_TORCH_VENV to a venv with pip install torch numpy' : ''}`);
  else if (!args.includes('--no-pytorch')) say('PyTorch: none found (set CHARRNN_TORCH_VENV to a venv with pip install torch numpy); ours only');
  const env = pytorchEnv(args.includes('--pytorch-keep-coretype'));
  const results: Result[] = [];
  const comparisons: Array<{ seconds: number; ours: number; pytorch: number; pytorch_threads: number; lower_by: number; goal: number; met: boolean }> = [];
  const keep = (r: Result): Result => (results.push(r), say(line(r)), r);
  for (const s of seconds) {
    const mine = keep(await ours(s));
    if (!py) continue;
    // its best thread setting: 1 torch thread (BLAS on every core) or all cores, the lower loss kept
    let best: Result | null = null;
    for (const t of [...new Set([1, cpu.cores])]) {
      const r = keep(await train({ engine: 'torch-recipe', seconds: s, threads: t, data, flags: ['--engine', 'torch', '--python', py.python, ...CHAR_RNN], env: { ...env, OMP_NUM_THREADS: String(t) } }));
      if (!best || r.val_loss < best.val_loss) best = r;
    }
    const by = best!.val_loss - mine.val_loss;
    comparisons.push({ seconds: s, ours: mine.val_loss, pytorch: best!.val_loss, pytorch_threads: best!.threads!, lower_by: by, goal: 0.07, met: by >= 0.07 });
    say(`${String(s).padStart(5)} s  ours ${mine.val_loss.toFixed(4)} (${mine.chosen}, ${Math.round(mine.chars_per_s).toLocaleString('en-US')} chars/s), PyTorch ${py.torch} recipe ${best!.val_loss.toFixed(4)} ` +
      `(OMP_NUM_THREADS=${best!.threads} won, ${Math.round(best!.chars_per_s).toLocaleString('en-US')} chars/s): ours ${by >= 0 ? 'lower' : 'HIGHER'} by ${Math.abs(by).toFixed(4)} nats (goal ≥ 0.07: ${by >= 0.07 ? 'met' : 'not met'}) on ${cpu.describe}`);
    if (args.includes('--torch-same')) {
      const same = RECIPE.flatMap((k) => [flag(k), String(mine.config[k])]);
      const r = await train({ engine: 'torch-same', seconds: s, threads: null, data, flags: ['--engine', 'torch', '--python', py.python, ...same], env });
      keep({ ...r, chosen: `${mine.chosen} (the same)` });
    }
  }
  return { pytorch: py, results, comparisons };
}

/** --grid: per budget, the rule's pick and the shapes beside it. */
async function grid(): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const s of seconds) {
    const pick = await ours(s);
    const i = SHAPES.findIndex((sh) => sh.layers === pick.config.layers && sh.hidden === pick.config.hidden);
    const rows: Array<Result & { picked: boolean }> = [{ ...pick, picked: true }];
    for (const j of [i - 1, i + 1]) {
      if (i < 0 || j < 0 || j >= SHAPES.length) continue;
      const r = await ours(s, ['--layers', String(SHAPES[j].layers), '--hidden', String(SHAPES[j].hidden)]);
      rows.push({ ...r, picked: false });
    }
    rows.sort((a, b) => a.config.layers! * 1e5 + a.config.hidden! - (b.config.layers! * 1e5 + b.config.hidden!));
    const best = rows.reduce((a, b) => (b.val_loss < a.val_loss ? b : a));
    const above = pick.val_loss - best.val_loss;
    const within = above <= 0.01;
    out.push({ seconds: s, rows, best: best.chosen, pick: pick.chosen, above_best: above, within_001: within });
    say(`\n${s} s, ours at ${threadsWords}, ${cpu.describe}${i < 0 ? ` (the pick ${pick.chosen} is not in SHAPES: no neighbours)` : ''}`);
    say(`  ${'shape'.padEnd(26)} ${'chosen'.padEnd(6)} ${'val loss'.padStart(8)} ${'chars/s'.padStart(8)} ${'iters'.padStart(7)} ${'epochs'.padStart(7)}`);
    for (const r of rows) {
      const name = `${r.config.model!.toUpperCase()} ${r.config.layers}×${r.config.hidden}, dropout ${r.config.dropout}`;
      say(`  ${name.padEnd(26)} ${(r.picked ? 'yes' : '').padEnd(6)} ${r.val_loss.toFixed(4).padStart(8)} ${Math.round(r.chars_per_s).toLocaleString('en-US').padStart(8)} ${String(r.iters).padStart(7)} ${r.epochs.toFixed(2).padStart(7)}`);
    }
    say(`  the rule's pick (${pick.chosen}) ${above === 0 ? 'is the best' : `is ${above.toFixed(4)} nats above the best (${best.chosen})`}: ${within ? 'within' : 'NOT within'} 0.01 nats`);
  }
  return out;
}
