#!/usr/bin/env python3
"""charrnn's PyTorch engine: the same training run as src/train.ts, on PyTorch (CPU or CUDA),
in one process or many (torchrun / torch.distributed, gloo on CPU, NCCL on CUDA).

    python charrnn_torch.py RUN_DIR                                  one process
    python -m torch.distributed.run --nproc_per_node N charrnn_torch.py RUN_DIR    N ranks
                                      (python torchrun.py ... on torch 1.13 under Python 3.11)

RUN_DIR is prepared by `charrnn train --engine torch` (or with --prepare-only):
    torch.json          the run: config, model, vocabulary, ids file, split offsets, the --max-time
                        schedule's thresholds (src/torch-run.ts)
    ids.bin             every token id, flat little-endian (memory-mapped: a rank reads only its windows)
    latest.safetensors  where to start from (our own init at iteration 0, or a run of either engine)
and this writes what our engine writes: latest/best.safetensors (rank 0, atomically), metrics.jsonl,
samples.jsonl. Events go to stdout as one JSON object per line (rank 0; 'error' from any rank).

The maths is ours (src/optim.ts, src/backend/js.ts), written out over one flat parameter vector
in checkpoint order instead of torch.optim:
    g      = all-reduce-sum of each rank's d(sum of its losses / (B·T))   = d(mean loss of the window)
    norm   = ‖g‖₂;  clip: g *= clip / norm if norm > clip  (or clamp each to ±clip)
    gi     = g + wd · p
    adam   m = β1 m + (1-β1) gi;  v = β2 v + (1-β2) gi²;  p -= lr (m / (1-β1ᵗ)) / (√(v / (1-β2ᵗ)) + ε)
    rmsprop v = α v + (1-α) gi²;  p -= lr gi / (√v + ε)
    adagrad v += gi²;             p -= lr gi / (√v + ε)
    sgd    m = gi (first step) or μ m + gi;  p -= lr m
    lr     step: *= lrDecay at the end of every epoch ≥ lrDecayAfter (char-rnn);
           cosine, linear: peak · warm-up · decay over the budget's N iterations (src/schedule.ts,
           schedule_factor below), N fixed from the limits or estimated from rank 0's clock
The B streams of truncated BPTT are split among the ranks (rank r: streams [rB/N, (r+1)B/N)), each
carrying its own streams' hidden state, so one global step is the same B×T window as ours.
Dropout sits where ours does (outputs of every layer but the last, scaled by 1/(1-p)); its masks
come from torch's generator seeded by one draw of our xoshiro128** per step, for the whole global
window, so they do not depend on the number of ranks (but differ from our engine's masks).
"""
import json
import math
import os
import signal
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT_VERSION = 1
M32 = 0xFFFFFFFF


# ---------------------------------------------------------------- events and small helpers

def emit(ev):
    """One JSON event per line on stdout, flushed (the CLI renders them as they come)."""
    sys.stdout.write(json.dumps(ev, separators=(',', ':'), allow_nan=False) + '\n')
    sys.stdout.flush()


class RunError(Exception):
    """A one-line error about the run's input (shown as is, no traceback)."""


def fsync_dir(d):
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the data is already safe
    finally:
        os.close(fd)


