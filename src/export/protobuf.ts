/**
 * The few Protocol Buffers encodings an ONNX file needs, written by hand (onnx.ts): varints
 * (wire type 0), length-delimited bytes, strings and nested messages (wire type 2), and packed
 * repeated varints. A message is built field by field in the order the caller writes them.
 */

export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.length;
  }

  private key(field: number, wire: number): void {
    this.push(varint(field * 8 + wire));
  }

  /** An int32/int64/enum field (negative numbers take ten bytes, as int64 does). */
  int(field: number, v: number): this {
    this.key(field, 0);
    this.push(varint(v));
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.push(varint(b.length));
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  /** A packed repeated int64 field. */
  ints(field: number, vs: readonly number[]): this {
    const body = new ProtoWriter();
    for (const v of vs) body.push(varint(v));
    return this.bytes(field, body.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** Base-128 varint of a whole number, negative ones as 64-bit two's complement. */
function varint(v: number): Uint8Array {
  if (!Number.isSafeInteger(v)) throw new Error(`protobuf: ${v} is not a whole number`);
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    const low = Number(x & 0x7fn);
    x >>= 7n;
    out.push(x > 0n ? low | 0x80 : low);
  } while (x > 0n);
  return Uint8Array.from(out);
}
