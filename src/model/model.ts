/**
 * The char-RNN: (embedding or one-hot) → L recurrent layers → linear decoder → softmax.
 *
 *   x_t   = E[id_t]            (B, E)   or one-hot(id_t) when embed = 0 (× a dropout mask
 *                                       when training with embedDropout, each number its own)
 *   h^l_t = cell(h^{l-1}_t, h^l_{t-1})  for l = 1..L (dropout between layers when training; with
 *                                       weightDrop the cell's W_hh is W_hh ⊙ M, one mask M a window)
 *   z_t   = h^L_t W_dec + b_dec (B, V)
 *   loss  = mean over t, b of -log softmax(z_t)[target]
 *
 * Folded embedding: E[id] W_ih is row id of the (V, G) table P = E W_ih, so when a window has
 * more positions than the vocabulary has symbols (training: T·B = 2500 against V ≈ 65) the
 * first layer's input projection is done as one small GEMM for P and a row lookup, and its
 * backward as a scatter-add into dP (V, G) and two small GEMMs:
 *   dW_ih += Eᵀ dP,   dE += dP W_ihᵀ
 * instead of three (T·B, E, G) GEMMs. The same maths, summed in another order; it removes
 * about a seventh of the work of an LSTM 2×128. An inference workspace (sampling, evaluation)
 * always folds and keeps P until the parameters change (paramsChanged), so a sampled character
 * costs one row lookup instead of an (E, G) product; a short training window embeds directly,
 * and so does every training window with embedding dropout (a masked x_t is no row of P).
 *
 * Parameters are named as a PyTorch user would name them (see docs/checkpoint.md):
 *   embedding.weight (V, E); rnn.weight_ih_l{k}, rnn.weight_hh_l{k}, rnn.bias_ih_l{k},
 *   rnn.bias_hh_l{k}; decoder.weight (V, H); decoder.bias (V).
 * All of them live in one flat array `params` (and their gradients at the same offsets in
 * `grads`), so the optimizer, clipping and checkpointing are single loops over one buffer.
 */
import type { Backend, DType, FloatArray } from '../backend/types.js';
import { JsBackend } from '../backend/js.js';
import { CharRnnError } from '../errors.js';
import { ArenaPlan, type Arena, type Slot } from '../arena.js';
import type { Rng } from '../rng.js';
import { GATES, makeLayerBuffers, planLayerBuffers, type CellType, type LayerBuffers, type LayerParams } from './layer.js';
import { lstmBackward, lstmForward } from './lstm.js';
import { gruBackward, gruForward } from './gru.js';
import { rnnBackward, rnnForward } from './rnn.js';
import { orthogonalBlocks } from './orthogonal.js';
import { DEFAULT_CONFIG, type TrainConfig } from '../config.js';

export interface ModelConfig {
  type: CellType;
  vocabSize: number;
  hidden: number;
  layers: number;
  /** Embedding width; 0 = one-hot input (min-char-rnn), done as a row lookup. */
  embed: number;
  /** Dropout probability on the outputs of every layer but the last (as nn.LSTM's dropout). */
  dropout: number;
  /**
   * Dropout probability on the embedded input x_t (needs embed > 0), when training; each of the
   * T·B·E numbers dropped on its own. Set only when > 0 (other checkpoints' metadata unchanged).
   */
  embedDropout?: number;
  /**
   * Dropout between time steps (DropConnect on the recurrent weights, as AWD-LSTM's weight drop:
   * Merity et al., "Regularizing and Optimizing LSTM Language Models", 2017), when training:
   * each layer's cell sees W_hh ⊙ M, M (H, G) holding 0 or 1/(1-p), drawn once a window and
   * shared by every time step and stream. Why on the weights and not on h_{t-1}: the fused step
   * kernels of every backend take W_hh as an argument, so the masked copy goes in unchanged and
   * no backend's cell maths changes; and a dropped connection stays dropped for the whole window,
   * as in Gal and Ghahramani's variational dropout (2016), where a fresh mask at every step
   * would perturb what the recurrence carries. Set only when > 0 (other checkpoints' metadata
   * unchanged).
   */
  weightDrop?: number;
  /**
   * Trained on one item per line (--lines): each item starts from the zero state after a newline
   * and ends at the next one, so samples are items. Not part of the maths; set only when true
   * (so the model metadata of other checkpoints is unchanged).
   */
  lines?: boolean;
}

