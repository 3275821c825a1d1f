/**
 * Our engine refuses, before reading it, a corpus whose ids it cannot hold (cli/corpus.ts
 * idsFitError), naming --engine torch. The limits are inputs, so no huge file is needed.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { idsFitError } from '../cli/corpus.js';

const GiB = 2 ** 30;

test('idsFitError: fits under both limits; over the typed-array length or half the memory, one line naming --engine torch', () => {
  assert.equal(idsFitError(1_000_000, { maxLength: 2 ** 32, totalMem: 16 * GiB }), null);
  assert.equal(idsFitError(8 * GiB, { maxLength: 2 ** 53, totalMem: 16 * GiB }), null); // exactly half
  const long = idsFitError(6 * GiB, { maxLength: 2 ** 32, totalMem: 64 * GiB })!;
  assert.match(long, /one array holds here \(4294967296\).*--engine torch/);
  const mem = idsFitError(9 * GiB, { maxLength: 2 ** 53, totalMem: 16 * GiB })!;
  assert.match(mem, /half this machine's memory \(8\.0 GiB\).*--engine torch/);
  for (const m of [long, mem]) assert.ok(!m.includes('\n'));
  // the defaults are this process's: a small corpus always fits
  assert.equal(idsFitError(1024), null);
});
