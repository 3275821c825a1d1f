#!/usr/bin/env node
// Compile the AssemblyScript kernels (asm/) into build/kernels.wasm (SIMD) and
// build/kernels-relaxed.wasm (relaxed SIMD: fused multiply-add). Run by `npm run build`.
//
// The module imports its memory (env.memory), declared shared with a 4 GiB maximum, so the host
// can grow it while views made earlier stay valid, and worker threads can run kernels on the
// same memory. No runtime or GC (--runtime stub): the host owns all allocation. The compiler's
// own static data sits below 64 KiB, which the host keeps free (checked via heapBase()).
// `--force` rebuilds even when the outputs are newer than asm/.
//
// Both files are also copied to dist/build/: the compiled backends (dist/src/backend/) find them
// at ../../build/ just as the sources (src/backend/) find build/, so one literal
// `new URL('../../build/kernels.wasm', import.meta.url)` works from source, compiled and in a
// bundler (which copies only a URL it can see).
import asc from 'assemblyscript/asc';
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const common = [
  'asm/index.ts',
  '-O3', '--noAssert', '--converge',
  '--runtime', 'stub',
  '--use', 'abort=', // no env.abort import
  '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
  '--enable', 'simd', '--enable', 'threads',
  '--baseDir', root,
];
const variants = [
  { out: 'build/kernels.wasm', extra: [] },
  { out: 'build/kernels-relaxed.wasm', extra: ['--enable', 'relaxed-simd'] },
];

// Skip when both outputs are newer than every source (the build runs before every test run).
const mtime = async (f) => (await stat(path.join(root, f)).catch(() => null))?.mtimeMs ?? -1;
const sources = [...(await readdir(path.join(root, 'asm'))).map((f) => `asm/${f}`), 'scripts/build-wasm.mjs'];
const newest = Math.max(...(await Promise.all(sources.map(mtime))));
const outTimes = await Promise.all(variants.map((v) => mtime(v.out)));
if (!process.argv.includes('--force') && outTimes.every((t) => t > newest)) {
  console.log('build-wasm: up to date');
} else {
  await mkdir(path.join(root, 'build'), { recursive: true });
  for (const v of variants) {
    const { error, stderr } = await asc.main([...common, ...v.extra, '-o', v.out], {});
    if (error) {
      process.stderr.write(stderr.toString());
      console.error(`build-wasm: ${v.out} failed: ${error.message}`);
      process.exit(1);
    }
    console.log(`build-wasm: wrote ${v.out}`);
  }
}
await mkdir(path.join(root, 'dist', 'build'), { recursive: true });
for (const v of variants) await copyFile(path.join(root, v.out), path.join(root, 'dist', v.out));
