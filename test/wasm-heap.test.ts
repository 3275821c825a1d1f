/**
 * The WebAssembly backend's allocator (src/backend/wasm-heap.ts) on a bare WebAssembly.Memory:
 * blocks are 64-byte aligned and never overlap a live block, freed blocks are reused and merged
 * with their neighbours (and with the top), a repeated pattern of allocations stops growing the
 * memory, user blocks come zeroed, and a double free is refused. Then random programs of
 * allocations and frees (fast-check) keep every live block's contents intact.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WasmHeap, MAX_PAGES } from '../src/backend/wasm-heap.js';
import { RESERVED_BYTES } from '../src/backend/wasm-abi.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);

const newHeap = (): { heap: WasmHeap; memory: WebAssembly.Memory } => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  return { heap: new WasmHeap(memory, true), memory };
};

test('heap: aligned blocks, reuse of a freed block, merging with neighbours and the top', () => {
  const { heap } = newHeap();
  const a = heap.alloc(100);
  const b = heap.alloc(1);
  const c = heap.alloc(64);
  assert.equal(a, RESERVED_BYTES, 'the first block sits right after the reserved bytes');
  assert.equal(b, a + 128, '100 bytes take two cache lines');
  assert.equal(c, b + 64);
  for (const p of [a, b, c]) assert.equal(p % 64, 0);
  heap.free(b);
  assert.equal(heap.alloc(50), b, 'a freed block is handed out again');
  heap.free(b);
  heap.free(a); // merges with b's hole: 192 bytes free before c
  assert.equal(heap.alloc(192), a, 'two neighbouring holes are one');
  heap.free(a);
  const d = heap.alloc(4096); // does not fit the hole: from the top
  assert.equal(d, c + 64);
  heap.free(c); // c, between the hole and d: merges with the hole
  heap.free(d); // reaches the top with the hole: everything is free again
  assert.equal(heap.liveBytes, 0);
  assert.equal(heap.alloc(1 << 20), RESERVED_BYTES, 'all the holes went back into the top');
});

test('heap: the best-fitting hole is taken, and a repeated pattern stops growing the memory', () => {
  const { heap } = newHeap();
  const big = heap.alloc(4096);
  heap.alloc(64); // keeps the holes apart
  const small = heap.alloc(256);
  heap.alloc(64);
  heap.free(big);
  heap.free(small);
  assert.equal(heap.alloc(200), small, 'the smaller of two fitting holes');
  assert.equal(heap.alloc(1000), big, 'split from the front of a larger hole');
  assert.equal(heap.alloc(1000), big + 1024, 'and the rest of it');
  const grown: number[] = [];
  for (let round = 0; round < 50; round++) {
    const ps = [3 << 20, 5000, 1 << 16, 77].map((n) => heap.alloc(n));
    for (const p of ps.reverse()) heap.free(p);
    grown.push(heap.memoryBytes);
  }
  assert.equal(new Set(grown).size, 1, `memory grew after the first round: ${grown.join(', ')}`);
});

test('heap: user blocks come zeroed, and freeing a block twice (or a foreign pointer) throws', () => {
  const { heap, memory } = newHeap();
  const b = heap.block(256);
  assert.equal(b.byteLength, 256);
  new Uint8Array(memory.buffer, b.byteOffset, 256).fill(7);
  heap.free(b.byteOffset);
  const again = heap.block(200);
  assert.equal(again.byteOffset, b.byteOffset);
  assert.ok(new Uint8Array(memory.buffer, again.byteOffset, 256).every((x) => x === 0), 'a reused block is zeroed');
  heap.free(again.byteOffset);
  assert.throws(() => heap.free(again.byteOffset), /not an allocated block/);
  assert.throws(() => heap.free(RESERVED_BYTES + 64 * 1000), /not an allocated block/);
});

type Op = { kind: 'alloc'; bytes: number } | { kind: 'free'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('alloc' as const), bytes: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 20000 })) }),
  fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
);

test('heap: random allocations and frees never overlap a live block, and everything freed is one hole again', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
      const { heap, memory } = newHeap();
      const live: { p: number; size: number; tag: number }[] = [];
      let tag = 0;
      const bytes = (): Uint8Array => new Uint8Array(memory.buffer);
      for (const op of ops) {
        if (op.kind === 'alloc') {
          const p = heap.alloc(op.bytes);
          const size = Math.max(64, Math.ceil(op.bytes / 64) * 64);
          assert.equal(p % 64, 0);
          assert.ok(p >= RESERVED_BYTES && p + size <= memory.buffer.byteLength);
          for (const l of live) assert.ok(p + size <= l.p || l.p + l.size <= p, `block ${p}+${size} overlaps live ${l.p}+${l.size}`);
          tag = (tag % 250) + 1;
          bytes().fill(tag, p, p + size); // its owner's bytes: must survive everything that follows
          live.push({ p, size, tag });
        } else if (live.length > 0) {
          const [l] = live.splice(op.pick % live.length, 1);
          heap.free(l.p);
        }
      }
      const mem = bytes();
      for (const l of live) {
        for (let i = l.p; i < l.p + l.size; i++) if (mem[i] !== l.tag) assert.fail(`live block ${l.p} was overwritten at ${i}`);
      }
      assert.equal(heap.liveBytes, live.reduce((s, l) => s + l.size, 0));
      for (const l of live) heap.free(l.p);
      assert.equal(heap.liveBytes, 0);
      assert.equal(heap.alloc(64), RESERVED_BYTES, 'all holes merged back into the top');
    }),
    { numRuns: RUNS },
  );
});
