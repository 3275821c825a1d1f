/**
 * The free list both heaps place their blocks with (src/backend/free-list.ts), as offsets alone:
 * a freed block is reused (the best-fitting hole, split from its front), neighbouring holes
 * merge and a hole at the top goes back into it, a block that fits no hole comes from the top
 * once the caller's `fits` lets the memory reach it (a refusal changes nothing), and releasing a
 * block twice, or an offset never handed out, throws.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { FreeList } from '../src/backend/free-list.js';

test('free list: a freed block is reused, the best-fitting hole first', () => {
  const f = new FreeList(100);
  const [a, , b, c] = [10, 5, 30, 20, 5].map((n) => f.reserve(n)); // the 5s keep holes apart
  assert.deepEqual([a, b, c], [100, 115, 145], 'blocks from the top, one after the other from the start');
  f.release(b);
  f.release(c); // a hole of 20 right after b's hole of 30: they merge
  assert.equal(f.reserve(50), b, 'two neighbouring holes are one');
  f.release(b);
  assert.equal(f.reserve(200), 170, 'a block that fits no hole comes from the top');
  f.release(a);
  assert.equal(f.reserve(8), a, 'the hole of 10 fits 8 better than the hole of 50');
  assert.equal(f.reserve(20), b, 'split from the front of the larger hole');
  assert.equal(f.reserve(30), b + 20, 'and the rest of it');
  assert.equal(f.liveSize, 8 + 5 + 20 + 30 + 5 + 200);
});

test('free list: ties go to the lowest offset, and everything released goes back into the top', () => {
  const f = new FreeList();
  const blocks = [8, 4, 8, 4, 8].map((n) => f.reserve(n)); // 0, 8, 12, 20, 24
  f.release(blocks[2]);
  f.release(blocks[0]);
  assert.equal(f.reserve(8), blocks[0], 'of two holes of 8, the lower');
  for (const p of [blocks[0], blocks[1], blocks[3], blocks[4]]) f.release(p);
  assert.equal(f.liveSize, 0);
  assert.equal(f.top, 0, 'the holes merged with each other and with the top');
  assert.equal(f.reserve(1000), 0);
});

test('free list: growth at the top asks the caller, and a refusal changes nothing', () => {
  const f = new FreeList(64);
  let memory = 128;
  const asked: number[] = [];
  const grow = (end: number): boolean => {
    asked.push(end);
    if (end > 1000) return false;
    memory = Math.max(memory, end);
    return true;
  };
  assert.equal(f.reserve(32, grow), 64);
  assert.equal(f.reserve(256, grow), 96);
  assert.deepEqual(asked, [96, 352], 'asked for the end of each block from the top');
  assert.equal(memory, 352);
  assert.equal(f.reserve(2000, grow), -1, 'refused: past what the memory may reach');
  assert.equal(f.top, 352, 'a refused block takes nothing');
  f.release(64);
  asked.length = 0;
  assert.equal(f.reserve(16, grow), 64, 'from a hole: the memory is not asked');
  assert.deepEqual(asked, []);
});

test('free list: releasing a block twice, or an offset never handed out, throws', () => {
  const f = new FreeList(0, 'test heap');
  const a = f.reserve(16);
  const b = f.reserve(16);
  f.release(a);
  assert.throws(() => f.release(a), /test heap: free of 0, which is not an allocated block/);
  assert.throws(() => f.release(b + 1), /not an allocated block/);
  assert.throws(() => f.reserve(0), /a block of 0 units/);
  assert.equal(f.release(b), 16, 'release says the size it gave back');
  assert.equal(f.top, 0);
});