export interface ParamSpec {
  /** PyTorch state-dict name. */
  name: string;
  /** Shape in PyTorch's layout. */
  shape: number[];
  /** Stored transposed here (2-D weights kept as (in, out) for row-major x @ W). */
  transposed: boolean;
  offset: number;
  size: number;
  init: { kind: 'uniform'; bound: number } | { kind: 'normal' } | { kind: 'const'; value: number; from?: number; to?: number; bound: number };
}

type CellFn = (be: Backend, p: LayerParams, buf: LayerBuffers, ids: Int32Array, B: number, T: number, In: number, H: number) => void;
type CellBackFn = (be: Backend, p: LayerParams, g: LayerParams, buf: LayerBuffers, ids: Int32Array, B: number, T: number, In: number, H: number) => void;
const CELLS: Record<CellType, { forward: CellFn; backward: CellBackFn }> = {
  rnn: { forward: rnnForward, backward: rnnBackward },
  lstm: { forward: lstmForward, backward: lstmBackward },
  gru: { forward: gruForward, backward: gruBackward },
};

/** Lay out every parameter in one flat buffer, in a fixed order (also the checkpoint's order). */
export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const specs: ParamSpec[] = [];
  let offset = 0;
  const add = (name: string, shape: number[], transposed: boolean, init: ParamSpec['init']): void => {
    const size = shape.reduce((a, b) => a * b, 1);
    specs.push({ name, shape, transposed, offset, size, init });
    offset += size;
  };
  const V = c.vocabSize;
  const H = c.hidden;
  const G = GATES[c.type] * H;
  const k = 1 / Math.sqrt(H); // PyTorch's U(-1/√H, 1/√H) for every recurrent weight and bias
  if (c.embed > 0) add('embedding.weight', [V, c.embed], false, { kind: 'normal' });
  for (let l = 0; l < c.layers; l++) {
    const In = l === 0 ? (c.embed > 0 ? c.embed : V) : H;
    add(`rnn.weight_ih_l${l}`, [G, In], true, { kind: 'uniform', bound: k });
    add(`rnn.weight_hh_l${l}`, [G, H], true, { kind: 'uniform', bound: k });
    // The forget gate starts open (bias 1, split as 1 on b_ih and 0 on b_hh): the cell
    // remembers by default, which speeds early learning (Jozefowicz et al. 2015).
    add(`rnn.bias_ih_l${l}`, [G], false, c.type === 'lstm' ? { kind: 'const', value: 1, from: H, to: 2 * H, bound: k } : { kind: 'uniform', bound: k });
    add(`rnn.bias_hh_l${l}`, [G], false, c.type === 'lstm' ? { kind: 'const', value: 0, from: H, to: 2 * H, bound: k } : { kind: 'uniform', bound: k });
  }
  const kd = 1 / Math.sqrt(H); // nn.Linear's default bound 1/√fan_in
  add('decoder.weight', [V, H], true, { kind: 'uniform', bound: kd });
  add('decoder.bias', [V], false, { kind: 'uniform', bound: kd });
  return specs;
}

export function countParams(c: ModelConfig): number {
  const specs = paramSpecs(c);
  const last = specs[specs.length - 1];
  return last.offset + last.size;
}

/** One layer's weight drop in a training workspace (ModelConfig.weightDrop). */
export interface WeightDrop {
  /** The layer's parameters as its cell sees them: W_hh replaced by W_hh ⊙ mask (H, G). */
  readonly params: LayerParams;
  /** (H, G) 0 or 1/(1-p), drawn at every training forward. */
  readonly mask: FloatArray;
  /** The layer's gradients as its cell writes them: W_hh's, of the masked product, into dwhh. */
  readonly grads: LayerParams;
  /** (H, G) dL/d(W_hh ⊙ mask); backward multiplies it by the mask and adds it to dL/dW_hh. */
  readonly dwhh: FloatArray;
}

