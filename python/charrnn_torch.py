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
Dropout sits where ours does (outputs of every layer but the last, with --embed-dropout the
embedded input, and with --weight-drop each layer's recurrent weights W_hh, one mask a window,
scaled by 1/(1-p)); its masks come from torch's generator seeded by one draw of
our xoshiro128** per step, for the whole global window, so they do not depend on the number of
ranks (but differ from our engine's masks).
"""
import contextlib
import ctypes
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
from torch import _VF

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
GATES = {'lstm': 4, 'gru': 3, 'rnn': 1}  # pre-activations per hidden unit (src/model/layer.ts GATES)
# What nn.LSTM / nn.GRU / nn.RNN call inside, given the weights as a list: a layer with weight drop
# runs on W_hh * mask this way. (torch 1.13's stateless.functional_call left an nn.LSTM on its own
# flattened weights, silently.)
VF_CELLS = {'lstm': _VF.lstm, 'gru': _VF.gru, 'rnn': _VF.rnn_tanh}


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
        """ids (T, b) int64; state: per layer h (b, H) [and c]; masks: None, or (the embedding's
        (T, b, E) or None, per layer but the last (T, b, H) or None, per layer its W_hh's (G, H)
        or None) when training. Returns logits (T, b, V) and the state after the window."""
        m = self.cfg
        x = self.embedding(ids) if self.embedding is not None else F.one_hot(ids, m['vocabSize']).to(self.decoder.weight.dtype)
        embed_mask, masks, weight_masks = masks if masks is not None else (None, None, None)
        if embed_mask is not None:
            x = x * embed_mask
        lstm = m['type'] == 'lstm'
        new_state = []
        k = 0
        for l, layer in enumerate(self.layers):
            hx = (state[k][None], state[k + 1][None]) if lstm else state[k][None]
            if weight_masks is None:
                y, hx = layer(x, hx)
            else:  # the cell on W_hh * mask: gradients reach W_hh through the product, masked
                w = [layer.weight_ih_l0, layer.weight_hh_l0 * weight_masks[l], layer.bias_ih_l0, layer.bias_hh_l0]
                out = VF_CELLS[m['type']](x, hx, w, True, 1, 0.0, True, False, False)
                y, hx = (out[0], out[1:]) if lstm else out
            if lstm:
                new_state += [hx[0][0], hx[1][0]]
                k += 2
            else:
                new_state.append(hx[0])
                k += 1
            if masks is not None and l < len(self.layers) - 1:
                y = y * masks[l]
            x = y
        return self.decoder(x), new_state


# ---------------------------------------------------------------- host reads (src/step.ts StepWords)

class HostReads:
    """Every read of device numbers by the host goes through host_read() (below). On CUDA each one
    waits for the GPU to finish everything queued, so the loop reads only at its read points
    (evaluations and samples: Trainer.read_every) and a step never reads. This count proves it:
    with CHARRNN_TORCH_HOST_READS=FILE rank 0 writes {"reads": [[iteration, what, count], ...]}
    there at the end (test/torch-engine.test.ts)."""

    def __init__(self):
        self.iter = 0  # the iteration the trainer stands at (it sets this)
        self.counts = {}  # (iteration, what) -> reads

    def count(self, what):
        key = (self.iter, what)
        self.counts[key] = self.counts.get(key, 0) + 1

    def report(self, path):
        rows = [[it, what, n] for (it, what), n in sorted(self.counts.items())]
        write_atomic(path, (json.dumps({'reads': rows}) + '\n').encode('utf-8'))


HOST_READS = HostReads()


def host_read(what, *tensors):
    """The device's numbers on the host, one numpy copy per tensor; `what` names the reader for
    the count (step, eval, sample, save). One call is one wait for the device: callers pass
    together what they need together."""
    HOST_READS.count(what)
    return [t.detach().cpu().numpy() for t in tensors]


def to_device(a, device):
    """A host tensor on `device` without waiting for the GPU: a plain .to() from pageable memory
    synchronizes the CUDA stream; from pinned memory with non_blocking it is queued like a kernel."""
    if device.type == 'cuda':
        return a.pin_memory().to(device, non_blocking=True)
    return a.to(device)


class StepWords:
    """What training steps add to between reads, on the device (src/step.ts StepWords): the Σ of
    the windows' loss sums, steps whose ‖g‖ was not finite, the last ‖g‖, and the last step's
    flags that rode the gradient's all-reduce (stop requested, rank 0's clock past --max-time,
    rank 0's clock); the host counts the steps and characters (it wrote the targets)."""

    def __init__(self, device):
        self.loss = torch.zeros((), dtype=torch.float64, device=device)
        self.non_finite = torch.zeros((), dtype=torch.float64, device=device)
        self.grad_norm = torch.zeros((), dtype=torch.float64, device=device)
        self.flags = torch.zeros(3, dtype=torch.float64, device=device)
        self.steps = 0
        self.chars = 0

    def add(self, loss_sum, norm, finite, flags, chars):
        """One step's numbers, added on the device (nothing is read)."""
        self.loss.add_(loss_sum.double())
        self.non_finite.add_((~finite).double())
        self.grad_norm.copy_(norm)
        self.flags.copy_(flags)
        self.steps += 1
        self.chars += chars

    def read(self):
        """The numbers of the steps since the last read (one wait for the device), and start counting again."""
        both = torch.cat([self.loss.reshape(1), self.non_finite.reshape(1), self.grad_norm.reshape(1), self.flags])
        got = host_read('step', both)[0].tolist()
        out = {'steps': self.steps, 'chars': self.chars, 'lossSum': got[0], 'loss': got[0] / self.chars if self.chars > 0 else float('nan'),
               'nonFinite': got[1], 'gradNorm': got[2], 'flags': got[3:]}
        self.loss.zero_()
        self.non_finite.zero_()
        self.steps = 0
        self.chars = 0
        return out


# ---------------------------------------------------------------- threads

def openblas():
    """The OpenBLAS this process loaded (Debian's torch calls the system BLAS, libblas.so.3, which
    may be OpenBLAS or the reference BLAS) as a ctypes handle, or None. /proc/self/maps names
    what was actually loaded, whatever the alternatives system points at."""
    try:
        with open('/proc/self/maps') as f:
            libs = sorted({line.split()[-1] for line in f if 'blas' in line.split()[-1].rsplit('/', 1)[-1]})
    except OSError:
        return None, None
    for lib in libs:
        try:
            so = ctypes.CDLL(lib)
            so.openblas_get_config.restype = ctypes.c_char_p
            so.openblas_get_corename.restype = ctypes.c_char_p
            so.openblas_get_num_threads()
            return so, lib
        except (OSError, AttributeError):
            continue
    return None, (libs[0] if libs else None)


def torch_blas():
    """The BLAS torch itself was built to call: 'mkl' (pip's wheels: linked into torch), or
    'generic' / 'open' (Debian's: the system libblas.so.3, found at run time)."""
    for kv in torch.__config__.show().replace(',', ' ').split():
        if kv.startswith('BLAS_INFO='):
            return kv.split('=', 1)[1]
    return None


def keep_freed_memory():
    """Ask glibc's malloc to keep the memory a step frees for the next step. By default it gives
    freed memory back to the system (it trims the heap's top, and serves big blocks, such as a
    window's activations, as fresh mappings), so every step faults the same pages in again; on
    the 2-core VMs of docs/pytorch.md that cost the engine a third of its speed with PyTorch 1.13
    (LSTM 2x128 B50: 34 K chars/s against 50 K when kept) and made it swing from run to run.
    The pages kept are the step's own working set, so the process does not grow beyond its peak.
    A user's own GLIBC_TUNABLES / MALLOC_* setting wins; nothing happens off glibc. Returns
    whether it was set."""
    if any(k.startswith('MALLOC_') for k in os.environ) or 'malloc' in os.environ.get('GLIBC_TUNABLES', ''):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): its own allocator's policy stands
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    # a fixed mmap threshold at glibc's largest (32 MiB) also stops its dynamic one moving
    return bool(mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1)) and bool(mallopt(M_MMAP_THRESHOLD, 32 << 20))


