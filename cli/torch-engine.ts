/**
 * `charrnn train --engine torch`: the same run on PyTorch (python/charrnn_torch.py), on CPU or
 * CUDA, in one process or N (PyTorch's own launcher, `python -m torch.distributed.run`).
 *
 *   plan   (before anything is written) the knobs are supported, the data fits B×T streams and
 *          N ranks, and the interpreter imports torch and numpy: else a one-line error
 *   write  OUT/ids.bin (streamed there in bounded memory: cli/torch-data.ts) + OUT/torch.json
 *          (src/torch-run.ts) and OUT/latest.safetensors: our own init at iteration 0, or the
 *          resumed state, so both engines start from the same bytes
 *   launch the trainer (unless --prepare-only), render its JSON events with our renderer
 *
 * The Python side writes latest/best.safetensors (rank 0, atomically), metrics.jsonl and
 * samples.jsonl itself, so a run launched by hand with torchrun on many machines writes the
 * same directory. Ctrl-C is passed on (torchrun passes it to every rank): they save and stop.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CheckpointData } from '../src/checkpoint.js';
import type { TrainConfig } from '../src/config.js';
import { torchRunSpec, torchStartCheckpoint, torchUnsupported } from '../src/torch-run.js';
import type { TrainEvent } from '../src/train.js';
import { renameAtomic, writeFileAtomic } from './atomic.js';
import { CliError, parseNumber, type Proc } from './io.js';
import type { TorchData } from './torch-data.js';
import { trainLoop, type TrainView } from './train-output.js';

export type Device = 'cpu' | 'cuda' | 'auto';

/** Run settings of `train` that choose where it runs (not TrainConfig: they never change the maths). */
export interface EngineSettings {
  engine: 'ours' | 'torch';
  device: Device;
  /** Processes on this machine; undefined = the visible GPUs, or 1. */
  nprocPerNode?: number;
  /** The interpreter; undefined = python3, then /usr/bin/python3. */
  python?: string;
  /** Write the run directory and the launch command, do not train. */
  prepareOnly: boolean;
}

/** Check --engine, --device, --nproc-per-node, --python, --prepare-only (one-line errors, exit 2). */
export function parseEngineSettings(opts: Record<string, unknown>): EngineSettings {
  const engine = String(opts.engine ?? 'ours');
  if (engine !== 'ours' && engine !== 'torch') throw new CliError(`--engine must be ours or torch (got ${JSON.stringify(engine)})`, 2);
  const device = String(opts.device ?? 'auto');
  if (device !== 'cpu' && device !== 'cuda' && device !== 'auto') throw new CliError(`--device must be one of cpu, cuda, auto (got ${JSON.stringify(device)})`, 2);
  let nprocPerNode: number | undefined;
  if (opts.nprocPerNode !== undefined) {
    nprocPerNode = parseNumber('--nproc-per-node', String(opts.nprocPerNode));
    if (!Number.isInteger(nprocPerNode) || nprocPerNode < 1 || nprocPerNode > 1024) throw new CliError(`--nproc-per-node must be a whole number from 1 to 1024 (got ${String(opts.nprocPerNode)})`, 2);
  }
  const python = opts.python === undefined ? undefined : String(opts.python);
  const prepareOnly = Boolean(opts.prepareOnly);
  if (engine === 'ours' && (opts.device !== undefined || nprocPerNode !== undefined || python !== undefined || prepareOnly)) {
    throw new CliError('--device, --nproc-per-node, --python and --prepare-only are for --engine torch', 2);
  }
  return { engine, device: device as Device, nprocPerNode, python, prepareOnly };
}

/** A file of python/ (beside dist/ when compiled, beside cli/ when run from source). */
export function pythonFile(name: 'charrnn_torch.py' | 'torchrun.py'): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, '..', '..', 'python', name), join(here, '..', 'python', name)]) {
    if (existsSync(p)) return p;
  }
  throw new CliError(`python/${name} is missing from this charrnn installation; reinstall charrnn`);
}

const INSTALL = 'install PyTorch with "apt-get install python3-torch python3-numpy" or "pip install torch numpy", or pass --python PATH';
const PROBE = 'import json, numpy, torch; print(json.dumps({"torch": torch.__version__, "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0}))';

/** PROBE's answer (its last line), or null for an interpreter that prints something else. */
function parseProbe(python: string, stdout: string): { python: string; torch: string; cuda: number } | null {
  try {
    const info = JSON.parse(stdout.trim().split('\n').pop()!) as { torch: string; cuda: number };
    return { python, torch: info.torch, cuda: info.cuda };
  } catch {
    return null;
  }
}

