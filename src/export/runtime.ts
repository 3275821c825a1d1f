/**
 * The runtime of an exported JS module (`charrnn export --format js`, src/export/js-module.ts):
 * it unpacks the weights, runs the network one character at a time and samples, and is what the
 * exported file's `generate`, `stream` and `createState` are.
 *
 * SELF-CONTAINED, on purpose: the exporter writes this function's own source text into the module
 * (Function.prototype.toString), so the file it makes has no imports and runs unchanged in Node, a
 * bundler and a browser. So inside charrnnRuntime nothing from outside its body may be named (no
 * import, no module-level constant) and no TypeScript that compiles to a helper may be used (no
 * enum, no parameter property); test/export-js.test.ts runs it from an empty folder.
 *
 * It is the reference arithmetic, repeated: the loops of the js backend on float32 arrays
 * (src/backend/js.ts gemmNN, lstmForward, gruForward, rnnForward, and src/model/ for the order of
 * the sums), the generator of src/rng.ts, and the draw of Sampler.pick (src/sample.ts,
 * src/backend/host.ts drawId and walk), so that with the same seed it writes what
 * `charrnn sample --backend js` writes, character for character. The tests hold the two to it:
 * any change to one of those is a change here too.
 *
 * The weights arrive packed (src/export/pack.ts): a text of 7 characters per 6 bytes (base 122 in
 * the ASCII characters a double-quoted string takes as they are), the bytes a bit stream of, per
 * weight, a canonical Huffman code of its sign and exponent and then its mantissa bits as they are.
 */

/** What the exporter passes along with the packed weights. */
export interface RuntimeMeta {
  type: 'rnn' | 'lstm' | 'gru';
  /** The vocabulary, as code points in id order. */
  vocab: number[];
  hidden: number;
  layers: number;
  /** 0 = one-hot input. */
  embed: number;
  /** Trained on items, one per line: samples start after a newline and end at the next. */
  lines: boolean;
  /** Weights packed as float16 (else float32). */
  half: boolean;
  /** Number of weights (the model's parameters). */
  count: number;
  /** Huffman code lengths of the weights' heads: [head, length, head, length, ...]. */
  codes: number[];
  /** Shown as `info`: the model and its training figures. */
  info: Record<string, unknown>;
}

/** The options of generate() and stream(). */
export interface RuntimeOptions {
  prime?: string;
  length?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stop?: string | string[];
  skipUnknown?: boolean;
}

