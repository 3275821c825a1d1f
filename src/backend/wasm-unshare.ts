/**
 * Where SharedArrayBuffer is unavailable (a browser page that is not cross-origin isolated), a
 * module that imports a *shared* memory cannot be instantiated. The kernels use no atomics, so
 * flipping the memory import's limits flag from "shared, with maximum" (0x03) to "with maximum"
 * (0x01) gives a valid single-threaded module. One byte changes; nothing moves.
 */
export function unshareMemoryImport(src: BufferSource): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(src.byteLength); // a copy: the caller's bytes stay as they are
  bytes.set(ArrayBuffer.isView(src) ? new Uint8Array(src.buffer, src.byteOffset, src.byteLength) : new Uint8Array(src));
  let pos = 8; // magic + version
  const leb = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[pos++];
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
      shift += 7;
    }
  };
  const skipName = (): void => {
    const n = leb();
    pos += n;
  };
  const skipLimits = (): void => {
    const flags = bytes[pos++];
    leb();
    if (flags & 1) leb();
  };
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = leb();
    const end = pos + size;
    if (id === 2) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        skipName();
        skipName();
        const kind = bytes[pos++];
        if (kind === 0) leb(); // function: type index
        else if (kind === 1) { pos++; skipLimits(); } // table: reftype, limits
        else if (kind === 2) { // memory
          if (bytes[pos] === 0x03) bytes[pos] = 0x01;
          skipLimits();
        } else if (kind === 3) pos += 2; // global: valtype, mutability
        else if (kind === 4) { pos++; leb(); } // tag
        else throw new Error(`unexpected import kind ${kind}`);
      }
      return bytes;
    }
    pos = end;
  }
  return bytes;
}