/** An interpreter that imports torch and numpy, and what it sees; a one-line error otherwise. */
export function findTorch(python?: string): { python: string; torch: string; cuda: number } {
  const tried: string[] = [];
  for (const py of python ? [python] : ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', PROBE], { encoding: 'utf8', timeout: 120_000 });
    const found = r.status === 0 ? parseProbe(py, r.stdout) : null;
    if (found) return found;
    const err = r.error as NodeJS.ErrnoException | undefined;
    const why = err ? (err.code === 'ENOENT' ? 'not found' : err.message) : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`);
    tried.push(`${py}: ${why}`);
  }
  throw new CliError(`the torch engine needs Python with torch and numpy (${tried.join('; ')}); ${INSTALL}`);
}

export interface TorchPlan {
  settings: EngineSettings;
  data: TorchData;
  config: TrainConfig;
  /** latest.safetensors at the start: our own init at iteration 0, or the resumed state. */
  start: Uint8Array;
  /** Absent with --prepare-only (nothing is launched, nothing probed). */
  python: string | null;
  nproc: number;
  device: Device;
}

/**
 * Everything that can be wrong with a torch run, checked before the run directory is touched.
 * `found`: findTorch's answer when the caller asked already (before reading a big corpus).
 */
export function planTorch(settings: EngineSettings, config: TrainConfig, data: TorchData, resume?: CheckpointData, found?: ReturnType<typeof findTorch>): TorchPlan {
  const unsupported = torchUnsupported(config);
  if (unsupported) throw new CliError(unsupported, 2);
  // our trainer's checks (B×T streams, a validation part) and its initial state
  const start = torchStartCheckpoint(config, data.vocab, data.length, resume);
  let python: string | null = null;
  let nproc = settings.nprocPerNode ?? 1;
  if (!settings.prepareOnly) {
    found ??= findTorch(settings.python);
    python = found.python;
    if (settings.device === 'cuda' && found.cuda === 0) throw new CliError(`--device cuda: PyTorch ${found.torch} (${python}) sees no CUDA device; use --device cpu`);
    nproc = settings.nprocPerNode ?? (settings.device !== 'cpu' && found.cuda > 0 ? found.cuda : 1);
  }
  if (config.batch < nproc) {
    throw new CliError(`--batch ${config.batch} is fewer streams than the ${nproc} processes (each rank trains its own streams); use --batch ≥ ${nproc} or a smaller --nproc-per-node`, 2);
  }
  return { settings, data, config, start, python, nproc, device: settings.device };
}

/** The command that trains a prepared directory (what --prepare-only prints, what we spawn). */
export function launchCommand(python: string, nproc: number, device: Device, dir: string): string[] {
  const tail = [pythonFile('charrnn_torch.py'), `--device=${device}`, dir];
  if (nproc === 1) return [python, ...tail];
  // torchrun (python/torchrun.py: torch.distributed.run with a fix for old torch on new Python)
  return [python, pythonFile('torchrun.py'), '--standalone', `--nproc_per_node=${nproc}`, '--monitor_interval=1', ...tail];
}

/**
 * The command to run on each of many machines (the directory on shared storage), with the
 * placeholders a user fills in: NODES, GPUS (processes per machine), HOST (the machine that
 * hosts the c10d rendezvous store; any one of them) and RUN (an id shared by the nodes). The
 * launcher is python/torchrun.py, as on one machine, so it also runs on Debian's torch; c10d
 * gives every node its rank, so no --node_rank is needed. test/torch-multinode.test.ts runs it.
 */
export function multiNodeCommand(python: string, device: Device, dir: string): string[] {
  return [python, pythonFile('torchrun.py'), '--nnodes=NODES', '--nproc_per_node=GPUS', '--rdzv_backend=c10d', '--rdzv_endpoint=HOST:29500', '--rdzv_id=RUN', '--monitor_interval=1',
    pythonFile('charrnn_torch.py'), `--device=${device}`, dir];
}

/**
 * Write OUT/ids.bin, OUT/torch.json and OUT/latest.safetensors (atomically). A streamed ids file
 * is moved into OUT (it was written beside it), or with `link` (the gauge's many directories
 * over one file) linked from there.
 */
export async function prepareTorchDir(plan: TorchPlan, out: string, opts: { link?: boolean } = {}): Promise<void> {
  const ids = join(out, 'ids.bin');
  const src = plan.data.ids;
  if ('bytes' in src) await writeFileAtomic(ids, src.bytes);
  else if (opts.link) await symlink(resolve(src.file), ids);
  else await renameAtomic(src.file, ids);
  await writeFileAtomic(join(out, 'torch.json'), JSON.stringify(torchRunSpec(plan.config, plan.data.vocab, plan.data.length)) + '\n');
  await writeFileAtomic(join(out, 'latest.safetensors'), plan.start);
}

export type TorchEvent = TrainEvent | { type: 'error'; rank: number; message: string };

/**
 * Run the trainer and yield its events. Throws a one-line CliError when it fails: the first
 * 'error' event (the rank that raised), or its exit status and last line of stderr.
 */
export async function* torchEvents(cmd: string[], opts: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): AsyncGenerator<TrainEvent, void, undefined> {
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env, PYTHONUNBUFFERED: '1' } });
  const stderrTail: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (process.env.CHARRNN_DEBUG) process.stderr.write(line + '\n');
    if (line.trim()) stderrTail.push(line);
    if (stderrTail.length > 40) stderrTail.shift();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((res) => {
    child.on('error', (error) => res({ code: null, signal: null, error }));
    child.on('close', (code, signal) => res({ code, signal }));
  });
  opts.signal?.addEventListener('abort', () => child.kill('SIGINT')); // the trainer saves and stops
  let error: { rank: number; message: string } | null = null;
  let done = false;
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      let ev: TorchEvent;
      try {
        ev = JSON.parse(line) as TorchEvent;
      } catch {
        continue; // a library printing on stdout; not an event
      }
      if (typeof ev !== 'object' || ev === null || typeof ev.type !== 'string') continue;
      if (ev.type === 'error') {
        error ??= ev; // the first one: later ranks only saw a peer go away
        continue;
      }
      if (ev.type === 'done') done = true;
      yield ev;
    }
  } finally {
    if (!done && child.exitCode === null) child.kill('SIGTERM'); // the consumer stopped early
  }
  const st = await exited;
  if (error) throw new CliError(`torch engine${error.rank > 0 ? ` (rank ${error.rank})` : ''}: ${error.message}; the last good checkpoint is kept`);
  if (st.error) throw new CliError(`cannot start ${cmd[0]}: ${st.error.message}`);
  if (!done || st.code !== 0) {
    if (done && st.code === 1) return; // a numerical stop ('nan' then 'done'), reported by the caller
    const last = stderrTail.filter((l) => /error|exception|killed|signal/i.test(l)).pop() ?? stderrTail[stderrTail.length - 1] ?? '';
    if (done && st.signal === null && /SignalException/.test(stderrTail.join('\n'))) return; // torchrun re-raises the Ctrl-C it passed on
    throw new CliError(`the torch trainer stopped (${st.signal ? `signal ${st.signal}` : `exit ${st.code}`})${last ? `: ${last.trim().slice(0, 300)}` : ''}; the last good checkpoint is kept`);
  }
}

/** A command as one shell line (arguments quoted where the shell would split or expand them). */
export function describeLaunch(cmd: string[]): string {
  return cmd.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * Prepare OUT and (unless --prepare-only) train there on PyTorch, in the loop that runs our
 * engine (cli/train-output.ts). Returns the exit code: 0, 1 after a numerical stop, 130 after Ctrl-C.
 */
export async function runTorch(proc: Proc, plan: TorchPlan, out: string, view: TrainView): Promise<number> {
  await prepareTorchDir(plan, out);
  const dir = resolve(out);
  const python = plan.python ?? plan.settings.python ?? 'python3'; // plan.python is null only with --prepare-only
  const cmd = launchCommand(python, plan.nproc, plan.device, dir);
  if (plan.settings.prepareOnly) {
    const nodes = multiNodeCommand(python, plan.device, dir);
    view.renderer?.message(`prepared ${out} (ids.bin, torch.json, latest.safetensors); train it with:\n  ${describeLaunch(cmd)}\non many machines (the directory on shared storage), on each one (NODES machines, GPUS processes each, HOST:29500 reachable from all, RUN any id they share):\n  ${describeLaunch(nodes)}`);
    if (view.json) proc.stdout.write(JSON.stringify({ prepared: dir, command: cmd, multiNode: nodes }) + '\n');
    return 0;
  }
  return trainLoop(proc, { out, events: (signal) => torchEvents(cmd, { signal }) }, view); // Python writes the run files
}

/**
 * The torch engine's speed gauge: one `charrnn_torch.py measure` process (torch imported once),
 * fed one prepared run directory per shape the rule asks about (its torch.json and first
 * checkpoint; ids.bin a link to the one ids file of the run); it trains each with the engine's
 * own step (Run.step) for TORCH_GAUGE_SECONDS after a warm-up step and answers one JSON line of
 * chars/s. One process on one device, at the run's full batch: with several ranks the run is
 * at least this fast per global step, so the rule errs towards a smaller model. Null when no
 * torch is importable and the run is only prepared.
 */
export async function torchGauge(settings: EngineSettings, data: TorchData): Promise<{ speed: (c: TrainConfig) => Promise<number>; close: () => Promise<void> } | null> {
  let python: string;
  try {
    python = findTorch(settings.python).python;
  } catch (e) {
    if (settings.prepareOnly) return null;
    throw e;
  }
  const dir = await mkdtemp(join(tmpdir(), 'charrnn-gauge-'));
  // one ids file for every shape (the run's own, when streamed), linked from each shape's directory
  let shared = data;
  if ('bytes' in data.ids) {
    await writeFileAtomic(join(dir, 'ids.bin'), data.ids.bytes);
    shared = { ...data, ids: { file: join(dir, 'ids.bin') } };
  }
  const child = spawn(python, [pythonFile('charrnn_torch.py'), `--device=${settings.device}`, 'measure', String(TORCH_GAUGE_SECONDS)],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<void>((res) => child.on('close', () => res()));
  child.on('error', () => undefined); // a failed start shows as the end of stdout below
  let n = 0;
  return {
    speed: async (c) => {
      const sub = join(dir, String(n++));
      await mkdir(sub);
      await prepareTorchDir(planTorch({ ...settings, prepareOnly: true }, c, shared), sub, { link: true });
      child.stdin.write(sub + '\n');
      for (let r = await lines.next(); !r.done; r = await lines.next()) {
        let ev: { type?: string; charsPerSec?: number; message?: string };
        try {
          ev = JSON.parse(r.value) as typeof ev;
        } catch {
          continue; // a library printing on stdout
        }
        if (ev.type === 'error') throw new CliError(`torch engine, measuring ${c.layers}×${c.hidden} for --max-time: ${ev.message}`);
        if (ev.type === 'measure' && typeof ev.charsPerSec === 'number') return ev.charsPerSec;
      }
      throw new CliError(`the torch engine's speed gauge (${python} charrnn_torch.py measure) stopped without an answer`);
    },
    close: async () => {
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null) await exited;
      await rm(dir, { recursive: true, force: true }); // the links only, never the run's ids file
    },
  };
}