export function charrnnRuntime(meta: RuntimeMeta, data: string) {
  const H = meta.hidden;
  const L = meta.layers;
  const E = meta.embed;
  const type = meta.type;
  const chars = meta.vocab.map((cp) => String.fromCodePoint(cp));
  const V = chars.length;
  const idOf = new Map(chars.map((ch, i) => [ch, i]));
  const NL = idOf.has('\n') ? idOf.get('\n')! : -1;
  const G = (type === 'lstm' ? 4 : type === 'gru' ? 3 : 1) * H;

  // ---- the weights: text → bytes → (Huffman head, mantissa) per weight → float32 ----
  function unpack(): Float32Array {
    const digit = new Int8Array(128).fill(-1);
    for (let c = 1, d = 0; c < 128; c++) if (c !== 10 && c !== 13 && c !== 34 && c !== 60 && c !== 92) digit[c] = d++;
    const bytes = new Uint8Array(Math.ceil(data.length / 7) * 6 + 4); // + 4: the bit reader's window may look past the end
    for (let i = 0, o = 0; i < data.length; i += 7, o += 6) {
      let v = 0; // 48 bits, exact in a double: 122^7 < 2^53
      for (let k = 6; k >= 0; k--) v = v * 122 + digit[data.charCodeAt(i + k)];
      const hi = Math.floor(v / 16777216);
      const lo = v - hi * 16777216;
      bytes[o] = hi >>> 16; bytes[o + 1] = (hi >>> 8) & 255; bytes[o + 2] = hi & 255;
      bytes[o + 3] = lo >>> 16; bytes[o + 4] = (lo >>> 8) & 255; bytes[o + 5] = lo & 255;
    }
    let pos = 0; // bit position, most significant bit of each byte first
    const peek = (n: number): number => {
      const b = pos >>> 3;
      const w = ((bytes[b] << 24) | (bytes[b + 1] << 16) | (bytes[b + 2] << 8) | bytes[b + 3]) >>> 0;
      return ((w << (pos & 7)) >>> 0) >>> (32 - n);
    };
    // canonical Huffman: codes in order of (length, head); a table over the next maxLen bits
    const lens: number[][] = [];
    let maxLen = 1;
    for (let i = 0; i < meta.codes.length; i += 2) {
      const len = meta.codes[i + 1];
      (lens[len] ??= []).push(meta.codes[i]);
      if (len > maxLen) maxLen = len;
    }
    const table = new Int32Array(1 << maxLen); // head | length << 16
    let code = 0;
    for (let len = 1; len <= maxLen; len++) {
      for (const head of (lens[len] ?? []).sort((a, b) => a - b)) {
        table.fill(head | (len << 16), code << (maxLen - len), (code + 1) << (maxLen - len));
        code++;
      }
      code <<= 1;
    }
    const tailBits = meta.half ? 10 : 23;
    const out = new Float32Array(meta.count);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < meta.count; i++) {
      const t = table[peek(maxLen)];
      pos += t >>> 16;
      const head = t & 0xffff;
      const tail = peek(tailBits);
      pos += tailBits;
      if (!meta.half) bits[i] = ((head << 23) | tail) >>> 0;
      else {
        const e = head & 31; // float16: sign, 5 exponent bits, 10 mantissa bits
        const v = e === 0 ? tail * 2 ** -24 : (1024 + tail) * 2 ** (e - 25);
        out[i] = head & 32 ? -v : v;
      }
    }
    return out;
  }

  // ---- the parameters, in the model's order and storage (src/model/model.ts paramSpecs) ----
  const w = unpack();
  let offset = 0;
  const take = (n: number): Float32Array => w.subarray(offset, (offset += n));
  const emb = E > 0 ? take(V * E) : null; // (V, E)
  const layer: { wih: Float32Array; whh: Float32Array; bih: Float32Array; bhh: Float32Array }[] = [];
  for (let l = 0; l < L; l++) {
    const In = l > 0 ? H : E > 0 ? E : V;
    layer.push({ wih: take(In * G), whh: take(H * G), bih: take(G), bhh: take(G) }); // (In, G), (H, G), (G), (G)
  }
  const wdec = take(H * V); // (H, V)
  const bdec = take(V); // (V)

  /** C (M, N) += A (M, K) B (K, N): js.ts gemmNN, four rows at a time, zero rows of A skipped; float32 sums. */
  function gemm(M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array): void {
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const c0 = i * N, c1 = c0 + N, c2 = c1 + N, c3 = c2 + N;
      for (let k = 0; k < K; k++) {
        const ak = i * K + k;
        const a0 = A[ak], a1 = A[ak + K], a2 = A[ak + 2 * K], a3 = A[ak + 3 * K];
        if (a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
        const bk = k * N;
        for (let j = 0; j < N; j++) {
          const b = B[bk + j];
          C[c0 + j] += a0 * b;
          C[c1 + j] += a1 * b;
          C[c2 + j] += a2 * b;
          C[c3 + j] += a3 * b;
        }
      }
    }
    for (; i < M; i++) {
      const ci = i * N;
      for (let k = 0; k < K; k++) {
        const a = A[i * K + k];
        if (a === 0) continue;
        const bk = k * N;
        for (let j = 0; j < N; j++) C[ci + j] += a * B[bk + j];
      }
    }
  }

  // layer 0 looks its input rows up: in W_ih (one-hot), or in the folded P = E W_ih (V, G)
  let rows0 = layer[0].wih;
  if (emb) {
    rows0 = new Float32Array(V * G);
    gemm(V, G, E, emb, layer[0].wih, rows0);
  }
  const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

  /** A network state (h, and c for an LSTM, per layer) and the scratch of one step. */
  function newNet() {
    const h = Array.from({ length: L }, () => new Float32Array(H));
    const hNext = Array.from({ length: L }, () => new Float32Array(H));
    const c = Array.from({ length: L }, () => new Float32Array(H));
    const cNext = Array.from({ length: L }, () => new Float32Array(H));
    const pre = new Float32Array(G); // pre-activations; for a GRU, gx
    const gh = new Float32Array(G); // GRU: h W_hh + b_hh
    const logits = new Float32Array(V);
    function reset(): void {
      for (let l = 0; l < L; l++) {
        h[l].fill(0);
        c[l].fill(0);
      }
    }
    /** One character in; afterwards `logits` hold the next character's scores. */
    function feed(id: number): void {
      for (let l = 0; l < L; l++) {
        const p = layer[l];
        const hp = h[l], hn = hNext[l];
        pre.set(p.bih);
        if (type !== 'gru') for (let j = 0; j < G; j++) pre[j] += p.bhh[j]; // the GRU keeps b_hh inside r ⊙ (h W_hn + b_hn)
        if (l === 0) for (let j = 0, r = id * G; j < G; j++) pre[j] += rows0[r + j];
        else gemm(1, G, H, h[l - 1], p.wih, pre); // the layer below's new state (already swapped in)
        if (type === 'rnn') {
          gemm(1, H, H, hp, p.whh, pre);
          for (let j = 0; j < H; j++) hn[j] = Math.tanh(pre[j]);
        } else if (type === 'lstm') {
          gemm(1, G, H, hp, p.whh, pre);
          const cp = c[l], cn = cNext[l];
          for (let j = 0; j < H; j++) {
            const i = sigmoid(pre[j]);
            const f = sigmoid(pre[H + j]);
            const g = Math.tanh(pre[2 * H + j]);
            const o = sigmoid(pre[3 * H + j]);
            const ct = f * cp[j] + i * g;
            cn[j] = ct;
            hn[j] = o * Math.tanh(ct);
          }
          c[l] = cn;
          cNext[l] = cp;
        } else {
          gh.set(p.bhh);
          gemm(1, G, H, hp, p.whh, gh);
          for (let j = 0; j < H; j++) {
            const r = sigmoid(pre[j] + gh[j]);
            const z = sigmoid(pre[H + j] + gh[H + j]);
            const n = Math.tanh(pre[2 * H + j] + r * gh[2 * H + j]);
            hn[j] = (1 - z) * n + z * hp[j];
          }
        }
        h[l] = hn;
        hNext[l] = hp;
      }
      logits.set(bdec);
      gemm(1, V, H, h[L - 1], wdec, logits);
    }
    return { reset, feed, logits };
  }

  /** xoshiro128** seeded through splitmix32 (src/rng.ts): next() is uniform in [0, 1). */
  function newRng(seed: number) {
    const s = new Uint32Array(4);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
    const rotl = (v: number, k: number): number => ((v << k) | (v >>> (32 - k))) >>> 0;
    return {
      next(): number {
        const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
        const t = s[1] << 9;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 11);
        return result / 4294967296;
      },
    };
  }

  const prob = new Float64Array(V); // pick's scratch
  const order = new Int32Array(V);
  /** The index where u runs out walking down prob (zeros skipped); the last nonzero one if round-off leaves u ≥ 0. */
  function walk(u: number): number {
    for (let i = 0; i < V; i++) {
      if (prob[i] === 0) continue;
      u -= prob[i];
      if (u < 0) return i;
    }
    for (let i = V - 1; i >= 0; i--) if (prob[i] > 0) return i;
    return 0;
  }
  /** Sampler.pick: argmax at temperature 0, else a draw from exp((z − max) / τ), among the top k / top p. */
  function pick(z: Float32Array, temperature: number, topK: number, topP: number, rng: { next(): number }): number {
    if (temperature === 0) {
      let best = 0;
      for (let i = 1; i < V; i++) if (z[i] > z[best]) best = i;
      return best;
    }
    const cut = (topK > 0 && topK < V) || topP < 1;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (z[i] > max) max = z[i];
    let sum = 0;
    for (let i = 0; i < V; i++) sum += prob[i] = Math.exp((z[i] - max) / temperature);
    if (!cut) return walk(rng.next() * sum);
    for (let i = 0; i < V; i++) order[i] = i;
    order.sort((a, b) => prob[b] - prob[a] || a - b);
    const k = topK > 0 ? Math.min(topK, V) : V;
    let kept = 0;
    let cum = 0;
    while (kept < k) {
      cum += prob[order[kept++]];
      if (cum >= topP * sum) break;
    }
    for (let r = kept; r < V; r++) prob[order[r]] = 0;
    return walk(rng.next() * cum);
  }

  function fail(msg: string): never {
    throw new Error(`charrnn: ${msg}`);
  }
  /** The options checked (src/sample.ts checkSampleOptions' rules) and defaulted as `charrnn sample` defaults them. */
  function options(o: RuntimeOptions) {
    const { prime = '', length = 500, temperature = 1, topK = 0, topP = 1, skipUnknown = false } = o ?? {};
    const seed = o?.seed ?? Math.floor(Math.random() * 4294967296);
    const stops = o?.stop === undefined ? [] : Array.isArray(o.stop) ? o.stop : [o.stop];
    if (typeof prime !== 'string') fail('prime must be text');
    if (!Number.isInteger(length) || length < 0 || length > 1e7) fail(`length must be a whole number ≥ 0 and ≤ 10000000 (got ${length})`);
    if (!(Number.isFinite(temperature) && temperature >= 0)) fail(`temperature must be ≥ 0 (got ${temperature}); 0 means always the most likely character`);
    if (!Number.isInteger(topK) || topK < 0) fail(`topK must be a whole number ≥ 0 (got ${topK}); 0 means no limit`);
    if (!(topP > 0 && topP <= 1)) fail(`topP must be in (0, 1] (got ${topP}); 1 means no limit`);
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= 4294967295)) fail(`seed must be a whole number from 0 to 2^32 − 1 (got ${seed})`);
    if (stops.some((s) => typeof s !== 'string' || s.length === 0)) fail('stop must be non-empty text, or a list of them');
    return { prime, length, temperature, topK, topP, seed, stops, skipUnknown };
  }

  /** Ids of a text; unknown characters fail, or are dropped with skipUnknown. */
  function idsOf(text: string, skipUnknown: boolean): number[] {
    const ids: number[] = [];
    for (const ch of text) {
      const id = idOf.get(ch);
      if (id !== undefined) ids.push(id);
      else if (!skipUnknown) fail(`${JSON.stringify(ch)} is not in the model's vocabulary; remove it from the prime or pass skipUnknown: true`);
    }
    return ids;
  }

  /**
   * The characters of one sample after the prime (src/generate.ts and Sampler.steps): from the
   * zero state fed the prime (a lines model: a newline, then the prime; no prime: a newline if
   * the vocabulary has one, else a random character); ends after `length` characters, right after
   * a stop sequence (which is part of the text), or at a lines model's newline (which is not).
   */
  function* sampleChars(o: RuntimeOptions): Generator<string, void, undefined> {
    const opt = options(o);
    const rng = newRng(opt.seed);
    const net = newNet();
    const prime = idsOf(opt.prime, opt.skipUnknown);
    if (meta.lines) prime.unshift(NL);
    if (prime.length === 0) prime.push(NL >= 0 ? NL : Math.floor(rng.next() * V));
    for (const id of prime) net.feed(id);
    let text = '';
    for (let n = 0; n < opt.length; n++) {
      const id = pick(net.logits, opt.temperature, opt.topK, opt.topP, rng);
      if (meta.lines && id === NL) return;
      text += chars[id];
      yield chars[id];
      if (opt.stops.some((s) => text.endsWith(s))) return;
      if (n + 1 < opt.length) net.feed(id);
    }
  }

  return {
    /** The model, its vocabulary and training figures. */
    info: { ...meta.info, vocab: chars.slice() },
    /** One sample (the characters after the prime), as `charrnn sample --backend js --seed S` prints it after the prime. */
    generate(o: RuntimeOptions = {}): string {
      let s = '';
      for (const ch of sampleChars(o)) s += ch;
      return s;
    },
    /** The same characters one at a time; gives the event loop a turn every 256 characters. */
    async *stream(o: RuntimeOptions = {}): AsyncGenerator<string, void, undefined> {
      let n = 0;
      for (const ch of sampleChars(o)) {
        yield ch;
        if (++n % 256 === 0) await new Promise((r) => setTimeout(r, 0));
      }
    },
    /**
     * A state to drive by hand: feed(char) returns the next character's probabilities
     * (softmax at temperature 1; index i is `info.vocab[i]`) and leaves the scores in `logits`.
     */
    createState() {
      const net = newNet();
      return {
        reset: net.reset,
        feed(ch: string | number): Float64Array {
          const id = typeof ch === 'number' ? ch : idOf.get(ch);
          if (id === undefined || !(id >= 0 && id < V && Number.isInteger(id))) fail(`${JSON.stringify(ch)} is not in the model's vocabulary`);
          net.feed(id);
          const z = net.logits;
          let max = -Infinity;
          for (let i = 0; i < V; i++) if (z[i] > max) max = z[i];
          const probs = new Float64Array(V);
          let sum = 0;
          for (let i = 0; i < V; i++) sum += probs[i] = Math.exp(z[i] - max);
          for (let i = 0; i < V; i++) probs[i] /= sum;
          return probs;
        },
        logits: net.logits,
      };
    },
  };
}