def write_atomic(path, data):
    """tmp + fsync + rename + fsync(dir), as cli/atomic.ts; the tmp name is the one tidyRunDir cleans."""
    d, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(d, '.%s.%d.%s.tmp' % (base, os.getpid(), os.urandom(6).hex()))
    try:
        with open(tmp, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(d)


def append_line(path, value):
    with open(path, 'a', encoding='utf-8') as f:
        f.write(json.dumps(value, separators=(',', ':'), ensure_ascii=False) + '\n')


def trim_log(path, it):
    """Keep complete lines whose "iter" ≤ it (cli/runfiles.ts trimLog): a resumed run's logs match its checkpoint."""
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except OSError:
        return
    lines = text.split('\n')[:-1]  # after the last '\n': empty, or a line torn by a kill
    keep = []
    for line in lines:
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if not isinstance(v, dict) or not isinstance(v.get('iter'), (int, float)) or v['iter'] <= it:
            keep.append(line + '\n')
    out = ''.join(keep)
    if out != text:
        write_atomic(path, out.encode('utf-8'))


# ---------------------------------------------------------------- safetensors (docs/safetensors.md)

def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 8:
        raise RunError('%s is not a safetensors file (too short)' % path)
    n = struct.unpack('<Q', data[:8])[0]
    try:
        header = json.loads(data[8:8 + n])
    except ValueError:
        raise RunError('%s has a corrupt safetensors header' % path)
    meta = header.pop('__metadata__', {})
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, t in header.items():
        if t['dtype'] != 'F32':
            raise RunError('%s: tensor %s is %s; expected F32' % (path, name, t['dtype']))
        s, e = t['data_offsets']
        tensors[name] = np.frombuffer(body[s:e], dtype='<f4').reshape(t['shape']).copy()
    return tensors, meta


def encode_safetensors(tensors, metadata):
    """tensors: list of (name, float32 numpy array). Same header form as src/safetensors.ts."""
    parts = ['"__metadata__":' + json.dumps(metadata, separators=(',', ':'))]
    blobs = []
    off = 0
    for name, a in tensors:
        b = np.ascontiguousarray(a, dtype='<f4').tobytes()
        parts.append(json.dumps(name) + ':' + json.dumps({'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}, separators=(',', ':')))
        blobs.append(b)
        off += len(b)
    header = ('{' + ','.join(parts) + '}').encode('utf-8')
    header += b' ' * ((8 - len(header) % 8) % 8)
    return struct.pack('<Q', len(header)) + header + b''.join(blobs)


# ---------------------------------------------------------------- src/rng.ts

def rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


class Rng:
    """xoshiro128**, as src/rng.ts: its four-word state is the checkpoint's rng / sampleRng."""

    def __init__(self, state):
        self.s = [int(w) & M32 for w in state]

    @property
    def state(self):
        return list(self.s)

    def next_u32(self):
        s = self.s
        result = (rotl((s[1] * 5) & M32, 7) * 9) & M32
        t = (s[1] << 9) & M32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 11)
        return result

    def next(self):
        return self.next_u32() / 4294967296


# ---------------------------------------------------------------- the model (src/model/model.ts)

CELLS = {'lstm': nn.LSTM, 'gru': nn.GRU, 'rnn': nn.RNN}


def param_names(m):
    """Checkpoint names in our parameter order (paramSpecs), the order of the flat vector."""
    names = ['embedding.weight'] if m['embed'] > 0 else []
    for l in range(m['layers']):
        names += ['rnn.weight_ih_l%d' % l, 'rnn.weight_hh_l%d' % l, 'rnn.bias_ih_l%d' % l, 'rnn.bias_hh_l%d' % l]
    return names + ['decoder.weight', 'decoder.bias']


class CharRNN(nn.Module):
    """(embedding or one-hot) → L single-layer nn.LSTM/GRU/RNN (so dropout between them is ours) → decoder."""

    def __init__(self, m):
        super().__init__()
        self.cfg = m
        V, E, H, L = m['vocabSize'], m['embed'], m['hidden'], m['layers']
        self.embedding = nn.Embedding(V, E) if E > 0 else None
        self.layers = nn.ModuleList(CELLS[m['type']](E if (l == 0 and E > 0) else (V if l == 0 else H), H) for l in range(L))
        self.decoder = nn.Linear(H, V)

    def named(self):
        """(checkpoint name, parameter) in checkpoint order."""
        out = [('embedding.weight', self.embedding.weight)] if self.embedding is not None else []
        for l, layer in enumerate(self.layers):
            for k in ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'):
                out.append(('rnn.%s_l%d' % (k, l), getattr(layer, k + '_l0')))
        return out + [('decoder.weight', self.decoder.weight), ('decoder.bias', self.decoder.bias)]

    def forward(self, ids, state, masks=None):
        """ids (T, b) int64; state: per layer h (b, H) [and c]; masks: per layer but the last (T, b, H) or None.
        Returns logits (T, b, V) and the state after the window."""
        m = self.cfg
        x = self.embedding(ids) if self.embedding is not None else F.one_hot(ids, m['vocabSize']).to(self.decoder.weight.dtype)
        lstm = m['type'] == 'lstm'
        new_state = []
        k = 0
        for l, layer in enumerate(self.layers):
            if lstm:
                y, (h, c) = layer(x, (state[k][None], state[k + 1][None]))
                new_state += [h[0], c[0]]
                k += 2
            else:
                y, h = layer(x, state[k][None])
                new_state.append(h[0])
                k += 1
            if masks is not None and l < len(self.layers) - 1:
                y = y * masks[l]
            x = y
        return self.decoder(x), new_state


# ---------------------------------------------------------------- the run

class Dist:
    """torch.distributed when launched by torchrun (WORLD_SIZE set), else one process."""

    def __init__(self, device_kind):
        self.world = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        self.local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        if device_kind == 'auto':
            device_kind = 'cuda' if torch.cuda.is_available() else 'cpu'
        if device_kind == 'cuda':
            if not torch.cuda.is_available():
                raise RunError('--device cuda: this PyTorch sees no CUDA device (torch.cuda.is_available() is False); use --device cpu')
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device('cuda', self.local_rank)
        else:
            self.device = torch.device('cpu')
        self.kind = device_kind
        if self.world > 1:
            import torch.distributed as dist
            os.environ.setdefault('NCCL_ASYNC_ERROR_HANDLING', '1')  # a dead peer is an error, not a hang
            dist.init_process_group('nccl' if device_kind == 'cuda' else 'gloo')
            self.dist = dist
        else:
            self.dist = None

    def all_sum(self, t):
        if self.dist is not None:
            self.dist.all_reduce(t)
        return t

    def close(self):
        if self.dist is not None:
            self.dist.destroy_process_group()


def streams_of(B, world, rank):
    return (rank * B) // world, ((rank + 1) * B) // world


class Run:
    def __init__(self, run_dir, device_kind):
        self.dir = run_dir
        with open(os.path.join(run_dir, 'torch.json'), encoding='utf-8') as f:
            self.spec = json.load(f)
        spec = self.spec
        if spec.get('format') != 'charrnn-torch-run' or spec.get('version') != 1:
            raise RunError('%s/torch.json is not a charrnn torch run (prepare it with charrnn train --engine torch --prepare-only)' % run_dir)
        if 'scheduleFix' not in spec:
            raise RunError('%s/torch.json was prepared by an older charrnn (it has no scheduleFix); prepare it again with charrnn train --engine torch --prepare-only' % run_dir)
        self.c = c = spec['config']
        self.m = spec['model']
        self.vocab = spec['vocab']
        if c['onNan'] != 'stop':
            raise RunError('--on-nan %s is not supported by the torch engine; use --on-nan stop' % c['onNan'])
        self.d = d = Dist(device_kind)
        self.B, self.T = c['batch'], c['seqLen']
        if self.B < d.world:
            raise RunError('--batch %d is fewer streams than the %d ranks (each rank trains its own streams); use --batch ≥ %d or fewer processes' % (self.B, d.world, d.world))
        self.lo, self.hi = streams_of(self.B, d.world, d.rank)
        ids = spec['ids']
        self.ids = np.memmap(os.path.join(run_dir, ids['file']), dtype=np.dtype(ids['dtype']).newbyteorder('<'), mode='r', shape=(ids['length'],))
        tr, va = spec['split']['train'], spec['split']['val']
        self.train_ids = self.ids[tr[0]:tr[1]]
        self.val_ids = self.ids[va[0]:va[1]]
        # Batcher (src/data.ts): B streams of L characters, windows of T
        self.stream_len = (len(self.train_ids) - 1) // self.B
        self.windows = self.stream_len // self.T
        if self.windows < 1:
            raise RunError('the training split has %d characters but --batch %d × --seq-len %d needs at least %d; use a smaller --batch or --seq-len, or more text' % (len(self.train_ids), self.B, self.T, self.B * self.T + 1))
        dev = d.device
        torch.manual_seed(c['seed'])  # nothing random is drawn from it; the weights come from the checkpoint
        self.model = CharRNN(self.m).to(dev)
        self.named = self.model.named()
        self.sizes = [p.numel() for _, p in self.named]
        self.P = sum(self.sizes)
        self.load(os.path.join(run_dir, 'latest.safetensors'))
        for layer in self.model.layers:
            layer.flatten_parameters()

    # ---- checkpoint in / out (src/checkpoint.ts) ----
    def load(self, path):
        if not os.path.exists(path):
            raise RunError('%s is missing; prepare the run with charrnn train --engine torch' % path)
        tensors, meta = read_safetensors(path)
        if meta.get('format') != 'charrnn' or 'train_state' not in meta:
            raise RunError('%s is not a charrnn checkpoint with a training state' % path)
        dev = self.d.device

        def flat(prefix):
            parts = []
            for (name, p) in self.named:
                a = tensors.get(prefix + name)
                if a is None or list(a.shape) != list(p.shape):
                    raise RunError('%s: tensor %s is missing or has the wrong shape for this run' % (path, prefix + name))
                parts.append(a.reshape(-1))
            return torch.from_numpy(np.concatenate(parts)).to(dev)

        self.p = flat('')  # (P) parameters in checkpoint order and PyTorch layout
        self.mom1 = flat('optimizer.m.')  # (P) adam m / sgd momentum
        self.mom2 = flat('optimizer.v.')  # (P) adam v / rmsprop v / adagrad sum of squares
        self.write_params()
        st = json.loads(meta['train_state'])
        self.st = st
        H = self.m['hidden']
        names = []
        for l in range(self.m['layers']):
            names.append('state.h_l%d' % l)
            if self.m['type'] == 'lstm':
                names.append('state.c_l%d' % l)
        self.state = []  # this rank's streams: (b, H) per layer (h, c)
        for n in names:
            a = tensors.get(n)
            if a is None or list(a.shape) != [self.B, H]:
                raise RunError('%s: %s is missing or not (%d, %d)' % (path, n, self.B, H))
            self.state.append(torch.from_numpy(a[self.lo:self.hi].copy()).to(dev))
        self.rng = Rng(st['rng'])
        self.sample_rng = Rng(st['sampleRng'])

    def write_params(self):
        off = 0
        with torch.no_grad():
            for (name, p), n in zip(self.named, self.sizes):
                p.copy_(self.p[off:off + n].view_as(p))
                off += n

    def full_state(self):
        """The carried state of all B streams (a collective: every rank calls it)."""
        out = []
        for s in self.state:
            full = torch.zeros((self.B, s.shape[1]), dtype=torch.float32, device=self.d.device)
            full[self.lo:self.hi] = s
            out.append(self.d.all_sum(full).cpu().numpy())
        return out

    def checkpoint_bytes(self, carried):
        def split(flat_t):
            a = flat_t.detach().cpu().numpy()
            out, off = [], 0
            for (name, p), n in zip(self.named, self.sizes):
                out.append(a[off:off + n].reshape(tuple(p.shape)))
                off += n
            return out
        names = [n for n, _ in self.named]
        tensors = list(zip(names, split(self.p)))
        tensors += [('optimizer.m.' + n, a) for n, a in zip(names, split(self.mom1))]
        tensors += [('optimizer.v.' + n, a) for n, a in zip(names, split(self.mom2))]
        k = 0
        for l in range(self.m['layers']):
            tensors.append(('state.h_l%d' % l, carried[k]))
            k += 1
            if self.m['type'] == 'lstm':
                tensors.append(('state.c_l%d' % l, carried[k]))
                k += 1
        st = dict(self.st)
        st['rng'] = self.rng.state
        st['sampleRng'] = self.sample_rng.state
        meta = {
            'format': 'charrnn', 'format_version': str(FORMAT_VERSION),
            'config': self.spec['configJson'], 'model': self.spec['modelJson'], 'vocab': json.dumps(self.vocab, separators=(',', ':')),
            'train_state': json.dumps(st, separators=(',', ':'), allow_nan=False),
        }
        return encode_safetensors(tensors, meta)

    # ---- data (Batcher.fill, for this rank's streams) ----
    def window(self, w):
        """Inputs and targets (T, b) int64 of window w for streams lo..hi-1."""
        starts = np.arange(self.lo, self.hi, dtype=np.int64) * self.stream_len + w * self.T
        idx = starts[None, :] + np.arange(self.T + 1, dtype=np.int64)[:, None]  # (T+1, b)
        chunk = torch.from_numpy(self.train_ids[idx].astype(np.int64)).to(self.d.device, non_blocking=True)
        return chunk[:-1], chunk[1:]

    def reset_state(self):
        for s in self.state:
            s.zero_()

    # ---- one training step; returns (loss, grad norm, stop flag agreed by all ranks) ----
    def grads(self, inputs, targets, masks):
        """Forward + backward on this rank's streams; loss scaled for the global mean. Returns flat g (P) and the summed loss."""
        model = self.model
        model.zero_grad(set_to_none=False)
        logits, new_state = model(inputs, self.state, masks)
        V = self.m['vocabSize']
        loss_sum = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction='sum')
        (loss_sum / (self.B * self.T)).backward()
        g = torch.cat([p.grad.reshape(-1) for _, p in self.named])
        self.state = [s.detach() for s in new_state]
        return g, loss_sum.detach()

    def dropout_masks(self):
        p = self.m['dropout']
        if p <= 0 or self.m['layers'] < 2:
            return None
        seed = self.rng.next_u32()  # one draw per step: the run's generator advances as a resumed run expects
        gen = torch.Generator(device=self.d.device)
        gen.manual_seed(seed)
        keep = 1 - p
        H = self.m['hidden']
        out = []
        for _ in range(self.m['layers'] - 1):
            r = torch.rand((self.T, self.B, H), generator=gen, device=self.d.device)[:, self.lo:self.hi]
            out.append((r < keep).to(torch.float32) / keep)
        return out

    def step(self, lr, flags):
        """One optimizer step on the global window; flags (float list) are summed over ranks with the gradient."""
        c = self.c
        st = self.st
        if st['window'] == 0:
            self.reset_state()  # each epoch starts from the zero state
        inputs, targets = self.window(st['window'])
        g, loss_sum = self.grads(inputs, targets, self.dropout_masks())
        extra = torch.tensor([float(loss_sum)] + list(flags), dtype=torch.float32, device=self.d.device)
        buf = self.d.all_sum(torch.cat([g, extra]))  # one all-reduce: gradient, loss, flags
        g = buf[:self.P]
        loss = float(buf[self.P]) / (self.B * self.T)
        got = buf[self.P + 1:].tolist()
        norm = float(torch.linalg.vector_norm(g, dtype=torch.float64))
        if not (math.isfinite(norm) and math.isfinite(loss)):
            return loss, float('nan'), got
        if c['clip'] > 0:
            if c['clipMode'] == 'norm' and norm > c['clip']:
                g.mul_(c['clip'] / norm)
            elif c['clipMode'] == 'value':
                g.clamp_(-c['clip'], c['clip'])
        self.update(g, lr)
        return loss, norm, got

    @torch.no_grad()
    def update(self, g, lr):
        c, p, m, v = self.c, self.p, self.mom1, self.mom2
        self.st['optimizerSteps'] += 1
        t = self.st['optimizerSteps']
        wd = c['weightDecay']
        gi = g.add(p, alpha=wd) if wd else g
        opt = c['optimizer']
        if opt == 'adam':
            b1, b2 = c['beta1'], c['beta2']
            m.mul_(b1).add_(gi, alpha=1 - b1)
            v.mul_(b2).addcmul_(gi, gi, value=1 - b2)
            denom = (v / (1 - b2 ** t)).sqrt_().add_(c['eps'])
            p.addcdiv_(m, denom, value=-lr / (1 - b1 ** t))
        elif opt == 'rmsprop':
            a = c['alpha']
            v.mul_(a).addcmul_(gi, gi, value=1 - a)
            p.addcdiv_(gi, v.sqrt().add_(c['eps']), value=-lr)
        elif opt == 'adagrad':
            v.addcmul_(gi, gi)
            p.addcdiv_(gi, v.sqrt().add_(c['eps']), value=-lr)
        elif opt == 'sgd':
            if t == 1:
                m.copy_(gi)
            else:
                m.mul_(c['momentum']).add_(gi)
            p.add_(m, alpha=-lr)
        else:
            raise RunError('--optimizer %s is not supported by the torch engine' % opt)
        self.write_params()

    # ---- validation (EvalBatcher + evaluateIds), streams split among the ranks ----
    @torch.no_grad()
    def validation_loss(self):
        T = self.T
        n = max(0, len(self.val_ids) - 1)
        Bv = max(1, min(self.B, n // T))
        L = n // Bv
        windows = -(-L // T)
        lo, hi = streams_of(Bv, self.d.world, self.d.rank)
        H = self.m['hidden']
        dev = self.d.device
        k = 2 if self.m['type'] == 'lstm' else 1
        state = [torch.zeros((hi - lo, H), device=dev) for _ in range(self.m['layers'] * k)]
        total = torch.zeros(2, dtype=torch.float64, device=dev)
        if hi > lo:
            starts = np.arange(lo, hi, dtype=np.int64) * L
            for w in range(windows):
                pos = w * T + np.arange(T, dtype=np.int64)  # (T)
                valid = pos < L
                idx = starts[None, :] + np.minimum(pos, max(L - 1, 0))[:, None]  # (T, b), clamped where padded
                inp = self.val_ids[idx].astype(np.int64)
                tgt = self.val_ids[idx + 1].astype(np.int64)
                inp[~valid] = 0
                tgt[~valid] = -1
                logits, state = self.model(torch.from_numpy(inp).to(dev), state)
                V = self.m['vocabSize']
                loss = F.cross_entropy(logits.reshape(-1, V), torch.from_numpy(tgt).to(dev).reshape(-1), ignore_index=-1, reduction='sum')
                total[0] += loss.double()
                total[1] += float(valid.sum()) * (hi - lo)
        self.d.all_sum(total)
        s, cnt = total.tolist()
        return s / cnt if cnt > 0 else float('nan')

    # ---- sampling (src/sample.ts Sampler.generate with temperature, no prime) ----
    @torch.no_grad()
    def sample(self, length, temperature):
        V = len(self.vocab)
        rng = self.sample_rng
        H = self.m['hidden']
        k = 2 if self.m['type'] == 'lstm' else 1
        dev = self.d.device
        state = [torch.zeros((1, H), device=dev) for _ in range(self.m['layers'] * k)]
        try:
            first = self.vocab.index(10)
        except ValueError:
            first = int(rng.next() * V)
        out = []

        def feed(i, state):
            logits, state = self.model(torch.tensor([[i]], device=dev), state)
            return logits.reshape(-1).double().cpu().tolist(), state

        z, state = feed(first, state)
        for n in range(length):
            if temperature == 0:
                i = max(range(V), key=lambda j: (z[j], -j))
            else:
                mx = max(z)
                p = [math.exp((x - mx) / temperature) for x in z]
                u = rng.next() * sum(p)
                i = None
                for j in range(V):
                    if p[j] == 0:
                        continue
                    u -= p[j]
                    if u < 0:
                        i = j
                        break
                if i is None:  # round-off left u ≥ 0
                    i = max(j for j in range(V) if p[j] > 0)
            out.append(chr(self.vocab[i]))
            if n + 1 < length:
                z, state = feed(i, state)
        return ''.join(out)


# ---------------------------------------------------------------- the lr schedule (src/schedule.ts)

def schedule_factor(c, i, n):
    """w(i) · d(i) of the peak lr at iteration i (0-based); n = None: the span is not fixed yet."""
    if c['lrSchedule'] == 'step':
        return 1.0
    w = min(1.0, (i + 1) / c['warmup']) if c['warmup'] > 0 else 1.0
    if n is None or n <= 0:
        return w
    x = min(i, n) / n
    d = 0.5 * (1 + math.cos(math.pi * x)) if c['lrSchedule'] == 'cosine' else 1 - x
    return w * (c['lrFinal'] + (1 - c['lrFinal']) * d)


def estimate_iters(it, seconds, c, windows):
    """A --max-time budget's iterations from the speed so far, capped by the other limits (estimateIters)."""
    n = max(it + 1, int(math.floor(it * c['maxTime'] / seconds + 0.5)))
    if c['maxIters'] > 0:
        n = min(n, c['maxIters'])
    if c['epochs'] > 0:
        n = min(n, int(math.ceil(c['epochs'] * windows)))
    return n


def schedule_measured(fix, c, it, seconds):
    """When the trainer fixes a --max-time schedule (scheduleSpan in src/schedule.ts): past the first evaluation
    and a budgetShare of the budget (at most evalShareSeconds in), or a lateShare of the budget.
    The thresholds `fix` are torch.json's scheduleFix: SCHEDULE_FIX of src/schedule.ts is their one
    source, so the engines cannot drift apart."""
    return (it > c['evalEvery'] and seconds >= min(fix['evalShareSeconds'], fix['budgetShare'] * c['maxTime'])) \
        or seconds >= fix['lateShare'] * c['maxTime']


# ---------------------------------------------------------------- the loop (src/train.ts Trainer.run)

class Stop:
    """Ctrl-C / SIGTERM (torchrun forwards the launcher's signal to every rank): stop after this step, save."""

    def __init__(self):
        self.requested = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle)

    def handle(self, signum, frame):
        self.requested = True


def train(run_dir, device_kind):
    stop = Stop()
    run = Run(run_dir, device_kind)
    d, c, st = run.d, run.c, run.st
    lead = d.rank == 0
    paths = {k: os.path.join(run_dir, k + s) for k, s in (('latest', '.safetensors'), ('best', '.safetensors'), ('metrics', '.jsonl'), ('samples', '.jsonl'))}
    if lead:
        for k in ('metrics', 'samples'):
            trim_log(paths[k], st['iter'])
    fail_at = os.environ.get('CHARRNN_TORCH_FAIL_AT')  # "RANK:ITER": tests make that rank raise there
    fail = tuple(int(x) for x in fail_at.split(':')) if fail_at else None
    B, T = run.B, run.T
    windows = run.windows
    V = len(run.vocab)
    device_name = '%s%s' % (d.kind, ' ×%d' % d.world if d.world > 1 else '')
    if lead:
        emit({'type': 'start', 'params': run.P, 'vocabSize': V, 'trainChars': len(run.train_ids), 'valChars': len(run.val_ids),
              'windowsPerEpoch': windows, 'backend': 'torch %s %s' % (torch.__version__.split('+')[0], device_name),
              'resumed': st['iter'] > 0, 'iter': st['iter']})
        if c['lrSchedule'] != 'step' and st.get('scheduleIters') is not None:
            emit({'type': 'schedule', 'iter': st['iter'], 'schedule': c['lrSchedule'], 'iters': st['scheduleIters'], 'estimated': False})

    def epochs():
        return st['epoch'] + st['window'] / windows

    def stop_reason():
        if c['maxIters'] > 0 and st['iter'] >= c['maxIters']:
            return 'max-iters'
        if c['epochs'] > 0 and epochs() >= c['epochs']:
            return 'epochs'
        if time_up:
            return 'max-time'
        return None

    def eta(iters_per_sec):
        left = []
        if c['maxIters'] > 0:
            left.append((c['maxIters'] - st['iter']) / iters_per_sec)
        if c['epochs'] > 0:
            left.append(((c['epochs'] - st['epoch']) * windows - st['window']) / iters_per_sec)
        if c['maxTime'] > 0:
            left.append(c['maxTime'] - st['seconds'])
        return max(0, min(left)) if left else None

    session_start = time.perf_counter()
    seconds_at_start = st['seconds']
    loss_sum, loss_count = 0.0, 0
    smooth = st['lastTrainLoss'] if st['lastTrainLoss'] is not None else math.log(V)
    grad_norm = 0.0
    last_eval_iter = -1
    exploding = False
    time_up = c['maxTime'] > 0 and st['seconds'] >= c['maxTime']
    aborted = False

    def tick():
        st['seconds'] = seconds_at_start + (time.perf_counter() - session_start)

    def evaluate():
        nonlocal loss_sum, loss_count, last_eval_iter
        val = run.validation_loss()
        tr = loss_sum / loss_count if loss_count > 0 else (st['lastTrainLoss'] if st['lastTrainLoss'] is not None else float('nan'))
        loss_sum, loss_count = 0.0, 0
        st['lastTrainLoss'] = tr if math.isfinite(tr) else None
        st['lastValLoss'] = val if math.isfinite(val) else None
        is_best = math.isfinite(val) and (st['bestValLoss'] is None or val < st['bestValLoss'])
        if is_best:
            st['bestValLoss'] = val
        last_eval_iter = st['iter']
        tick()
        metrics = {'iter': st['iter'], 'epoch': epochs(), 'seconds': st['seconds'], 'train_loss': tr, 'train_bpc': tr / math.log(2),
                   'val_loss': val, 'val_bpc': val / math.log(2),
                   'chars_per_s': st['trainChars'] / st['trainSeconds'] if st['trainSeconds'] > 0 else 0,
                   'lr': st['lr'] * schedule_factor(c, st['iter'], st.get('scheduleIters')), 'grad_norm': grad_norm}
        return metrics, is_best

    def save(metrics, is_best):
        """metrics first, then latest (and best), as cli/runfiles.ts saveEvaluation."""
        carried = run.full_state()  # collective
        if not lead:
            return
        data = run.checkpoint_bytes(carried)
        if metrics is not None:
            append_line(paths['metrics'], metrics)
        write_atomic(paths['latest'], data)
        if is_best:
            write_atomic(paths['best'], data)

    reason = None
    while True:
        reason = stop_reason()
        if reason:
            break
        if aborted:
            reason = 'aborted'
            break
        t0 = time.perf_counter()
        if fail and fail[0] == d.rank and fail[1] == st['iter'] + 1:
            raise RuntimeError('injected failure on rank %d at iteration %d (CHARRNN_TORCH_FAIL_AT)' % fail)
        lead_seconds = seconds_at_start + (t0 - session_start) if lead else 0.0
        over = 1.0 if lead and c['maxTime'] > 0 and lead_seconds >= c['maxTime'] else 0.0
        lr = st['lr'] * schedule_factor(c, st['iter'], st.get('scheduleIters'))
        # rank 0's clock travels with the gradient, so every rank fixes the schedule at the same step
        loss, gn, flags = run.step(lr, [1.0 if stop.requested else 0.0, over, lead_seconds])
        aborted = flags[0] > 0
        time_up = flags[1] > 0
        grad_norm = gn
        if not math.isfinite(gn):
            what = 'non-finite (gradient)' if math.isfinite(loss) else repr(loss)
            if lead:
                emit({'type': 'nan', 'iter': st['iter'], 'message': 'training loss or gradient became %s at iteration %d; try a lower --lr or --clip' % (what, st['iter'] + 1)})
            reason = 'nan'
            break
        if d.kind == 'cuda':
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        st['trainSeconds'] += t1 - t0
        st['trainChars'] += B * T
        st['iter'] += 1
        st['window'] += 1
        if st['window'] == windows:
            st['window'] = 0
            st['epoch'] += 1
            if c['lrSchedule'] == 'step' and st['epoch'] >= c['lrDecayAfter'] and c['lrDecay'] != 1:
                st['lr'] *= c['lrDecay']  # char-rnn's schedule
        tick()
        fixed = None
        if c['lrSchedule'] != 'step' and st.get('scheduleIters') is None and c['maxTime'] > 0 and flags[2] > 0 \
                and schedule_measured(run.spec['scheduleFix'], c, st['iter'], flags[2]):
            st['scheduleIters'] = fixed = estimate_iters(st['iter'], flags[2], c, windows)
        next_lr = st['lr'] * schedule_factor(c, st['iter'], st.get('scheduleIters'))
        loss_sum += loss
        loss_count += 1
        jumped = loss > 3 * smooth and not exploding
        exploding = jumped or (exploding and loss > 1.5 * smooth)
        average = smooth
        smooth = 0.98 * smooth + 0.02 * loss
        if lead:
            if fixed is not None:
                emit({'type': 'schedule', 'iter': st['iter'], 'schedule': c['lrSchedule'], 'iters': fixed, 'estimated': True})
            emit({'type': 'step', 'iter': st['iter'], 'epoch': epochs(), 'loss': loss, 'smoothLoss': smooth, 'gradNorm': gn, 'lr': next_lr,
                  'seconds': st['seconds'], 'charsPerSec': st['trainChars'] / st['trainSeconds'], 'etaSeconds': eta(1 / max(1e-9, t1 - t0))})
            if jumped:
                emit({'type': 'warning', 'iter': st['iter'], 'message': 'loss exploding: %.3f at iteration %d, over 3× its running average %.3f; if it keeps rising, lower --lr or --clip' % (loss, st['iter'], average)})
        # drawn before the evaluation's checkpoint (as src/train.ts does), so a run resumed from it
        # draws its next sample as the unbroken run does
        text = run.sample(c['sampleLength'], c['sampleTemperature']) if lead and c['sampleEvery'] > 0 and st['iter'] % c['sampleEvery'] == 0 else None
        if st['iter'] % c['evalEvery'] == 0:
            metrics, is_best = evaluate()
            if not math.isfinite(metrics['val_loss']):
                if lead:
                    emit({'type': 'nan', 'iter': st['iter'], 'message': 'validation loss became %r at iteration %d; try a lower --lr or --clip' % (metrics['val_loss'], st['iter'])})
                reason = 'nan'
                break
            if c['lrSchedule'] != 'step' and st.get('scheduleIters') is not None and c['maxTime'] > 0 and flags[2] > 0:
                st['scheduleIters'] = estimate_iters(st['iter'], flags[2], c, windows)  # refit at an evaluation (scheduleSpan): rank 0's clock
            save(metrics, is_best)
            if lead:
                emit({'type': 'eval', 'metrics': metrics, 'isBest': is_best})
        if text is not None:
            append_line(paths['samples'], {'iter': st['iter'], 'text': text})
            emit({'type': 'sample', 'iter': st['iter'], 'text': text})
    if reason != 'nan' and last_eval_iter != st['iter'] and st['iter'] > 0:
        metrics, is_best = evaluate()
        if math.isfinite(metrics['val_loss']):
            save(metrics, is_best)
            if lead:
                emit({'type': 'eval', 'metrics': metrics, 'isBest': is_best})
        else:
            if lead:
                emit({'type': 'nan', 'iter': st['iter'], 'message': 'validation loss became %r at iteration %d; the model was not saved' % (metrics['val_loss'], st['iter'])})
            reason = 'nan'
    elif reason == 'aborted':
        save(None, False)  # Ctrl-C right after an evaluation: latest is that state, written again
    tick()
    if lead:
        emit({'type': 'done', 'reason': reason, 'summary': {
            'iters': st['iter'], 'epochs': epochs(), 'seconds': st['seconds'],
            'train_chars_per_s': st['trainChars'] / st['trainSeconds'] if st['trainSeconds'] > 0 else 0,
            'train_loss': st['lastTrainLoss'], 'val_loss': st['lastValLoss'], 'best_val_loss': st['bestValLoss']}})
    d.close()
    return 1 if reason == 'nan' else 0


def first_window_grads(run_dir, out_path):
    """Test hook: loss and gradient (checkpoint names and layouts) of the run's next window, no update."""
    run = Run(run_dir, 'cpu')
    st = run.st
    if st['window'] == 0:
        run.reset_state()
    inputs, targets = run.window(st['window'])
    g, loss_sum = run.grads(inputs, targets, None)
    a = g.numpy()
    tensors, off = [], 0
    for (name, p), n in zip(run.named, run.sizes):
        tensors.append((name, a[off:off + n].reshape(tuple(p.shape))))
        off += n
    tensors.append(('loss', np.array([float(loss_sum) / (run.B * run.T)], dtype=np.float32)))
    write_atomic(out_path, encode_safetensors(tensors, {'format': 'charrnn-grads'}))


def measure_speed(run_dir, device_kind, seconds):
    """Training chars/s of the prepared run on this device: the budget rule's gauge under
    --engine torch (cli/train.ts chooseForBudget). Run.step (the engine's own step, not a copy)
    once to warm up (allocations, cuDNN plans), then for about `seconds` (at least 2 steps); the
    weights it changes stay in memory, nothing is written. One JSON line per run directory."""
    run = Run(run_dir, device_kind)
    st = run.st

    def step():
        if st['window'] >= run.windows:
            st['window'] = 0  # Run.step starts an epoch's zero state at window 0
        run.step(st['lr'], [0.0, 0.0, 0.0])
        st['window'] += 1

    def sync():
        if run.d.kind == 'cuda':
            torch.cuda.synchronize()

    step()
    sync()
    n = 0
    t0 = time.perf_counter()
    while n < 2 or time.perf_counter() - t0 < seconds:
        step()
        n += 1
    sync()
    elapsed = time.perf_counter() - t0
    emit({'type': 'measure', 'dir': run_dir, 'charsPerSec': n * run.B * run.T / elapsed, 'steps': n, 'seconds': elapsed,
          'backend': 'torch %s %s' % (torch.__version__.split('+')[0], run.d.kind), 'threads': torch.get_num_threads()})
    run.d.close()


def main(argv):
    device = os.environ.get('CHARRNN_TORCH_DEVICE', 'auto')
    args = [a for a in argv if not a.startswith('--device=')]
    for a in argv:
        if a.startswith('--device='):
            device = a.split('=', 1)[1]
    rank = os.environ.get('RANK', '0')
    try:
        if len(args) >= 3 and len(args) % 2 == 1 and args[0] == 'grads':  # grads DIR OUT [DIR OUT ...]
            for i in range(1, len(args), 2):
                first_window_grads(args[i], args[i + 1])
            return 0
        if len(args) >= 2 and args[0] == 'measure':  # measure SECONDS [DIR ...]: DIRs, else one per stdin line
            dirs = args[2:] or (line.strip() for line in sys.stdin if line.strip())
            for run_dir in dirs:
                measure_speed(run_dir, device, float(args[1]))
            return 0
        if len(args) != 1:
            raise RunError('usage: charrnn_torch.py [--device=cpu|cuda|auto] RUN_DIR')
        return train(args[0], device)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if not isinstance(e, RunError):
            msg = '%s: %s' % (type(e).__name__, msg)
        emit({'type': 'error', 'rank': int(rank), 'message': msg})
        if os.environ.get('CHARRNN_DEBUG'):
            raise
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
