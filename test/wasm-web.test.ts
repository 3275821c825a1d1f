/**
 * The browser build of the WebAssembly backend (src/backend/platform-web.ts) in a real headless
 * Chromium: on a cross-origin-isolated page it runs GEMMs on 2 threads (the caller and a Web
 * Worker over shared memory) and they equal the JS reference; on a page that is not isolated it
 * falls back to one thread on unshared memory and still computes the same. Skipped where
 * /usr/bin/chromium is missing.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser } from 'playwright-core';
import { launchChromium, noChromium } from './chromium.js';

// compiled file: dist/test/wasm-web.test.js -> the package root, whose dist/ and build/ are served
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

/** Serves dist/ and build/ of the package; the page is cross-origin isolated unless its URL has ?isolated=0. */
function serve(): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const isolation = url.searchParams.get('isolated') === '0' ? {} : { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    if (url.pathname === '/') {
      res.writeHead(200, { ...isolation, 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>wasm-web</title>');
      return;
    }
    const path = normalize(decodeURIComponent(url.pathname)).replace(/^\/+/, '');
    if (!/^(dist|build)\//.test(path)) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(ROOT, path)).then(
      (body) => res.writeHead(200, { ...isolation, 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

interface PageResult { isolated: boolean; threads: number; shared: boolean; relaxed: boolean; jobs: number; helped: number; maxErr: number; calls: number }

/** In the page: a wasm backend with 2 threads requested, several GEMMs big enough to split, each compared with JsBackend. */
async function gemmInPage(): Promise<PageResult> {
  const { createWebWasmBackend } = await import('/dist/src/backend/platform-web.js' as string) as typeof import('../src/backend/platform-web.js');
  const { JsBackend } = await import('/dist/src/backend/js.js' as string) as typeof import('../src/backend/js.js');
  const be = await createWebWasmBackend({ threads: 2 });
  const js = new JsBackend();
  const [M, N, K] = [101, 300, 256];
  const f32 = (n: number, fill: (i: number) => number): Float32Array => {
    const b = be.alloc(4 * n);
    const v = new Float32Array(b.buffer, b.byteOffset, n);
    for (let i = 0; i < n; i++) v[i] = fill(i);
    return v;
  };
  const A = f32(M * K, (i) => Math.sin(i) * 0.5);
  const B = f32(K * N, (i) => Math.cos(i * 1.3) * 0.5);
  const C = f32(M * N, () => 0);
  const want = new Float32Array(M * N);
  js.gemm(false, false, M, N, K, Float32Array.from(A), K, Float32Array.from(B), N, 0, want, N);
  let maxErr = 0;
  // The backend times serial and parallel runs of a shape before choosing, and a worker joins a
  // job only if it wakes in time: repeat until the worker has computed part of one (or give up).
  let calls = 0;
  for (; calls < 12 || (be.threads > 1 && be.poolStats.helped === 0 && calls < 400); calls++) {
    const r = calls;
    C.fill(r);
    be.gemm(false, false, M, N, K, A, K, B, N, 0, C, N);
    for (let i = 0; i < C.length; i++) maxErr = Math.max(maxErr, Math.abs(C[i] - want[i]));
  }
  const out = { isolated: crossOriginIsolated, threads: be.threads, shared: be.shared, relaxed: be.relaxed, jobs: be.poolStats.jobs, helped: be.poolStats.helped, maxErr, calls };
  be.dispose();
  return out;
}

test('wasm backend in Chromium: 2 threads on Web Workers when cross-origin isolated, 1 otherwise; GEMMs equal the JS reference', { skip: noChromium, timeout: 120_000 }, async () => {
  const server = await serve();
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let browser: Browser | null = null;
  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(base);
    const iso = await page.evaluate(gemmInPage);
    assert.equal(iso.isolated, true, 'the page is cross-origin isolated');
    assert.equal(iso.shared, true, 'shared memory');
    assert.equal(iso.threads, 2, 'two threads: the caller and one Web Worker');
    assert.ok(iso.helped > 0, 'the Web Worker computed part of some GEMMs');
    assert.ok(iso.maxErr < 1e-4, `max |wasm - js| ${iso.maxErr}`);

    await page.goto(`${base}?isolated=0`);
    const plain = await page.evaluate(gemmInPage);
    assert.equal(plain.isolated, false);
    assert.equal(plain.shared, false, 'no SharedArrayBuffer: unshared memory');
    assert.equal(plain.threads, 1);
    assert.ok(plain.maxErr < 1e-4, `max |wasm - js| ${plain.maxErr}`);
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    server.close();
  }
});
