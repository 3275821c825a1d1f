// Vite builds the playground into dist/web. COOP/COEP make the page cross-origin isolated, which
// is what enables SharedArrayBuffer and so the multi-threaded WebAssembly backend.
import { defineConfig } from 'vite';

const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  root: __dirname,
  base: './',
  build: { outDir: '../dist/web', emptyOutDir: true, target: 'es2022' },
  worker: { format: 'es' },
  server: { headers: isolation, fs: { allow: ['..'] } },
  preview: { headers: isolation },
  assetsInclude: ['**/*.txt', '**/*.wasm'],
});