/** One window's worth of memory: token ids, targets, per-layer activations, logits. */
export class Workspace {
  /** (T·B) input ids, time-major: index t·B + b. */
  readonly inputs: Int32Array;
  /** (T·B) target ids; -1 = no target at this position. */
  readonly targets: Int32Array;
  readonly layers: LayerBuffers[];
  /** (T·B, E) embedded inputs, or null for one-hot or a folded embedding. */
  readonly x0: FloatArray | null;
  /** (T·B, E) the embedding dropout's mask (0 or 1/keep), in a training workspace with embedDropout; else null. */
  readonly mask0: FloatArray | null;
  /**
   * Folded embedding (see the header): layer 0's parameters with W_ih replaced by P = E W_ih
   * (V, G), and its gradients with W_ih replaced by dP (V, G); null when not folded.
   */
  readonly fold: { params: LayerParams; grads: LayerParams | null } | null;
  /** Per layer, its weight drop (ModelConfig.weightDrop), in a training workspace with it; else null. */
  readonly weightDrop: WeightDrop[] | null;
  /** The model's version that P was computed from (inference workspaces keep P). */
  foldVersion = -1;
  /** (T·B, V) logits; after a training forward, the gradient of the loss w.r.t. them. */
  readonly logits: FloatArray;
  /** (1) The loss sum forward adds to unless given another `into`: evaluation reads it back once. */
  readonly lossSum: FloatArray;
  private readonly arena: Arena;

  constructor(readonly model: CharRNN, readonly B: number, readonly T: number, opts: { training: boolean }) {
    const c = model.config;
    const TB = T * B;
    const plan = new ArenaPlan(model.dtype);
    const sInputs = plan.ints(TB);
    const sTargets = plan.ints(TB);
    const G = GATES[c.type] * c.hidden;
    const embedDropout = opts.training && (c.embedDropout ?? 0) > 0 && c.embed > 0;
    const fold = c.embed > 0 && (TB > c.vocabSize || !opts.training) && !embedDropout;
    const sP = fold ? plan.floats(c.vocabSize * G) : null;
    const sDP = fold && opts.training ? plan.floats(c.vocabSize * G) : null;
    const sX0 = c.embed > 0 && !fold ? plan.floats(TB * c.embed) : null;
    const sDx0 = sX0 && opts.training ? plan.floats(TB * c.embed) : null;
    const sMask0 = embedDropout ? plan.floats(TB * c.embed) : null;
    const sLayers = [];
    for (let l = 0; l < c.layers; l++) {
      const In = l === 0 ? (c.embed > 0 ? c.embed : c.vocabSize) : c.hidden;
      const dropout = opts.training && c.dropout > 0 && l < c.layers - 1;
      sLayers.push(planLayerBuffers(plan, c.type, B, T, In, c.hidden, false, dropout));
    }
    const weightDrop = opts.training && (c.weightDrop ?? 0) > 0;
    const sDrop = weightDrop ? Array.from({ length: c.layers }, () => ({ whh: plan.floats(c.hidden * G), mask: plan.floats(c.hidden * G), dwhh: plan.floats(c.hidden * G) })) : null;
    const sLogits = plan.floats(TB * c.vocabSize);
    const sLossSum = plan.floats(1);
    const arena = (this.arena = plan.allocate(model.backend));
    this.inputs = arena.ints(sInputs);
    this.targets = arena.ints(sTargets);
    this.x0 = sX0 ? arena.floats(sX0) : null;
    this.mask0 = sMask0 ? arena.floats(sMask0) : null;
    this.fold = sP
      ? {
          params: { ...model.layerParams[0], wih: arena.floats(sP) }, // wih: P (V, G)
          grads: sDP ? { ...model.layerGrads[0], wih: arena.floats(sDP) } : null, // wih: dP (V, G)
        }
      : null;
    this.layers = [];
    for (let l = 0; l < c.layers; l++) {
      // layer l's input is the output of layer l-1 (or the embedding); its dx is their dy
      const x = l === 0 ? this.x0 : this.layers[l - 1].y;
      const buf = makeLayerBuffers(arena, sLayers[l], c.type, B, T, c.hidden, x);
      if (l > 0) buf.dx = this.layers[l - 1].dy;
      else if (sDx0) buf.dx = arena.floats(sDx0);
      this.layers.push(buf);
    }
    // the cell of a layer with weight drop gets W_hh ⊙ M in place of W_hh, and writes the gradient
    // of that product into dwhh (the folded layer 0 keeps its P and dP)
    this.weightDrop = sDrop
      ? sDrop.map((s, l) => {
          const params = l === 0 && this.fold ? this.fold.params : model.layerParams[l];
          const grads = l === 0 && this.fold ? this.fold.grads! : model.layerGrads[l];
          const dwhh = arena.floats(s.dwhh);
          return { params: { ...params, whh: arena.floats(s.whh) }, mask: arena.floats(s.mask), grads: { ...grads, whh: dwhh }, dwhh };
        })
      : null;
    // each masked W_hh is a weight for its window, read by every step's GEMM: tell a backend that
    // caches weights in another layout (the CPU ones pack GEMM panels) to treat it as one, so it is
    // packed once a window (its writes mark the copy stale) instead of read unpacked at each step
    for (const d of this.weightDrop ?? []) model.backend.paramsChanged?.(d.params.whh);
    this.logits = arena.floats(sLogits);
    this.lossSum = arena.floats(sLossSum);
  }

