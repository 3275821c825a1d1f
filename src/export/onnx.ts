/**
 * `charrnn export --format onnx`: the model as an ONNX graph (opset 13) of the standard
 * operators, for ONNX Runtime in any language:
 *
 *   inputs   ids     int64 [T, B]      character ids (index i of the "vocab" metadata)
 *            h0      float [L, B, H]   the carried hidden state (zeros to start)
 *            c0      float [L, B, H]   LSTM only: the carried cell state
 *   outputs  logits  float [T, B, V]   next-character scores (softmax them, at a temperature)
 *            hn, cn                    the state after the last step: the next call's h0, c0
 *
 *   x = Gather(embedding.weight, ids) (or OneHot(ids) for a one-hot model) → per layer
 *   LSTM / GRU / RNN (h0[l], c0[l]) → Squeeze of the direction axis → MatMul + Add (the decoder).
 *
 * ONNX orders the gates its own way: LSTM i, o, f, c where ours (PyTorch's) are i, f, g, o; GRU
 * z, r, h where ours are r, z, n. Our GRU applies the reset gate after the hidden product
 * (r ⊙ (h W_hn + b_hn)), which is ONNX's linear_before_reset = 1. Dropout is a training matter and
 * is not in the graph. Metadata: vocab (JSON code points), the model's config, training figures.
 * No I/O: bytes out.
 */
import { countParams, type ModelConfig } from '../model/model.js';
import { ProtoWriter } from './protobuf.js';
import { checkSource, describeModel, trainingFigures, type ExportSource } from './source.js';

const FLOAT = 1;
const INT64 = 7;
const OPSET = 13;
const IR_VERSION = 7; // the IR of ONNX 1.8, which brought opset 13
const ATTR_INT = 2;

/** Where each ONNX gate block comes from in ours: ONNX block k = our block ORDER[k]. */
const GATE_ORDER: Record<ModelConfig['type'], number[]> = { lstm: [0, 3, 1, 2], gru: [1, 0, 2], rnn: [0] };
const OP: Record<ModelConfig['type'], string> = { lstm: 'LSTM', gru: 'GRU', rnn: 'RNN' };

/** The .onnx file's bytes. */
export function exportOnnx(src: ExportSource): Uint8Array {
  checkSource(src);
  const m = src.model;
  const H = m.hidden;
  const V = src.vocab.size;
  const g = new Graph();
  const param = (name: string): Float32Array => src.params.get(name)!;
  const lstm = m.type === 'lstm';

  let x: string;
  if (m.embed > 0) {
    g.init('embedding.weight', [V, m.embed], param('embedding.weight'));
    x = g.node('Gather', ['embedding.weight', 'ids'], 'x0');
  } else {
    g.initInt('onehot_depth', [1], [V]);
    g.init('onehot_values', [2], Float32Array.of(0, 1));
    x = g.node('OneHot', ['ids', 'onehot_depth', 'onehot_values'], 'x0', [intAttr('axis', -1)]);
  }
  const hs: string[] = [];
  const cs: string[] = [];
  for (let l = 0; l < m.layers; l++) {
    const In = l > 0 ? H : m.embed > 0 ? m.embed : V;
    const order = GATE_ORDER[m.type];
    g.init(`W_l${l}`, [1, order.length * H, In], reorder(param(`rnn.weight_ih_l${l}`), order, H * In));
    g.init(`R_l${l}`, [1, order.length * H, H], reorder(param(`rnn.weight_hh_l${l}`), order, H * H));
    const bias = new Float32Array(2 * order.length * H);
    bias.set(reorder(param(`rnn.bias_ih_l${l}`), order, H));
    bias.set(reorder(param(`rnn.bias_hh_l${l}`), order, H), order.length * H);
    g.init(`B_l${l}`, [1, 2 * order.length * H], bias);
    // layer l's slice [1, B, H] of the stacked state
    g.initInt(`at_l${l}`, [1], [l]);
    g.initInt(`to_l${l}`, [1], [l + 1]);
    const slice = (s: string): string => g.node('Slice', [s, `at_l${l}`, `to_l${l}`, 'axis0'], `${s}_l${l}`);
    if (l === 0) {
      g.initInt('axis0', [1], [0]);
      g.initInt('axis1', [1], [1]);
    }
    const inputs = [x, `W_l${l}`, `R_l${l}`, `B_l${l}`, '', slice('h0')];
    if (lstm) inputs.push(slice('c0'));
    const outputs = [`Y_l${l}`, `hn_l${l}`, ...(lstm ? [`cn_l${l}`] : [])];
    const attrs = [intAttr('hidden_size', H), ...(m.type === 'gru' ? [intAttr('linear_before_reset', 1)] : [])];
    g.nodeN(OP[m.type], inputs, outputs, attrs);
    hs.push(`hn_l${l}`);
    if (lstm) cs.push(`cn_l${l}`);
    x = g.node('Squeeze', [`Y_l${l}`, 'axis1'], `y_l${l}`); // [T, 1, B, H] → [T, B, H]
  }
  g.init('decoder.weight_t', [H, V], transpose(param('decoder.weight'), V, H));
  g.init('decoder.bias', [V], param('decoder.bias'));
  const z = g.node('MatMul', [x, 'decoder.weight_t'], 'scores');
  g.node('Add', [z, 'decoder.bias'], 'logits');
  g.node('Concat', hs, 'hn', [intAttr('axis', 0)]);
  if (lstm) g.node('Concat', cs, 'cn', [intAttr('axis', 0)]);

  const state: Dim[] = [m.layers, 'B', H];
  g.input('ids', INT64, ['T', 'B']);
  g.input('h0', FLOAT, state);
  if (lstm) g.input('c0', FLOAT, state);
  g.output('logits', FLOAT, ['T', 'B', V]);
  g.output('hn', FLOAT, state);
  if (lstm) g.output('cn', FLOAT, state);

  const f = trainingFigures(src);
  const meta: Record<string, string> = {
    vocab: JSON.stringify(src.vocab.symbols),
    model: JSON.stringify(m),
    description: describeModel(m, countParams(m)),
    iterations: JSON.stringify(f.iterations),
    best_val_loss: JSON.stringify(f.bestValLoss),
    last_val_loss: JSON.stringify(f.lastValLoss),
  };
  const model = new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, 'charrnn')
    .message(7, g.proto(`charrnn_${m.type}`))
    .message(8, new ProtoWriter().string(1, '').int(2, OPSET));
  for (const [key, value] of Object.entries(meta)) model.message(14, new ProtoWriter().string(1, key).string(2, value));
  return model.finish();
}