# Multiply-adds of one recurrent step's GEMM (rows of the batch x H x gates*H) below which MKL's
# intra-op threads cost more than they save. Measured with pip's torch 2.13 on a 2-core AMD EPYC
# (Zen 5): LSTM 2x128 B50 (3.3 M) trained at 104 K chars/s on 1 thread and 40 K on 2; LSTM 2x512
# B50 (52 M) at 5.1 K on 1 thread and 8.8 K on 2. (Our own backends have the same kind of rule.)
PARALLEL_MIN_MACS = 8 << 20


def choose_threads(step_macs):
    """Set torch's intra-op threads and the BLAS threads for this machine; returns how, in words.

    torch with MKL (pip's wheels): torch's intra-op pool is MKL's too; one thread per core the
    process may run on, when a recurrent step's GEMM (`step_macs` multiply-adds) is big enough
    to share (PARALLEL_MIN_MACS), else 1. An OpenBLAS in the process then is numpy's own (pip's
    numpy bundles one), which torch never calls: it is left alone and not named.
    torch on the system BLAS (Debian's): measured on the 2-core machines (docs/pytorch.md,
    PyTorch 1.13 with OpenBLAS), 1 torch thread and OpenBLAS on every core is the fastest setting
    by far (2 torch threads were 3-4× slower: the big GEMMs are OpenBLAS's, and torch's own
    parallel loops over the small element-wise ops cost more than they save).
    A user's OMP_NUM_THREADS / MKL_NUM_THREADS / OPENBLAS_NUM_THREADS win. OPENBLAS_CORETYPE is
    never set here (a wrong kernel set is slower or crashes); the kernel set in use is named."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    blas = torch_blas()
    if blas == 'mkl':
        small = step_macs < PARALLEL_MIN_MACS
        if 'OMP_NUM_THREADS' not in os.environ and 'MKL_NUM_THREADS' not in os.environ:
            torch.set_num_threads(1 if small else cores)
        n = torch.get_num_threads()
        why = ' (a step of %.1f M multiply-adds is too small to share)' % (step_macs / 1e6) if small and n == 1 and cores > 1 else ''
        return '%d intra-op thread%s, MKL%s' % (n, '' if n == 1 else 's', why)
    so, lib = openblas()
    if so is not None and 'OMP_NUM_THREADS' not in os.environ:
        torch.set_num_threads(1)
    if so is not None and 'OPENBLAS_NUM_THREADS' not in os.environ:
        so.openblas_set_num_threads(cores)
    n = torch.get_num_threads()
    words = '%d intra-op thread%s' % (n, '' if n == 1 else 's')
    if so is not None:
        config = so.openblas_get_config().decode(errors='replace').split()
        version = config[1] if len(config) > 1 and config[0] == 'OpenBLAS' else ''
        core = so.openblas_get_corename().decode(errors='replace')
        forced = ', OPENBLAS_CORETYPE' if os.environ.get('OPENBLAS_CORETYPE') else ''
        k = so.openblas_get_num_threads()
        return '%s, OpenBLAS%s (%s kernels%s) %d thread%s' % (words, ' ' + version if version else '', core, forced, k, '' if k == 1 else 's')
    if lib is not None:
        return '%s, BLAS %s (not OpenBLAS, which is far faster: apt-get install libopenblas0)' % (words, os.path.basename(lib))
    return '%s, BLAS %s' % (words, blas or 'unknown')


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


def eval_prefix(ids, n, T):
    """src/evaluate.ts evalPrefix: the first max(n, T + 1) characters under --eval-chars n, all of them when n is 0."""
    return ids[:min(len(ids), max(n, T + 1))] if n > 0 else ids


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
        if 'lossWatch' not in spec:
            raise RunError('%s/torch.json was prepared by an older charrnn (it has no lossWatch); prepare it again with charrnn train --engine torch --prepare-only' % run_dir)
        self.c = c = spec['config']
        self.m = spec['model']
        self.vocab = spec['vocab']
        if c['onNan'] != 'stop':
            raise RunError('--on-nan %s is not supported by the torch engine; use --on-nan stop' % c['onNan'])
        self.d = d = Dist(device_kind)
        gates = GATES[self.m['type']]
        step_macs = (c['batch'] // max(d.world, 1)) * self.m['hidden'] * gates * self.m['hidden']
        self.threads = choose_threads(step_macs)  # before the first torch op, which would start its thread pool
        keep_freed_memory()
        self.words = StepWords(d.device)
        self.grads_checked = False
        self.consts = {}  # const(): 0-dim device tensors of the optimizer's constants
        self.poison = False  # tests (CHARRNN_TORCH_NAN_AT): the next step's gradient gets a NaN
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
        self.P = P = sum(self.sizes)
        # One flat buffer holds every parameter, one every gradient, in checkpoint order: the
        # modules' weights and .grad are views into them (autograd accumulates into a .grad in
        # place), so the norm, the clip, the optimizer and the all-reduce each see one tensor, and
        # nothing is concatenated or copied back per step. The gradient buffer's last 4 numbers
        # are the window's loss sum and the 3 flags that ride the same all-reduce.
        self.p = torch.zeros(P, dtype=torch.float32, device=dev)  # (P)
        self.gbuf = torch.zeros(P + 4, dtype=torch.float32, device=dev)  # (P + 1 + 3)
        self.g = self.gbuf[:P]
        off = 0
        for (name, p), n in zip(self.named, self.sizes):
            p.data = self.p[off:off + n].view_as(p)
            p.grad = self.g[off:off + n].view_as(p)
            off += n
        self.load(os.path.join(run_dir, 'latest.safetensors'))

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

        self.p.copy_(flat(''))  # (P) parameters in checkpoint order and PyTorch layout: the modules' weights
        self.mom1 = flat('optimizer.m.')  # (P) adam m / sgd momentum
        self.mom2 = flat('optimizer.v.')  # (P) adam v / rmsprop v / adagrad sum of squares
        averaging = self.c.get('ema', 0) > 0
        self.ema = flat('ema.') if averaging else None  # (P) --ema: the weights' moving average
        self.raw = torch.empty_like(self.p) if averaging else None  # (P) the raw weights while the average stands in (averaged())
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

    def full_state(self):
        """The carried state of all B streams (a collective: every rank calls it)."""
        out = []
        for s in self.state:
            full = torch.zeros((self.B, s.shape[1]), dtype=torch.float32, device=self.d.device)
            full[self.lo:self.hi] = s
            out.append(self.d.all_sum(full))
        return host_read('save', *out)

    def checkpoint_bytes(self, carried, best=False):
        """latest.safetensors' bytes, and with `best` those of best.safetensors (else None): with --ema
        the average as its weights (src/train.ts bestCheckpoint), else the same bytes. One host read."""
        def split(a):
            out, off = [], 0
            for (name, p), n in zip(self.named, self.sizes):
                out.append(a[off:off + n].reshape(tuple(p.shape)))
                off += n
            return out
        names = [n for n, _ in self.named]
        p, m, v, *ema = host_read('save', self.p, self.mom1, self.mom2, *([] if self.ema is None else [self.ema]))
        train = [('optimizer.m.' + n, a) for n, a in zip(names, split(m))]
        train += [('optimizer.v.' + n, a) for n, a in zip(names, split(v))]
        if ema:
            train += [('ema.' + n, a) for n, a in zip(names, split(ema[0]))]
        k = 0
        for l in range(self.m['layers']):
            train.append(('state.h_l%d' % l, carried[k]))
            k += 1
            if self.m['type'] == 'lstm':
                train.append(('state.c_l%d' % l, carried[k]))
                k += 1
        st = dict(self.st)
        st['rng'] = self.rng.state
        st['sampleRng'] = self.sample_rng.state
        meta = {
            'format': 'charrnn', 'format_version': str(FORMAT_VERSION),
            'config': self.spec['configJson'], 'model': self.spec['modelJson'], 'vocab': json.dumps(self.vocab, separators=(',', ':')),
            'train_state': json.dumps(st, separators=(',', ':'), allow_nan=False),
        }
        latest = encode_safetensors(list(zip(names, split(p))) + train, meta)
        if not best:
            return latest, None
        return latest, encode_safetensors(list(zip(names, split(ema[0]))) + train, meta) if ema else latest

    # ---- data (Batcher.fill, for this rank's streams) ----
    def window(self, w):
        """Inputs and targets (T, b) int64 of window w for streams lo..hi-1."""
        starts = np.arange(self.lo, self.hi, dtype=np.int64) * self.stream_len + w * self.T
        idx = starts[None, :] + np.arange(self.T + 1, dtype=np.int64)[:, None]  # (T+1, b)
        chunk = to_device(torch.from_numpy(self.train_ids[idx].astype(np.int64)), self.d.device)
        return chunk[:-1], chunk[1:]

    def reset_state(self):
        for s in self.state:
            s.zero_()

    # ---- one training step; returns (loss, grad norm, stop flag agreed by all ranks) ----
    def grads(self, inputs, targets, masks):
        """Forward + backward on this rank's streams; loss scaled for the global mean. Returns the
        flat gradient g (P, a view of self.gbuf, accumulated there by autograd) and the summed loss."""
        self.gbuf.zero_()
        logits, new_state = self.model(inputs, self.state, masks)
        V = self.m['vocabSize']
        loss_sum = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction='sum')
        (loss_sum / (self.B * self.T)).backward()
        if not self.grads_checked:  # host metadata only (no device read): a torch that replaced a .grad would leave g at zero
            off = 0
            for (name, p), n in zip(self.named, self.sizes):
                if p.grad is None or p.grad.data_ptr() != self.g[off:off + n].data_ptr():
                    raise RuntimeError('this PyTorch (%s) did not accumulate the gradient of %s into its buffer' % (torch.__version__, name))
                off += n
            self.grads_checked = True
        self.state = [s.detach() for s in new_state]
        return self.g, loss_sum.detach()

    def dropout_masks(self):
        """(embedding mask or None, layer masks or None, W_hh masks or None) for this step, or None
        without dropout."""
        p, pe, pw = self.m['dropout'], self.m.get('embedDropout', 0), self.m.get('weightDrop', 0)
        between = p > 0 and self.m['layers'] >= 2
        if not between and pe <= 0 and pw <= 0:
            return None
        seed = self.rng.next_u32()  # one draw per step: the run's generator advances as a resumed run expects
        gen = torch.Generator(device=self.d.device)
        gen.manual_seed(seed)

        def mask(width, keep):  # the global window's, then this rank's streams
            r = torch.rand((self.T, self.B, width), generator=gen, device=self.d.device)[:, self.lo:self.hi]
            return (r < keep).to(torch.float32) / keep
        embed = mask(self.m['embed'], 1 - pe) if pe > 0 else None
        layers = [mask(self.m['hidden'], 1 - p) for _ in range(self.m['layers'] - 1)] if between else None
        H, G = self.m['hidden'], GATES[self.m['type']] * self.m['hidden']
        # one mask a layer for the whole global window (every rank draws the same), in PyTorch's (G, H)
        weights = [(torch.rand((G, H), generator=gen, device=self.d.device) < 1 - pw).to(torch.float32) / (1 - pw)
                   for _ in range(self.m['layers'])] if pw > 0 else None
        return embed, layers, weights

    def step(self, lr, flags=(0.0, 0.0, 0.0)):
        """One optimizer step on the global window, all on the device: nothing is read back, so on
        CUDA the host queues the next window while the GPU runs this one. The step's numbers go
        to self.words (read at the loop's read points); returns them as device tensors too
        (loss sum, ‖g‖, the flags), for a caller outside the loop that wants to read them.
        flags (3 floats: stop requested, rank 0 past --max-time, rank 0's clock) ride the
        gradient's all-reduce, so every rank learns the same ones at the same read."""
        c = self.c
        st = self.st
        dev = self.d.device
        if st['window'] == 0:
            self.reset_state()  # each epoch starts from the zero state
        inputs, targets = self.window(st['window'])
        g, loss_sum = self.grads(inputs, targets, self.dropout_masks())
        if self.poison:
            g[0] = float('nan')
            self.poison = False
        P, buf = self.P, self.gbuf
        buf[P].copy_(loss_sum)
        buf[P + 1:].copy_(to_device(torch.tensor(list(flags), dtype=buf.dtype), dev))
        self.d.all_sum(buf)  # one all-reduce, in place: gradient, loss, flags
        norm = torch.linalg.vector_norm(g, dtype=torch.float64)
        # A step whose ‖g‖ is not finite is skipped: update() leaves the weights and moments as
        # they were (src/backend/js.ts clipOnHost, the webgpu kernels). A non-finite loss with a
        # finite ‖g‖ is applied, as ours does; the read after it finds either.
        finite = torch.isfinite(norm)
        if c['clip'] > 0:
            if c['clipMode'] == 'norm':
                g.mul_((c['clip'] / norm).clamp(max=1.0).to(g.dtype))  # clip/‖g‖ when ‖g‖ > clip, else 1
            elif c['clipMode'] == 'value':
                g.clamp_(-c['clip'], c['clip'])
        self.update(g, lr, finite)
        loss_sum, got = buf[P].clone(), buf[P + 1:].clone()  # the next step zeroes buf
        self.words.add(loss_sum, norm, finite, got, self.B * self.T)
        return loss_sum, norm, got

    @torch.no_grad()
    def update(self, g, lr, finite):
        """The optimizer step of src/optim.ts on the flat buffers. With `finite` (a device bool)
        False it changes nothing, without a branch on a device number (no wait): the gradient it
        uses is zeroed (masked_fill_: a NaN times 0 would stay NaN), each moment's decay becomes 1,
        and Adam divides by ∞; the other optimizers' updates are then 0. Adam's step count
        advances either way, as ours."""
        c, p, m, v = self.c, self.p, self.mom1, self.mom2
        self.st['optimizerSteps'] += 1
        t = self.st['optimizerSteps']
        wd = c['weightDecay']
        if c.get('weightDecayMode', 'l2') == 'decoupled':
            # AdamW's decay, before the update and out of the gradient (src/optim.ts: not gated on finite)
            if wd:
                p.mul_(1 - lr * wd)
            wd = 0
        gi = g.add(p, alpha=wd) if wd else g
        skip = ~finite
        gi.masked_fill_(skip, 0.0)

        def decay(f):  # f, or 1 on a skipped step: a 0-dim device tensor, from constants made once (no copy to the device per step)
            return torch.where(finite, self.const(f), self.const(1.0))

        opt = c['optimizer']
        if opt == 'adam':
            b1, b2 = c['beta1'], c['beta2']
            m.mul_(decay(b1)).add_(gi, alpha=1 - b1)
            v.mul_(decay(b2)).addcmul_(gi, gi, value=1 - b2)
            denom = (v / (1 - b2 ** t)).sqrt_().add_(c['eps']).masked_fill_(skip, math.inf)
            p.addcdiv_(m, denom, value=-lr / (1 - b1 ** t))
        elif opt == 'rmsprop':
            a = c['alpha']
            v.mul_(decay(a)).addcmul_(gi, gi, value=1 - a)
            p.addcdiv_(gi, v.sqrt().add_(c['eps']), value=-lr)
        elif opt == 'adagrad':
            v.addcmul_(gi, gi)
            p.addcdiv_(gi, v.sqrt().add_(c['eps']), value=-lr)
        elif opt == 'sgd':
            if t == 1:
                m.copy_(gi)
            else:
                m.mul_(decay(c['momentum'])).add_(gi)
            p.add_(m * finite.to(p.dtype), alpha=-lr)
        else:
            raise RunError('--optimizer %s is not supported by the torch engine' % opt)
        if self.ema is not None:
            # --ema: avg = d avg + (1 - d) p with src/optim.ts emaDecay's d; held on a skipped step
            # (a select on the device bool, exact where decay 1 would round)
            d = min(c['ema'], (1 + t) / (10 + t))
            self.ema.copy_(torch.where(finite, p.mul(1 - d).add_(self.ema, alpha=d), self.ema))

    @contextlib.contextmanager
    def averaged(self):
        """With --ema, the moving average standing in for the weights (validation, samples), the raw
        weights back afterwards (src/optim.ts withAverage); without, nothing changes."""
        if self.ema is None:
            yield
            return
        self.raw.copy_(self.p)
        self.p.copy_(self.ema)
        try:
            yield
        finally:
            self.p.copy_(self.raw)

    def const(self, f):
        """The number f as a 0-dim float32 tensor on the device, made on first use."""
        t = self.consts.get(f)
        if t is None:
            t = self.consts[f] = torch.tensor(f, dtype=torch.float32, device=self.d.device)
        return t

    # ---- validation (EvalBatcher + evaluateIds), streams split among the ranks ----
    @torch.no_grad()
    def validation_loss(self, eval_chars=0):
        """(mean loss, characters predicted) over the first eval_chars characters of the split (0 = all)."""
        T = self.T
        val_ids = eval_prefix(self.val_ids, eval_chars, T)
        n = max(0, len(val_ids) - 1)
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
                inp = val_ids[idx].astype(np.int64)
                tgt = val_ids[idx + 1].astype(np.int64)
                inp[~valid] = 0
                tgt[~valid] = -1
                logits, state = self.model(torch.from_numpy(inp).to(dev), state)
                V = self.m['vocabSize']
                loss = F.cross_entropy(logits.reshape(-1, V), torch.from_numpy(tgt).to(dev).reshape(-1), ignore_index=-1, reduction='sum')
                total[0] += loss.double()
                total[1] += float(valid.sum()) * (hi - lo)
        self.d.all_sum(total)
        s, cnt = host_read('eval', total)[0].tolist()
        return (s / cnt if cnt > 0 else float('nan')), int(cnt)

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
            return host_read('sample', logits.reshape(-1).double())[0].tolist(), state

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


class Trainer:
    """The training loop of src/train.ts, method for method (run, iteration, count_step, read,
    evaluate, save, sample, stop_reason, eta, ...), on a Run (the data, model and optimizer).

    One iteration: a training step on the device (Run.step) → count it on the host → at a read
    point its numbers come back (read) → then, on their iterations, a sample and an evaluation.
    The read points are every `read_every` iterations and every evaluation and sample; read_every
    is the evaluation interval on every device (CPU and CUDA run the same code): a read waits for
    the GPU, and between reads nothing is read back, so the host queues windows while the GPU
    runs. A 'step' event is the mean loss of the steps since the last read (src/train.ts on a
    GPU); a non-finite step is found at the next read, "between iterations a and b".

    Stopping: in one process Ctrl-C and --max-time are the host's own facts (a signal, the
    clock) and are checked every iteration, as src/train.ts does. With several ranks every rank
    must stop at the same step, so they act on the flags that rode the gradient's all-reduce,
    known at the next read point.
    """

    def __init__(self, run_dir, device_kind):
        self.stop = Stop()
        self.dir = run_dir
        self.job = job = Run(run_dir, device_kind)  # the data, model and optimizer state
        self.c, self.st, self.d = job.c, job.st, job.d
        self.lead = self.d.rank == 0
        self.watch = job.spec['lossWatch']  # LOSS_WATCH of src/step.ts: one source for both engines
        self.fix = job.spec['scheduleFix']  # SCHEDULE_FIX of src/schedule.ts
        every = os.environ.get('CHARRNN_TORCH_READ_EVERY')  # 1: every step read (the tests compare each step's loss with ours; the CPU bench times each step)
        self.read_every = int(every) if every else self.c['evalEvery']
        self.paths = {k: os.path.join(run_dir, k + s) for k, s in (('latest', '.safetensors'), ('best', '.safetensors'), ('metrics', '.jsonl'), ('samples', '.jsonl'))}
        fail_at = os.environ.get('CHARRNN_TORCH_FAIL_AT')  # "RANK:ITER": tests make that rank raise there
        self.fail = tuple(int(x) for x in fail_at.split(':')) if fail_at else None
        nan_at = os.environ.get('CHARRNN_TORCH_NAN_AT')  # "ITER": tests put a NaN into that step's gradient
        self.nan_at = int(nan_at) if nan_at else None
        # the session (src/train.ts Session): the clock, loss averages; none of it is checkpointed
        st = self.st
        self.start = time.perf_counter()
        self.seconds_at_start = st['seconds']
        self.step_seconds = 0.0  # of the steps since the last read (their mean makes the ETA)
        self.loss_sum, self.loss_count = 0.0, 0  # training losses since the last evaluation
        self.smooth = st['lastTrainLoss'] if st['lastTrainLoss'] is not None else math.log(len(job.vocab))
        self.exploding = False
        self.grad_norm = 0.0
        self.last_eval_iter = -1
        self.last_eval_whole = False
        # the stop flags every rank agrees on: in one process the host's own, else those of the last read
        self.aborted = False
        self.time_up = self.c['maxTime'] > 0 and st['seconds'] >= self.c['maxTime']
        self.fixed = None  # a --max-time schedule span fixed at this iteration, for its event
        self.lead_seconds = 0.0  # rank 0's clock as last agreed

    # ---- what the loop reports ----

    @property
    def epochs(self):
        """Epochs done so far, fractional: completed epochs plus the windows of this one."""
        return self.st['epoch'] + self.st['window'] / self.job.windows

    @property
    def lr(self):
        """The learning rate of the next step: the step schedule's rate (or a span's peak) times the schedule's factor."""
        st = self.st
        return st['lr'] * schedule_factor(self.c, st['iter'], st.get('scheduleIters'))

    def stop_reason(self):
        c, st = self.c, self.st
        if self.aborted:
            return 'aborted'
        if c['maxIters'] > 0 and st['iter'] >= c['maxIters']:
            return 'max-iters'
        if c['epochs'] > 0 and self.epochs >= c['epochs']:
            return 'epochs'
        if self.time_up:
            return 'max-time'
        return None

    def eta(self, iters_per_sec):
        c, st = self.c, self.st
        left = []
        if c['maxIters'] > 0:
            left.append((c['maxIters'] - st['iter']) / iters_per_sec)
        if c['epochs'] > 0:
            left.append(((c['epochs'] - st['epoch']) * self.job.windows - st['window']) / iters_per_sec)
        if c['maxTime'] > 0:
            left.append(c['maxTime'] - st['seconds'])
        return max(0, min(left)) if left else None

    def summary(self):
        st = self.st
        return {'iters': st['iter'], 'epochs': self.epochs, 'seconds': st['seconds'],
                'train_chars_per_s': st['trainChars'] / st['trainSeconds'] if st['trainSeconds'] > 0 else 0,
                'train_loss': st['lastTrainLoss'], 'val_loss': st['lastValLoss'], 'best_val_loss': st['bestValLoss']}

    def start_event(self):
        job, d, st = self.job, self.d, self.st
        device = d.kind + (' (%s)' % torch.cuda.get_device_name(d.device) if d.kind == 'cuda' else '') + (' ×%d' % d.world if d.world > 1 else '')
        return {'type': 'start', 'params': job.P, 'vocabSize': len(job.vocab), 'trainChars': len(job.train_ids), 'valChars': len(job.val_ids),
                'windowsPerEpoch': job.windows, 'backend': 'torch %s %s, %s' % (torch.__version__.split('+')[0], device, job.threads),
                'resumed': st['iter'] > 0, 'iter': st['iter']}

    def emit(self, ev):
        if self.lead:
            emit(ev)

    def tick(self):
        """The run's seconds: those of earlier sessions plus this one's so far."""
        self.st['seconds'] = self.seconds_at_start + (time.perf_counter() - self.start)

    # ---- the loop ----

    def run(self):
        """Train until a limit, Ctrl-C or a fault stops the run; returns the exit status. Read top
        to bottom as src/train.ts run(): iterations; at the end the steps since the last
        evaluation are read, evaluated and saved."""
        c, st = self.c, self.st
        if self.lead:
            for k in ('metrics', 'samples'):
                trim_log(self.paths[k], st['iter'])
        self.emit(self.start_event())
        if c['lrSchedule'] != 'step' and st.get('scheduleIters') is not None:
            self.emit({'type': 'schedule', 'iter': st['iter'], 'schedule': c['lrSchedule'], 'iters': st['scheduleIters'], 'estimated': False})
        while True:
            reason = self.stop_reason()
            if reason:
                break
            fault = self.iteration()
            if fault:
                self.emit({'type': 'nan', 'iter': st['iter'], 'message': '%s; try a lower --lr or --clip' % fault})
                reason = 'nan'
                break
        # the last evaluation of a run is over the whole split, even where one over evalChars just ran
        if reason != 'nan' and st['iter'] > 0 and (self.last_eval_iter != st['iter'] or not self.last_eval_whole):
            fault = self.read()
            metrics, is_best = (None, False) if fault else self.evaluate(True)  # the steps since the last evaluation
            if metrics is not None and math.isfinite(metrics['val_loss']):
                self.save(metrics, is_best)
                self.emit({'type': 'eval', 'metrics': metrics, 'isBest': is_best})
            else:
                what = fault or 'validation loss became %s at iteration %d' % (js_num(metrics['val_loss']), st['iter'])
                self.emit({'type': 'nan', 'iter': st['iter'], 'message': '%s; the model was not saved' % what})
                reason = 'nan'
        elif reason == 'aborted':
            self.save(None, False)  # Ctrl-C right after an evaluation: latest is that state, written again
        self.tick()
        self.emit({'type': 'done', 'reason': reason, 'summary': self.summary()})
        return 1 if reason == 'nan' else 0

    def iteration(self):
        """One iteration: a training step; at a read point its numbers, then (on their iterations)
        a sample and an evaluation. Returns what went wrong, or None."""
        c, st, d = self.c, self.st, self.d
        HOST_READS.iter = st['iter']
        t0 = time.perf_counter()
        if self.fail and self.fail[0] == d.rank and self.fail[1] == st['iter'] + 1:
            raise RuntimeError('injected failure on rank %d at iteration %d (CHARRNN_TORCH_FAIL_AT)' % self.fail)
        lead_seconds = self.seconds_at_start + (t0 - self.start) if self.lead else 0.0
        over = self.lead and c['maxTime'] > 0 and lead_seconds >= c['maxTime']
        flags = [1.0 if self.stop.requested else 0.0, 1.0 if over else 0.0, lead_seconds]
        self.job.poison = self.nan_at == st['iter'] + 1
        self.train_step(flags)
        self.count_step(time.perf_counter() - t0)
        if d.world == 1:
            self.agree(flags)  # one process: the host's own flags, no read needed
        HOST_READS.iter = st['iter']
        evaluating = st['iter'] % c['evalEvery'] == 0
        sampling = c['sampleEvery'] > 0 and st['iter'] % c['sampleEvery'] == 0
        reading = evaluating or sampling or st['iter'] % self.read_every == 0
        fault = self.read() if reading else None
        if fault:
            return fault
        if self.fixed is not None:
            self.emit({'type': 'schedule', 'iter': st['iter'], 'schedule': c['lrSchedule'], 'iters': self.fixed, 'estimated': True})
            self.fixed = None
        if not reading:
            return None
        # drawn before the evaluation's checkpoint (as src/train.ts does), so a run resumed from it
        # draws its next sample as the unbroken run does
        text = self.sample() if sampling and self.lead else None
        if evaluating:
            metrics, is_best = self.evaluate(False)
            if not math.isfinite(metrics['val_loss']):
                return 'validation loss became %s at iteration %d' % (js_num(metrics['val_loss']), st['iter'])
            self.refit_schedule()
            self.save(metrics, is_best)
            self.emit({'type': 'eval', 'metrics': metrics, 'isBest': is_best})
        if text is not None:
            append_line(self.paths['samples'], {'iter': st['iter'], 'text': text})
            self.emit({'type': 'sample', 'iter': st['iter'], 'text': text})
        return None

    def train_step(self, flags):
        """The step (src/step.ts trainStep) on the device, at the schedule's learning rate; nothing is read."""
        self.job.step(self.lr, flags)

    def count_step(self, seconds):
        """Count a finished step: iteration, epoch, the step schedule's decay, speed."""
        c, st = self.c, self.st
        st['trainSeconds'] += seconds
        st['trainChars'] += self.job.B * self.job.T
        st['iter'] += 1
        st['window'] += 1
        self.step_seconds += seconds
        if st['window'] == self.job.windows:
            st['window'] = 0
            st['epoch'] += 1
            if c['lrSchedule'] == 'step' and st['epoch'] >= c['lrDecayAfter'] and c['lrDecay'] != 1:
                st['lr'] *= c['lrDecay']  # char-rnn's schedule
        self.tick()

    def agree(self, flags):
        """Act on the flags every rank has (Ctrl-C anywhere, rank 0's clock): stop, and fix a --max-time schedule's span."""
        c, st = self.c, self.st
        self.aborted = self.aborted or flags[0] > 0
        self.time_up = self.time_up or flags[1] > 0
        seconds = flags[2]  # rank 0's clock at the start of the last step: every rank fixes the span at the same step
        if c['lrSchedule'] != 'step' and st.get('scheduleIters') is None and c['maxTime'] > 0 and seconds > 0 \
                and schedule_measured(self.fix, c, st['iter'], seconds):
            st['scheduleIters'] = self.fixed = estimate_iters(st['iter'], seconds, c, self.job.windows)
        self.lead_seconds = seconds

    def refit_schedule(self):
        """Under --max-time, at every evaluation once the span is fixed: estimate it again from rank 0's clock (scheduleSpan)."""
        c, st = self.c, self.st
        if c['lrSchedule'] != 'step' and st.get('scheduleIters') is not None and c['maxTime'] > 0 and self.lead_seconds > 0:
            st['scheduleIters'] = estimate_iters(st['iter'], self.lead_seconds, c, self.job.windows)

    def read(self):
        """Read the numbers of the steps since the last read (one wait for the device) and report
        them: a 'step' event, an 'exploding' warning when the loss jumps. Returns what was not
        finite, or None."""
        st = self.st
        t0 = time.perf_counter()
        got = self.job.words.read()
        waited = time.perf_counter() - t0  # the device finishing the queued steps: their time
        st['trainSeconds'] += waited
        self.step_seconds += waited
        steps = got['steps']
        if steps == 0:
            return None
        if self.d.world > 1:
            self.agree(got['flags'])
        frm, to = st['iter'] - steps + 1, st['iter']
        if not math.isfinite(got['lossSum']) or got['nonFinite'] > 0:
            # --on-nan stop: the run stands where its numbers were last good (a stop saves nothing)
            if frm == to:
                what = 'non-finite (gradient)' if math.isfinite(got['lossSum']) else js_num(got['loss'])
                return 'training loss or gradient became %s at iteration %d' % (what, to)
            return ('training loss or gradient became non-finite between iterations %d and %d (found at the read after them; '
                    'the torch engine reads its numbers back only at evaluations and samples)' % (frm, to))
        loss = got['loss']
        self.grad_norm = got['gradNorm']
        self.loss_sum += loss * steps
        self.loss_count += steps
        w = self.watch
        average = self.smooth
        jumped = loss > w['explode'] * average and not self.exploding  # reported once until it calms down
        self.exploding = jumped or (self.exploding and loss > w['calm'] * average)
        keep = w['smoothing'] ** steps  # the per-step average over `steps` steps of this mean
        self.smooth = keep * self.smooth + (1 - keep) * loss
        per_step = self.step_seconds / steps  # the ETA's speed: the mean step since the last read
        self.step_seconds = 0.0
        self.emit({'type': 'step', 'iter': st['iter'], 'epoch': self.epochs, 'loss': loss, 'smoothLoss': self.smooth, 'gradNorm': self.grad_norm,
                   'lr': self.lr, 'seconds': st['seconds'], 'charsPerSec': st['trainChars'] / st['trainSeconds'], 'etaSeconds': self.eta(1 / max(1e-9, per_step))})
        if jumped:
            self.emit({'type': 'warning', 'iter': st['iter'], 'message': 'loss exploding: %.3f at iteration %d, over %s× its running average %.3f; if it keeps rising, lower --lr or --clip'
                       % (loss, st['iter'], js_num(w['explode']), average)})
        return None

    def evaluate(self, whole):
        """A validation pass (collective), and the metrics line of the iterations since the last one:
        over the whole split when `whole` (the run's last), else over the first evalChars characters."""
        st = self.st
        eval_chars = self.c.get('evalChars', 0)
        with self.job.averaged():
            val, chars = self.job.validation_loss(0 if whole else eval_chars)
        tr = self.loss_sum / self.loss_count if self.loss_count > 0 else (st['lastTrainLoss'] if st['lastTrainLoss'] is not None else float('nan'))
        self.loss_sum, self.loss_count = 0.0, 0
        st['lastTrainLoss'] = tr if math.isfinite(tr) else None
        st['lastValLoss'] = val if math.isfinite(val) else None
        is_best = math.isfinite(val) and (st['bestValLoss'] is None or val < st['bestValLoss'])
        if is_best:
            st['bestValLoss'] = val
        self.last_eval_iter = st['iter']
        self.last_eval_whole = whole or eval_chars == 0
        self.tick()
        metrics = {'iter': st['iter'], 'epoch': self.epochs, 'seconds': st['seconds'], 'train_loss': tr, 'train_bpc': tr / math.log(2),
                   'val_loss': val, 'val_bpc': val / math.log(2), 'val_chars': chars,
                   'chars_per_s': st['trainChars'] / st['trainSeconds'] if st['trainSeconds'] > 0 else 0,
                   'lr': self.lr, 'grad_norm': self.grad_norm}
        return metrics, is_best

    def save(self, metrics, is_best):
        """metrics first, then latest (and best), as cli/runfiles.ts saveEvaluation; a collective (the carried state)."""
        carried = self.job.full_state()
        if not self.lead:
            return
        data, best = self.job.checkpoint_bytes(carried, is_best)
        if metrics is not None:
            append_line(self.paths['metrics'], metrics)
        write_atomic(self.paths['latest'], data)
        if best is not None:
            write_atomic(self.paths['best'], best)

    def sample(self):
        """A sample from the model as it is now, from the run's own sampling generator (rank 0)."""
        with self.job.averaged():
            return self.job.sample(self.c['sampleLength'], self.c['sampleTemperature'])

    def close(self):
        reads = os.environ.get('CHARRNN_TORCH_HOST_READS')
        if reads and self.lead:
            HOST_READS.report(reads)
        self.d.close()


def js_num(x):
    """A number as src/train.ts prints it (NaN, Infinity; 3 rather than 3.0)."""
    if math.isnan(x):
        return 'NaN'
    if math.isinf(x):
        return 'Infinity' if x > 0 else '-Infinity'
    return str(int(x)) if x == int(x) else repr(x)


def train(run_dir, device_kind):
    trainer = Trainer(run_dir, device_kind)
    status = trainer.run()
    trainer.close()  # not after an error: a peer may be gone, and main() reports the error
    return status


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


def stop_agent_of_multinode_run():
    """After a failure in a run over many nodes, stop this node's launcher now. torchrun (1.13)
    waits at its exit barrier for every node's agent, up to 300 s and even after a failure; a node
    that died never arrives, so the surviving node would hang for 5 minutes. SIGTERM makes the
    agent stop its workers and exit (non-zero). One node (LOCAL_WORLD_SIZE = WORLD_SIZE) needs
    nothing: its agent has no peer to wait for."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if os.environ.get('TORCHELASTIC_RUN_ID') and int(os.environ.get('LOCAL_WORLD_SIZE', str(world))) < world:
        try:
            os.kill(os.getppid(), signal.SIGTERM)
        except OSError:
            pass  # the agent is gone already


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
        stop_agent_of_multinode_run()
        if os.environ.get('CHARRNN_DEBUG'):
            raise
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