  /**
   * Give this workspace's memory back to the backend (a WASM backend reuses it for the next
   * one). Its buffers must not be used afterwards; a second call does nothing.
   */
  dispose(): void {
    this.arena.dispose();
  }

  /**
   * The host wrote `inputs` and `targets` (a batcher's fill, the sampler's next id): a device
   * backend copies them over. Call before the forward that reads them.
   */
  idsWritten(): void {
    const be = this.model.backend;
    be.upload(this.inputs);
    be.upload(this.targets);
  }

  /** Zero the carried state (start of an epoch, or of a text). */
  resetState(): void {
    const be = this.model.backend;
    for (const L of this.layers) {
      be.fill(L.hAt[0].length, L.hAt[0], 0);
      if (L.c) be.fill(L.cAt[0].length, L.cAt[0], 0);
    }
  }

  /** Zero the carried state of the rows b with mask[b] ≠ 0 (an item starts there: src/lines.ts). */
  resetRows(mask: ArrayLike<number>): void {
    const H = this.model.config.hidden;
    for (let b = 0; b < this.B; b++) {
      if (!mask[b]) continue;
      for (const L of this.layers) {
        this.model.backend.fill(H, L.hAt[0].subarray(b * H, (b + 1) * H), 0);
        if (L.c) this.model.backend.fill(H, L.cAt[0].subarray(b * H, (b + 1) * H), 0);
      }
    }
  }

  /** The last step's state becomes the next window's initial state. */
  carryState(): void {
    const be = this.model.backend;
    for (const L of this.layers) {
      be.copy(L.hAt[0].length, L.hAt[this.T], L.hAt[0]);
      if (L.c) be.copy(L.cAt[0].length, L.cAt[this.T], L.cAt[0]);
    }
  }

  /** The views getState() reads: on a device backend, `download` them first (see types.ts). */
  stateViews(): FloatArray[] {
    const out: FloatArray[] = [];
    for (const L of this.layers) {
      out.push(L.hAt[0]);
      if (L.c) out.push(L.cAt[0]);
    }
    return out;
  }

  /**
   * Copy the initial state (h, and c for an LSTM) of every layer out: [h0_l0, c0_l0?, h0_l1, ...].
   * On a device backend, as last downloaded (stateViews).
   */
  getState(): FloatArray[] {
    const out: FloatArray[] = [];
    for (const L of this.layers) {
      out.push(L.hAt[0].slice());
      if (L.c) out.push(L.cAt[0].slice());
    }
    return out;
  }

  setState(state: ArrayLike<number>[]): void {
    let k = 0;
    const be = this.model.backend;
    for (const L of this.layers) {
      L.hAt[0].set(state[k++]);
      be.upload(L.hAt[0]);
      if (L.c) {
        L.cAt[0].set(state[k++]);
        be.upload(L.cAt[0]);
      }
    }
  }
}

export class CharRNN {
  readonly specs: ParamSpec[];
  readonly numParams: number;
  /** All parameters, flat (P). */
  readonly params: FloatArray;
  /** All gradients, same layout (P). */
  readonly grads: FloatArray;
  readonly layerParams: LayerParams[] = [];
  readonly layerGrads: LayerParams[] = [];
  readonly emb: FloatArray | null; // (V, E)
  readonly demb: FloatArray | null;
  readonly wdec: FloatArray; // (H, V)  decoder.weight transposed
  readonly bdec: FloatArray; // (V)
  readonly dwdec: FloatArray;
  readonly dbdec: FloatArray;
  private readonly arena: Arena;

