/**
 * The many-machines command that `charrnn train --engine torch --prepare-only` prints, run as two
 * "nodes" on this machine (--nnodes 2, one process each, c10d rendezvous on 127.0.0.1): each node
 * is its own process group started from the printed command, with only the placeholders filled
 * in. The run matches the one-process run; a node killed mid-run stops the other, which leaves
 * the checkpoint of the last evaluation.
 *
 * Needs Python with torch and numpy, like test/torch-engine.test.ts (under CI=true a missing
 * torch fails instead of skipping). Tiny model, few iterations.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCheckpoint } from '../src/checkpoint.js';
import { decodeSafetensors } from '../src/safetensors.js';
import { NO_TORCH, torchPython, words } from './helpers.js';
import { runCli } from './run-cli.js';

const PY = torchPython();
const skip = PY ? false : NO_TORCH;

/** A port nobody listens on now (the rendezvous store binds it a moment later). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

interface Prepared { command: string[]; multiNode: string[] }

/** `--prepare-only --json` into `out`: the one-process command and the per-node command. */
async function prepare(data: string, out: string, extra: string[]): Promise<Prepared> {
  const r = await runCli(['train', '--engine', 'torch', '--prepare-only', '--json', '--python', PY!, '--device', 'cpu', '--data', data, '--out', out,
    '--hidden', '8', '--embed', '4', '--batch', '4', '--seq-len', '8', '--sample-every', '0', '--seed', '3', '--quiet', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Prepared;
}

/** What a user types on each machine: the placeholders filled in, nothing else changed. */
function fill(cmd: string[], port: number, run: string): string[] {
  const subst: Record<string, string> = { NODES: '2', GPUS: '1', HOST: '127.0.0.1', RUN: run };
  return cmd.map((a) => a.replace(/\b(NODES|GPUS|RUN)\b/g, (m) => subst[m]).replace(/\bHOST:29500\b/, `127.0.0.1:${port}`));
}

interface Node { child: ChildProcess; stdout: string; stderr: string; closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> }

/** One node: its own process group (detached), as on its own machine. */
function startNode(cmd: string[]): Node {
  const child = spawn(cmd[0], cmd.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  const node: Node = { child, stdout: '', stderr: '', closed: null! };
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (node.stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (node.stderr += s));
  node.closed = new Promise((r) => child.on('close', (code, signal) => r({ code, signal, at: performance.now() })));
  return node;
}

/** Both nodes, the second a moment after the first (so the first hosts the rendezvous store). */
async function startNodes(cmd: string[]): Promise<[Node, Node]> {
  const a = startNode(cmd);
  await new Promise((r) => setTimeout(r, 300));
  return [a, startNode(cmd)];
}

/** Wait for `p`, or kill both process groups and fail after `ms`: a hang must not hang the suite. */
async function within<T>(p: Promise<T>, ms: number, nodes: Node[], what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, rej) => {
    timer = setTimeout(() => {
      for (const n of nodes) try { process.kill(-n.child.pid!, 'SIGKILL'); } catch { /* gone */ }
      rej(new Error(`${what}: no result after ${ms / 1000} s\n${nodes.map((n) => n.stderr.slice(-2000)).join('\n---\n')}`));
    }, ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const floatTensors = (path: string): Map<string, Float32Array> => {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of decodeSafetensors(readFileSync(path)).tensors) if (t.data instanceof Float32Array) out.set(name, t.data);
  return out;
};

const metricIters = (dir: string): number[] =>
  existsSync(join(dir, 'metrics.jsonl')) ? readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { iter: number }).iter) : [];

test('the printed many-machines command, as 2 nodes × 1 process: the checkpoint and samples of the 1-process run', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-nodes-'));
  const data = join(dir, 'corpus.txt');
  writeFileSync(data, words(3000, 7));
  const args = ['--max-iters', '20', '--eval-every', '10'];
  const one = await prepare(data, join(dir, 'one'), args);
  const two = await prepare(data, join(dir, 'two'), args);
  assert.ok(two.multiNode.includes('--nnodes=NODES') && two.multiNode.some((a) => a.includes('HOST:')), two.multiNode.join(' '));

  const r = spawnSync(one.command[0], one.command.slice(1), { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);

  const t0 = performance.now();
  const nodes = await startNodes(fill(two.multiNode, await freePort(), 'same'));
  const ends = await within(Promise.all(nodes.map((n) => n.closed)), 120_000, nodes, 'two nodes');
  const seconds = (performance.now() - t0) / 1000;
  for (const [i, e] of ends.entries()) assert.equal(e.code, 0, `node ${i}: ${nodes[i].stderr.slice(-1500)}`);

  const a = floatTensors(join(dir, 'one', 'latest.safetensors'));
  const b = floatTensors(join(dir, 'two', 'latest.safetensors'));
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  let worstRel = 0;
  let worstAbs = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    let d = 0;
    let n = 0;
    for (let i = 0; i < x.length; i++) {
      d += (x[i] - y[i]) ** 2;
      n += x[i] ** 2;
      worstAbs = Math.max(worstAbs, Math.abs(x[i] - y[i]));
    }
    const rel = Math.sqrt(d / Math.max(n, 1e-30));
    worstRel = Math.max(worstRel, rel);
    assert.ok(rel < 1e-5, `${name}: 2 nodes differ from 1 process by ${rel.toExponential(2)} (relative)`);
  }
  assert.equal(decodeCheckpoint(readFileSync(join(dir, 'two', 'latest.safetensors'))).train!.state.iter, 20);
  const s1 = await runCli(['sample', join(dir, 'one', 'latest.safetensors'), '--seed', '11', '--length', '60']);
  const s2 = await runCli(['sample', join(dir, 'two', 'latest.safetensors'), '--seed', '11', '--length', '60']);
  assert.equal(s1.code, 0, s1.stderr);
  assert.equal(s2.stdout, s1.stdout);
  t.diagnostic(`2 nodes: ${seconds.toFixed(1)} s; largest difference from 1 process: ${worstRel.toExponential(2)} relative, ${worstAbs.toExponential(2)} absolute`);
});

test('a node killed mid-run (SIGKILL to its process group): the other stops by itself with one error line; the last checkpoint stays good', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-nodes-'));
  const data = join(dir, 'corpus.txt');
  writeFileSync(data, words(3000, 8));
  const out = join(dir, 'run');
  const prep = await prepare(data, out, ['--max-time', '600', '--eval-every', '5']);
  const [a, b] = await startNodes(fill(prep.multiNode, await freePort(), 'dead'));
  // until two evaluations are saved
  await within((async () => {
    while (metricIters(out).length < 2) await new Promise((r) => setTimeout(r, 100));
  })(), 120_000, [a, b], 'waiting for two evaluations');
  process.kill(-b.child.pid!, 'SIGKILL');
  const killed = performance.now();
  const end = await within(a.closed, 120_000, [a, b], 'the surviving node after its peer was killed');
  const seconds = (end.at - killed) / 1000;
  assert.notEqual(end.code, 0, 'the survivor reports the failure in its exit status');
  assert.throws(() => process.kill(-a.child.pid!, 0), /ESRCH/, 'no process of the surviving node is left');
  // its trainer said what happened in one line (whichever rank it held)
  const errors = a.stdout.split('\n').filter((l) => l.startsWith('{') && (JSON.parse(l) as { type: string }).type === 'error');
  assert.equal(errors.length, 1, a.stdout.slice(-2000));
  const last = metricIters(out).pop()!;
  const ck = decodeCheckpoint(readFileSync(join(out, 'latest.safetensors')));
  assert.equal(ck.train!.state.iter, last, 'latest.safetensors is the state of the last evaluation');
  const s = await runCli(['sample', join(out, 'latest.safetensors'), '--seed', '2', '--length', '20']);
  assert.equal(s.code, 0, s.stderr);
  t.diagnostic(`survivor stopped ${seconds.toFixed(1)} s after the kill (exit ${end.code}); its error: ${errors[0]}`);
  t.diagnostic(`survivor's stderr (the launcher's), last line: ${a.stderr.trim().split('\n').pop()}`);
});
