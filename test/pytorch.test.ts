/**
 * PyTorch interchange, both directions, for lstm / gru / rnn with one-hot input and with an
 * embedding (2 layers): the Python of docs/pytorch.md (taken from the file, so the docs cannot
 * go stale) loads our checkpoints and gives our logits to 1e-5, and a PyTorch model saved with
 * its save_charrnn loads here and gives PyTorch's logits.
 *
 * Runs when `python3 -c "import torch"` works (also tried: Debian's /usr/bin/python3); skipped
 * otherwise, except in CI, which installs python3-torch (.ci/run): there a missing torch fails. When the `safetensors` package is missing, a stand-in written from the
 * file format (8-byte LE header length, JSON header, raw LE data) goes on PYTHONPATH.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsBackend } from '../src/backend/js.js';
import { decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint } from '../src/checkpoint.js';
import { resolveConfig } from '../src/config.js';
import { CharRNN, Workspace } from '../src/model/model.js';
import type { CellType } from '../src/model/layer.js';
import { Rng } from '../src/rng.js';
import { Vocabulary } from '../src/vocab.js';
import { main } from '../cli/main.js';
import { textOf } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHARS = 'ab cdé.\n☃xyz'; // with a non-ASCII letter and a symbol: the vocabulary is over code points
const TEXT = 'a bad cab. abc\nxyz ☃ éa zy.cab a ';
const H = 8;
const L = 2;

/** The Python with torch, or null. */
function findPython(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

const SHIM_INIT = `import json, struct
class _Open:
    def __init__(self, path):
        with open(path, 'rb') as f: data = f.read()
        n = struct.unpack('<Q', data[:8])[0]
        self.header = json.loads(data[8:8 + n])
    def __enter__(self): return self
    def __exit__(self, *a): return False
    def metadata(self): return self.header.get('__metadata__', {})
def safe_open(path, framework='pt', device='cpu'): return _Open(path)
`;
const SHIM_TORCH = `import json, struct, torch
def load_file(path, device='cpu'):
    with open(path, 'rb') as f: data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header, body = json.loads(data[8:8 + n]), bytearray(data[8 + n:])
    out = {}
    for k, v in header.items():
        if k == '__metadata__': continue
        assert v['dtype'] == 'F32', v['dtype']
        s, e = v['data_offsets']
        t = torch.frombuffer(body, dtype=torch.float32, count=(e - s) // 4, offset=s) if e > s else torch.zeros(0)
        out[k] = t.clone().reshape(v['shape'])
    return out
def save_file(tensors, path, metadata=None):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].float().contiguous().flatten()
        b = struct.pack('<%df' % t.numel(), *t.tolist())
        header[k] = {'dtype': 'F32', 'shape': list(tensors[k].shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b); off += len(b)
    if metadata is not None: header['__metadata__'] = metadata
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f: f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
`;

const DRIVER = `
import sys
cases = json.loads(open(sys.argv[1]).read())
out = {'ours': {}, 'theirs': {}}
with torch.no_grad():
    for c in cases:
        net, chars = load_charrnn(c['ours'])
        logits, _ = net(torch.tensor([[chars.index(ch) for ch in c['text']]]))
        out['ours'][c['name']] = logits[0].tolist()
        torch.manual_seed(c['seed'])
        chars = list(c['chars'])  # token order of the PyTorch side: not code-point order
        net = CharRNN(len(chars), c['E'], c['H'], c['L'], c['cell']).eval()
        save_charrnn(net, chars, c['theirs'], c['cell'])
        logits, _ = net(torch.tensor([[chars.index(ch) for ch in c['text']]]))
        order = sorted(range(len(chars)), key=lambda i: ord(chars[i]))
        out['theirs'][c['name']] = logits[0][:, order].tolist()
print(json.dumps(out))
`;

/** The ```python blocks of docs/pytorch.md that define the model and the two helpers. */
function docsPython(): string {
  const md = readFileSync(join(ROOT, 'docs', 'pytorch.md'), 'utf8');
  const blocks = [...md.matchAll(/```python\n([\s\S]*?)```/g)].map((m) => m[1]);
  const defs = blocks.filter((b) => /^def (load|save)_charrnn|^class CharRNN/m.test(b));
  assert.equal(defs.length, 2, 'docs/pytorch.md should have the model+loader block and the saver block');
  return defs.join('\n');
}

/** Logits (T, V) of `model` reading `ids` from the zero state. */
function logitsOf(model: CharRNN, ids: number[]): number[][] {
  const ws = new Workspace(model, 1, ids.length, { training: false });
  ws.inputs.set(ids);
  ws.targets.fill(-1);
  ws.resetState();
  model.forward(ws);
  const V = model.config.vocabSize;
  return ids.map((_, t) => Array.from(ws.logits.subarray(t * V, (t + 1) * V)));
}

function assertClose(a: number[][], b: number[][], what: string): void {
  assert.equal(a.length, b.length, `${what}: steps`);
  let worst = 0;
  a.forEach((row, t) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - b[t][j])))));
  assert.ok(worst <= 1e-5, `${what}: logits differ by ${worst}`);
}