  constructor(readonly config: ModelConfig, readonly backend: Backend, readonly dtype: DType = 'float32') {
    this.specs = paramSpecs(config);
    this.numParams = countParams(config);
    const plan = new ArenaPlan(dtype);
    const sP: Slot = plan.floats(this.numParams);
    const sG: Slot = plan.floats(this.numParams);
    const arena = (this.arena = plan.allocate(backend));
    this.params = arena.floats(sP);
    this.grads = arena.floats(sG);
    const view = (buf: FloatArray, name: string): FloatArray => {
      const s = this.specs.find((x) => x.name === name)!;
      return buf.subarray(s.offset, s.offset + s.size);
    };
    const layer = (buf: FloatArray, l: number): LayerParams => ({
      wih: view(buf, `rnn.weight_ih_l${l}`),
      whh: view(buf, `rnn.weight_hh_l${l}`),
      bih: view(buf, `rnn.bias_ih_l${l}`),
      bhh: view(buf, `rnn.bias_hh_l${l}`),
    });
    for (let l = 0; l < config.layers; l++) {
      this.layerParams.push(layer(this.params, l));
      this.layerGrads.push(layer(this.grads, l));
    }
    this.emb = config.embed > 0 ? view(this.params, 'embedding.weight') : null;
    this.demb = config.embed > 0 ? view(this.grads, 'embedding.weight') : null;
    this.wdec = view(this.params, 'decoder.weight');
    this.bdec = view(this.params, 'decoder.bias');
    this.dwdec = view(this.grads, 'decoder.weight');
    this.dbdec = view(this.grads, 'decoder.bias');
  }

  /**
   * PyTorch's initialization (see paramSpecs), drawn from rng in spec order. With `recurrent`
   * 'orthogonal' (--init), each weight_hh is instead one random orthogonal block per gate
   * (src/model/orthogonal.ts), drawn at its place in that order; everything else is unchanged.
   * The default is the knob's (src/config.ts), so a model made outside a run starts as a run does.
   */
  init(rng: Rng, recurrent: TrainConfig['init'] = DEFAULT_CONFIG.init): void {
    const gates = GATES[this.config.type];
    for (const s of this.specs) {
      if (recurrent === 'orthogonal' && s.name.startsWith('rnn.weight_hh_l')) {
        this.importParam(s, orthogonalBlocks(rng, gates, this.config.hidden)); // (G, H) in PyTorch's layout
        continue;
      }
      const p = this.params.subarray(s.offset, s.offset + s.size);
      for (let i = 0; i < s.size; i++) {
        p[i] = s.init.kind === 'normal' ? rng.normal() : rng.uniform(-s.init.bound, s.init.bound);
      }
      if (s.init.kind === 'const') p.fill(s.init.value, s.init.from, s.init.to);
    }
    this.paramsChanged();
  }

  /** Bumped by paramsChanged(): caches derived from the parameters (a workspace's P) compare against it. */
  private version = 0;

  /**
   * The parameters changed: workspaces drop their folded P. Written by the host (init, a
   * checkpoint, a test poking a weight: `by` 'host', the default), the backend is told too (a
   * device uploads them, the WASM backend drops its packed panels); written by a kernel (the
   * optimizer: 'kernel'), the backend saw the write itself.
   */
  paramsChanged(by: 'host' | 'kernel' = 'host'): void {
    this.version++;
    if (by === 'kernel') return;
    this.backend.upload(this.params);
    this.backend.paramsChanged?.(this.params);
  }

  /**
   * This model's weights on host memory, to read on the host (sampling with top-k, beam search,
   * inspection, a checkpoint): the model itself where its backend is host memory, else a new copy
   * on `host` (default the reference kernels) with the weights downloaded now. A copy is the
   * caller's to dispose; `into` refreshes one made earlier instead of making another.
   */
  async toHost(host: Backend = new JsBackend(), into?: CharRNN): Promise<CharRNN> {
    if (this.backend.hostMemory) return this;
    await this.backend.download([this.params]);
    const copy = into ?? new CharRNN(this.config, host);
    copy.params.set(this.params);
    copy.paramsChanged();
    return copy;
  }

  /**
   * Give the parameters' and gradients' memory back to the backend (with the packed copies a
   * WASM backend keeps of the weights). Dispose the model's workspaces, samplers and optimizer
   * first: they are unusable with it. A second call does nothing.
   */
  dispose(): void {
    this.arena.dispose();
  }

  zeroGrad(): void {
    this.backend.fill(this.numParams, this.grads, 0);
  }