/** Seconds of timed steps per shape (after one warm-up step) when the torch engine is the gauge. */
const TORCH_GAUGE_SECONDS = 0.5;

/**
 * The CUDA hint: one line when PyTorch sees a CUDA GPU and the user did not ask for an engine,
 * since `--engine torch --device cuda` trains there at PyTorch's speed. Python is probed only when
 * the machine shows an NVIDIA device (gpuDevice): importing torch takes seconds, and every
 * `charrnn train` on a machine without one must not pay them. Null: nothing to say.
 */
export async function cudaHint(opts: { engineGiven: boolean; gpuDevice: boolean; probe?: () => Promise<{ python: string; torch: string; cuda: number } | null> }): Promise<string | null> {
  if (opts.engineGiven || !opts.gpuDevice) return null;
  const found = await (opts.probe ?? probeTorchCuda)();
  if (!found || found.cuda < 1) return null;
  return `PyTorch ${found.torch.split('+')[0]} (${found.python}) sees ${found.cuda === 1 ? 'a CUDA GPU' : `${found.cuda} CUDA GPUs`}: --engine torch --device cuda would train there (docs/pytorch.md)`;
}

/**
 * Whether this machine shows an NVIDIA GPU, cheaply (no process started): the driver's device
 * files (/dev/nvidiactl, /dev/nvidia0…) or nvidia-smi on PATH (WSL has no /dev/nvidia*, but
 * has nvidia-smi). False on machines with no NVIDIA driver, where torch could see no CUDA GPU.
 */
export function nvidiaPresent(env: NodeJS.ProcessEnv = process.env, dev = '/dev'): boolean {
  if (existsSync(join(dev, 'nvidiactl')) || existsSync(join(dev, 'nvidia0'))) return true;
  return (env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'nvidia-smi')));
}

/**
 * findTorch's question (the same PROBE) to python3, asynchronously so that it runs beside loading
 * the data: its torch and CUDA GPUs, or null (no torch, or no answer within 30 s). Never throws.
 */
function probeTorchCuda(): Promise<{ python: string; torch: string; cuda: number } | null> {
  const python = 'python3';
  return new Promise((res) => {
    const child = spawn(python, ['-c', PROBE], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', () => res(null));
    child.on('close', (code) => res(code === 0 ? parseProbe(python, out) : null));
  });
}