const encode = (vocab: Vocabulary, s: string): number[] => [...s].map((c) => vocab.id(c.codePointAt(0)!));

test('PyTorch (docs/pytorch.md) and charrnn give the same logits, both directions', async (t) => {
  const py = findPython();
  if (!py) {
    assert.ok(!process.env.CI, 'CI installs python3-torch (.ci/run), but no python3 imports torch');
    t.skip('python3 with torch is not installed (pip install torch safetensors, or apt-get install python3-torch)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pytorch-'));
  try {
    const env = { ...process.env };
    if (spawnSync(py, ['-c', 'import safetensors.torch'], { stdio: 'ignore' }).status !== 0) {
      mkdirSync(join(dir, 'shim', 'safetensors'), { recursive: true });
      writeFileSync(join(dir, 'shim', 'safetensors', '__init__.py'), SHIM_INIT);
      writeFileSync(join(dir, 'shim', 'safetensors', 'torch.py'), SHIM_TORCH);
      env.PYTHONPATH = join(dir, 'shim') + (env.PYTHONPATH ? `:${env.PYTHONPATH}` : '');
    }
    const vocab = new Vocabulary([...CHARS].map((c) => c.codePointAt(0)!));
    const cases = [];
    const ours = new Map<string, number[][]>();
    let seed = 1;
    for (const cell of ['lstm', 'gru', 'rnn'] as CellType[]) {
      for (const E of [0, 5]) {
        const name = `${cell}-embed${E}`;
        const config = resolveConfig({ model: cell, layers: L, hidden: H, embed: E });
        const model = new CharRNN({ type: cell, vocabSize: vocab.size, hidden: H, layers: L, embed: E, dropout: 0 }, new JsBackend());
        model.init(new Rng(seed));
        const file = join(dir, `${name}.ours.safetensors`);
        writeFileSync(file, encodeCheckpoint({ config, model, vocab }));
        ours.set(name, logitsOf(model, encode(vocab, TEXT)));
        const shuffled = [...CHARS].reverse().join(''); // PyTorch side's own token order
        cases.push({ name, cell, E, H, L, seed: seed++, text: TEXT, chars: shuffled, ours: file, theirs: join(dir, `${name}.theirs.safetensors`) });
      }
    }
    writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases));
    writeFileSync(join(dir, 'run.py'), `${SHIM_INIT.split('\n')[0]}\nimport torch\n${docsPython()}\n${DRIVER}`);
    const r = spawnSync(py, [join(dir, 'run.py'), join(dir, 'cases.json')], { env, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ours: Record<string, number[][]>; theirs: Record<string, number[][]> };
    for (const c of cases) {
      assertClose(out.ours[c.name], ours.get(c.name)!, `${c.name} charrnn → PyTorch`);
      const data = decodeCheckpoint(readFileSync(c.theirs));
      const model = modelFromCheckpoint(data, new JsBackend());
      assertClose(logitsOf(model, encode(data.vocab, TEXT)), out.theirs[c.name], `${c.name} PyTorch → charrnn`);
      assert.equal((await textOf({ model, vocab: data.vocab }, { length: 20, seed: 1 })).length > 0, true);
    }
    // and the command line samples a model trained "elsewhere"
    let stdout = '';
    const code = await main({ argv: ['node', 'charrnn', 'sample', cases[0].theirs, '--length', '30', '--seed', '3', '--backend', 'js'], env: {}, stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true } });
    assert.equal(code, 0);
    assert.ok(stdout.length >= 30);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