  /**
   * Forward over one window up to the logits: reads ws.inputs, leaves (T·B, V) scores in
   * ws.logits and allocates nothing (the sampler calls this once per character). With `rng`,
   * applies dropout between layers (training workspaces only).
   */
  logits(ws: Workspace, rng?: Rng): void {
    const { backend: be, config: c } = this;
    const { B, T } = ws;
    const TB = B * T;
    const H = c.hidden;
    const cell = CELLS[c.type];
    const fold = ws.fold;
    // a training workspace recomputes P every time (a gradient check pokes the weights without
    // paramsChanged); an inference one when the parameters changed
    if (fold && (fold.grads || ws.foldVersion !== this.version)) {
      // P (V, G) = E (V, E) @ W_ih (E, G); layer 0 then looks its input rows up in P
      const G = GATES[c.type] * H;
      be.gemm(false, false, c.vocabSize, G, c.embed, this.emb!, c.embed, this.layerParams[0].wih, G, 0, fold.params.wih, G);
      ws.foldVersion = this.version;
    } else if (!fold && this.emb) be.gatherRows(TB, ws.inputs, this.emb, c.embed, ws.x0!, false);
    if (ws.mask0) {
      if (!rng) throw new Error('a dropout workspace is for training forwards');
      // drawn before the layers' masks, so runs without embedding dropout draw as they always did
      be.dropoutMask(TB * c.embed, ws.mask0, 1 - c.embedDropout!, rng.nextU32());
      be.mul(TB * c.embed, ws.x0!, ws.mask0);
    }
    for (let l = 0; l < c.layers; l++) {
      const buf = ws.layers[l];
      const In = l === 0 ? (c.embed > 0 ? c.embed : c.vocabSize) : H;
      const params = l === 0 && fold ? fold.params : this.layerParams[l];
      const drop = ws.weightDrop?.[l];
      if (drop) {
        if (!rng) throw new Error('a dropout workspace is for training forwards');
        // drawn before the layer's output mask, so runs without weight drop draw as they always did
        const n = drop.mask.length; // W_hh (H, G)
        be.dropoutMask(n, drop.mask, 1 - c.weightDrop!, rng.nextU32());
        be.copy(n, params.whh, drop.params.whh);
        be.mul(n, drop.params.whh, drop.mask);
      }
      cell.forward(be, drop ? drop.params : params, buf, ws.inputs, B, T, In, H);
      if (buf.mask) {
        if (!rng) throw new Error('a dropout workspace is for training forwards');
        // one key per layer and forward from the run's generator; the mask itself is a
        // counter-based draw of (key, index), the same on every backend (rng.ts dropoutBits)
        be.dropoutMask(TB * H, buf.mask, 1 - c.dropout, rng.nextU32());
        be.copy(TB * H, buf.h.subarray(B * H), buf.y);
        be.mul(TB * H, buf.y, buf.mask);
      }
    }
    const top = ws.layers[c.layers - 1].y; // (T·B, H)
    const V = c.vocabSize;
    be.broadcastRows(TB, V, this.bdec, ws.logits, false);
    be.gemm(false, false, TB, V, H, top, H, this.wdec, V, 1, ws.logits, V);
  }

  /**
   * Forward over one window. Reads ws.inputs / ws.targets (call ws.idsWritten() after writing
   * them); adds the summed loss (nats) to `into` (default ws.lossSum: a result in a view, read
   * where it is logged, as every backend's numbers are) and returns the number of predictions.
   * With `train`, applies dropout (drawing masks from rng) and leaves dL/dlogits (for the mean
   * loss) in ws.logits, ready for backward.
   */
  forward(ws: Workspace, opts: { train: boolean; rng?: Rng; into?: FloatArray } = { train: false }): number {
    this.logits(ws, opts.train ? opts.rng : undefined);
    const TB = ws.B * ws.T;
    let count = 0;
    for (let i = 0; i < TB; i++) if (ws.targets[i] >= 0) count++; // the host wrote the targets: its copy is current
    this.backend.softmaxCrossEntropy(TB, this.config.vocabSize, ws.logits, ws.targets, opts.train ? ws.logits : null, count > 0 ? 1 / count : 0, opts.into ?? ws.lossSum);
    return count;
  }