type Dim = number | string;

/** A GraphProto being built: nodes in order, initializers, inputs and outputs. */
class Graph {
  private readonly nodes: ProtoWriter[] = [];
  private readonly inits: ProtoWriter[] = [];
  private readonly inputs: ProtoWriter[] = [];
  private readonly outputs: ProtoWriter[] = [];

  /** A node with one output; returns the output's name. */
  node(op: string, inputs: string[], output: string, attrs: ProtoWriter[] = []): string {
    this.nodeN(op, inputs, [output], attrs);
    return output;
  }

  nodeN(op: string, inputs: string[], outputs: string[], attrs: ProtoWriter[] = []): void {
    const n = new ProtoWriter();
    for (const i of inputs) n.string(1, i);
    for (const o of outputs) n.string(2, o);
    n.string(3, `${op}_${this.nodes.length}`).string(4, op);
    for (const a of attrs) n.message(5, a);
    this.nodes.push(n);
  }

  init(name: string, dims: number[], data: Float32Array): void {
    this.inits.push(tensor(name, dims, FLOAT, float32Bytes(data)));
  }

  initInt(name: string, dims: number[], data: number[]): void {
    const bytes = new Uint8Array(8 * data.length);
    const view = new DataView(bytes.buffer);
    data.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
    this.inits.push(tensor(name, dims, INT64, bytes));
  }

  input(name: string, type: number, dims: Dim[]): void {
    this.inputs.push(valueInfo(name, type, dims));
  }

  output(name: string, type: number, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  proto(name: string): ProtoWriter {
    const g = new ProtoWriter();
    for (const n of this.nodes) g.message(1, n);
    g.string(2, name);
    for (const t of this.inits) g.message(5, t);
    for (const i of this.inputs) g.message(11, i);
    for (const o of this.outputs) g.message(12, o);
    return g;
  }
}

/** TensorProto: dims (1), data_type (2), name (8), raw_data (9, little-endian). */
function tensor(name: string, dims: number[], type: number, raw: Uint8Array): ProtoWriter {
  return new ProtoWriter().ints(1, dims).int(2, type).string(8, name).bytes(9, raw);
}

/** ValueInfoProto: name, and TypeProto.tensor_type { elem_type, shape { dim { dim_value | dim_param } } }. */
function valueInfo(name: string, type: number, dims: Dim[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, type).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

/** AttributeProto of type INT. */
function intAttr(name: string, v: number): ProtoWriter {
  return new ProtoWriter().string(1, name).int(3, v).int(20, ATTR_INT);
}


function float32Bytes(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(4 * data.length);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  return bytes;
}

/** Gate blocks (rows of `block` numbers each) taken in `order`. */
function reorder(a: Float32Array, order: number[], block: number): Float32Array {
  const out = new Float32Array(a.length);
  order.forEach((from, k) => out.set(a.subarray(from * block, (from + 1) * block), k * block));
  return out;
}

/** out (cols, rows) = aᵀ for a (rows, cols). */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}
