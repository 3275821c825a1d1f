"""PyTorch peer for `npm run bench` (bench/train.ts runs it; not part of `npm test`).

Trains the same models as charrnn on the same data with the same batching, and samples them
step by step at batch 1, timing both; prints one JSON object on stdout.

    python3 bench/pytorch_bench.py '<json job>'

job = {"data": path, "valFrac": f, "testFrac": f, "seconds": s, "cuda": bool,
       "configs": [{"id", "model", "layers", "hidden", "embed", "batch", "seqLen", "optimizer",
                    "lr", "beta1", "beta2", "eps", "clip", "clipMode", "dropout", "sample": bool}]}

Model as charrnn's (src/model/model.ts): embedding (or one-hot, done here as an identity
embedding, i.e. the same row lookup charrnn does) -> nn.LSTM / nn.RNN(tanh) / nn.GRU ->
nn.Linear decoder; mean cross-entropy; clipping by global norm or by value; the hidden state
carried across windows (detached). Data: the first (1 - valFrac - testFrac) of the text's code
points, cut into B contiguous streams read in windows of T, time-major (src/data.ts's Batcher).

Threads are the caller's business: torch.set_num_threads(job["threads"]) (default 1; null keeps
torch's own default, what a script that sets nothing, like the torch engine, runs at), BLAS
threads via OPENBLAS_NUM_THREADS (PyTorch's fastest setting on this 2-core machine).

Start-up is reported apart from speed: "import_s" (process start to torch imported) and, per
config, "warmup_s" (building the model and the first, untimed step).

With "cuda": true and a GPU that torch sees, every config is also timed on CUDA (the same model,
data and batching; the clock is read after torch.cuda.synchronize()), under "cuda" in the
output: {"device": name, "results": [...]}, or {"error": why} when torch sees no GPU.
"""
import time

T_START = time.perf_counter()  # before torch is imported: the import is part of the start-up reported

import ctypes
import json
import sys

import torch
import torch.nn as nn


def blas_info():
    """Which BLAS library this process actually runs, and OpenBLAS's own report if it is OpenBLAS."""
    libs = sorted({line.split()[-1] for line in open('/proc/self/maps') if 'blas' in line.split()[-1]})
    # the BLAS torch was built with (pip's wheels: MKL, linked in; Debian's: the libblas.so.3 found at run time)
    built = [kv.split('=', 1)[1] for kv in torch.__config__.show().replace(',', ' ').split() if kv.startswith('BLAS_INFO=')]
    info = {'libraries': libs, 'torch_blas': built[0] if built else None}
    if info['torch_blas'] == 'mkl':
        return info  # an OpenBLAS preloaded beside it is not what torch runs
    for lib in libs:
        try:
            so = ctypes.CDLL(lib)
            so.openblas_get_corename.restype = ctypes.c_char_p
            so.openblas_get_config.restype = ctypes.c_char_p
            info['openblas_core'] = so.openblas_get_corename().decode()
            info['openblas_config'] = so.openblas_get_config().decode().strip()
            info['openblas_threads'] = so.openblas_get_num_threads()
            break
        except (OSError, AttributeError):
            continue
    return info


class CharModel(nn.Module):
    def __init__(self, c, V):
        super().__init__()
        E = c['embed'] or V
        self.embedding = nn.Embedding(V, E)
        if not c['embed']:
            with torch.no_grad():
                self.embedding.weight.copy_(torch.eye(V))
            self.embedding.weight.requires_grad_(False)  # one-hot: nothing to learn
        cell = {'lstm': nn.LSTM, 'gru': nn.GRU, 'rnn': nn.RNN}[c['model']]
        self.rnn = cell(E, c['hidden'], c['layers'], dropout=c['dropout'])
        self.decoder = nn.Linear(c['hidden'], V)

    def forward(self, x, state):  # x (T, B) ids
        y, state = self.rnn(self.embedding(x), state)
        return self.decoder(y), state  # (T, B, V)