  /**
   * Backward over the window of the last training forward; gradients are added (+=) to
   * `grads`, so call zeroGrad() first. Afterwards each layer's `dh` (and `dc`) holds the
   * gradient w.r.t. its initial state.
   */
  backward(ws: Workspace): void {
    const { backend: be, config: c } = this;
    const { B, T } = ws;
    const TB = B * T;
    const H = c.hidden;
    const V = c.vocabSize;
    const cell = CELLS[c.type];
    const topBuf = ws.layers[c.layers - 1];
    const dlogits = ws.logits;
    be.gemm(true, false, H, V, TB, topBuf.y, H, dlogits, V, 1, this.dwdec, V); // dW_dec += yᵀ dz
    be.colSumAcc(TB, V, dlogits, this.dbdec);
    be.gemm(false, true, TB, H, V, dlogits, V, this.wdec, V, 0, topBuf.dy, H); // dy = dz W_decᵀ
    const fold = ws.fold;
    const dP = fold?.grads?.wih; // (V, G), in a training workspace
    if (fold && !dP) throw new Error('backward needs a training workspace');
    if (dP) be.fill(dP.length, dP, 0); // scattered into with +=
    for (let l = c.layers - 1; l >= 0; l--) {
      const buf = ws.layers[l];
      if (buf.mask) be.mul(TB * H, buf.dy, buf.mask); // through the dropout of this layer's output
      const In = l === 0 ? (c.embed > 0 ? c.embed : c.vocabSize) : H;
      const folded = l === 0 && fold;
      const drop = ws.weightDrop?.[l];
      if (drop) be.fill(drop.dwhh.length, drop.dwhh, 0);
      const params = drop ? drop.params : folded ? fold.params : this.layerParams[l];
      const grads = drop ? drop.grads : folded ? fold.grads! : this.layerGrads[l];
      cell.backward(be, params, grads, buf, ws.inputs, B, T, In, H);
      if (drop) {
        // the cell used W_hh ⊙ M: its gradient is d(W_hh ⊙ M) ⊙ M, added to dW_hh as every gradient is
        be.mul(drop.dwhh.length, drop.dwhh, drop.mask);
        be.colSumAcc(1, drop.dwhh.length, drop.dwhh, this.layerGrads[l].whh); // dW_hh += dwhh: the column sums of one row
      }
    }
    if (dP) {
      const G = GATES[c.type] * H;
      const E = c.embed;
      be.gemm(true, false, E, G, V, this.emb!, E, dP, G, 1, this.layerGrads[0].wih, G); // dW_ih (E, G) += Eᵀ dP
      be.gemm(false, true, V, E, G, dP, G, this.layerParams[0].wih, G, 1, this.demb!, E); // dE (V, E) += dP W_ihᵀ
    } else if (this.demb) {
      if (ws.mask0) be.mul(TB * c.embed, ws.layers[0].dx!, ws.mask0); // through the embedding's dropout
      be.scatterAddRows(TB, ws.inputs, ws.layers[0].dx!, c.embed, this.demb);
    }
  }

  /** A parameter in PyTorch's layout (a copy, of the model's float type). */
  exportParam(s: ParamSpec, from: FloatArray = this.params): FloatArray {
    const src = from.subarray(s.offset, s.offset + s.size);
    const out = from instanceof Float64Array ? new Float64Array(s.size) : new Float32Array(s.size);
    if (!s.transposed) out.set(src);
    else transpose(src, s.shape[1], s.shape[0], out); // stored (in, out) → PyTorch (out, in)
    return out;
  }

  /** Write a parameter given in PyTorch's layout. */
  importParam(s: ParamSpec, data: ArrayLike<number>, into: FloatArray = this.params): void {
    const dst = into.subarray(s.offset, s.offset + s.size);
    if (!s.transposed) dst.set(data);
    else transpose(data, s.shape[0], s.shape[1], dst);
  }
}

/** out (cols, rows) = transpose of a (rows, cols). */
function transpose(a: ArrayLike<number>, rows: number, cols: number, out: { [i: number]: number }): void {
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
}

/**
 * Throw a one-line error where a function that reads a model's numbers on the host is given a
 * model whose weights live on a device: it names the call that gives a host copy.
 */
export function requireHost(model: CharRNN, what: string): void {
  if (model.backend.hostMemory) return;
  throw new CharRnnError('device-model', `${what} reads the model's numbers on the host, and this model's weights live on the ${model.backend.name} device; use \`await model.toHost()\` (or \`await trainer.hostModel()\`) and pass that`);
}