def zero_state(c, B, device):
    h = torch.zeros(c['layers'], B, c['hidden'], device=device)
    return (h, torch.zeros_like(h)) if c['model'] == 'lstm' else h


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def make_optimizer(c, params):
    if c['optimizer'] == 'adam':
        return torch.optim.Adam(params, lr=c['lr'], betas=(c['beta1'], c['beta2']), eps=c['eps'])
    if c['optimizer'] == 'adagrad':
        return torch.optim.Adagrad(params, lr=c['lr'], eps=c['eps'])
    if c['optimizer'] == 'rmsprop':
        return torch.optim.RMSprop(params, lr=c['lr'], alpha=c['alpha'], eps=c['eps'])
    return torch.optim.SGD(params, lr=c['lr'], momentum=c['momentum'])


def sync(device):
    """Wait for the device's queued work (CUDA runs asynchronously), so the clock measures it."""
    if device.type == 'cuda':
        torch.cuda.synchronize()


def train_speed(c, ids, V, seconds, device):
    """(train chars/s in steady state, seconds to build and take the first step)."""
    t_build = time.perf_counter()
    torch.manual_seed(1)
    B, T = c['batch'], c['seqLen']
    stream = (len(ids) - 1) // B
    windows = stream // T
    data = ids[: B * stream + 1].to(device)
    model = CharModel(c, V).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(c, params)
    loss_fn = nn.CrossEntropyLoss()
    state = zero_state(c, B, device)
    starts = torch.arange(B, device=device) * stream
    steps = torch.arange(T, device=device)[:, None]

    def step(w):
        nonlocal state
        idx = starts[None, :] + (w % windows) * T + steps  # (T, B)
        x, y = data[idx], data[idx + 1]
        logits, state = model(x, state)
        loss = loss_fn(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if c['clip'] > 0:
            if c['clipMode'] == 'norm':
                nn.utils.clip_grad_norm_(params, c['clip'])
            else:
                nn.utils.clip_grad_value_(params, c['clip'])
        opt.step()
        state = detach(state)

    step(0)  # warm-up
    sync(device)
    warmup = time.perf_counter() - t_build
    iters = 0
    t0 = time.perf_counter()
    while iters < 2 or time.perf_counter() - t0 < seconds:
        iters += 1
        step(iters)
    sync(device)
    return iters * B * T / (time.perf_counter() - t0), warmup


@torch.no_grad()
def sample_speed(c, V, seconds, device):
    """Batch-1 generation, one character per forward, drawn from the softmax and read on the host
    (a sampler hands out every character: on CUDA that is a wait per character)."""
    torch.manual_seed(2)
    model = CharModel(c, V).to(device).eval()
    state = zero_state(c, 1, device)
    x = torch.zeros(1, 1, dtype=torch.long, device=device)
    n = 0
    t0 = time.perf_counter()
    while n < 100 or time.perf_counter() - t0 < seconds:
        logits, state = model(x, state)
        x = torch.multinomial(torch.softmax(logits[0, 0], -1), 1).view(1, 1)
        int(x)  # the character, on the host
        n += 1
    return n / (time.perf_counter() - t0)


def time_configs(job, ids, V, device):
    results = []
    for c in job['configs']:
        speed, warmup = train_speed(c, ids, V, job['seconds'], device)
        r = {'id': c['id'], 'train_chars_per_s': speed, 'warmup_s': warmup}
        if c.get('sample'):
            r['sample_chars_per_s'] = sample_speed(c, V, min(3, job['seconds'] / 2), device)
        results.append(r)
    return results


def main():
    job = json.loads(sys.argv[1])
    import_s = time.perf_counter() - T_START
    if job.get('threads', 1) is not None:
        torch.set_num_threads(job.get('threads', 1))
    with open(job['data'], encoding='utf-8') as f:
        text = f.read()
    symbols = sorted(set(text))
    index = {ch: i for i, ch in enumerate(symbols)}
    ids = torch.tensor([index[ch] for ch in text], dtype=torch.long)
    n_train = len(ids) - int(len(ids) * job['valFrac']) - int(len(ids) * job['testFrac'])
    ids = ids[:n_train]
    out = {
        'torch': torch.__version__,
        'import_s': import_s,
        'torch_threads': torch.get_num_threads(),
        'blas': blas_info(),
        'results': time_configs(job, ids, len(symbols), torch.device('cpu')),
    }
    if job.get('cuda'):
        if torch.cuda.is_available():
            out['cuda'] = {'device': torch.cuda.get_device_name(0), 'results': time_configs(job, ids, len(symbols), torch.device('cuda'))}
        else:
            out['cuda'] = {'error': f'torch {torch.__version__} sees no CUDA GPU'}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
